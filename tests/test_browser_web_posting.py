"""Issue 9 end to end in a real browser (Debian's Chromium, Playwright), against the real
`relais serve` and a real OpenID Connect provider (Debian's LemonLDAP::NG, see
tests/oidc_provider.py): a member signs in at the members' space, writes a topic with an
attachment; another member receives the copy through the SMTP sink and replies by mail to
the real gateway; the reply appears under the topic. axe-core checks the new pages;
screenshots at 1280 and 390 px wide go to test-artifacts/.

Select with `-m browser` (see tests/browser_support.py for when they are skipped).
"""

from __future__ import annotations

import email
import email.policy
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from browser_support import (  # noqa: F401
    BROWSER_TESTS,
    add_members,
    browser_page,
    pages_with_findings,
    send,
    serving,
    serving_config,
    shoot,
)
from conftest import free_port
from mailfactory import make_mail
from oidc_provider import CLIENT_ID, CLIENT_SECRET, USERS, Provider, provider_running
from storage.config import Config
from storage.db import session_scope
from storage.instance import initialise
from storage.models import OrganisationKind, Role, WebSession
from storage.people import MemberRow
from webtools import make_config, visibility  # noqa: F401

pytestmark = BROWSER_TESTS

ROSE, ALICE = USERS["rtyler"], "alice@example.org"


@pytest.fixture
def web_port() -> int:
    return free_port()


@pytest.fixture
def provider(tmp_path: Path, web_port: int) -> Iterator[Provider]:
    base = f"http://127.0.0.1:{web_port}"
    yield from provider_running(tmp_path / "lemonldap", free_port(), [base + "/sign-in/oidc/callback"], [base + "/"])


@pytest.fixture
def served(make_config, provider, web_port) -> Iterator[Config]:  # type: ignore[no-untyped-def]
    """`relais serve` in a thread, signing in with the provider; Rose (at the provider) and
    Alice (by mail only) are members."""
    config = serving_config(make_config, web_port,
                            oidc={"issuer": provider.issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                                  "organisation_claim": "organisation", "groups_claim": "groups"})
    add_members(config, [MemberRow(ROSE, "Rose Tyler", "Powell Estate", OrganisationKind.MEMBER, Role.MEMBER),
                         MemberRow(ALICE, "Alice Martin", "Eurométropole", OrganisationKind.MEMBER, Role.MEMBER)])
    with serving(config):
        yield config


def copy_for(sink, address: str, subject: str, timeout: float = 30) -> email.message.EmailMessage:  # type: ignore[no-untyped-def]
    def found() -> list[email.message.EmailMessage]:
        return [m for m in (email.message_from_bytes(raw, policy=email.policy.default)
                            for _from, rcpts, raw in sink.received if address in rcpts)
                if subject in str(m["Subject"])]
    with sink.arrived:
        assert sink.arrived.wait_for(found, timeout=timeout), f"no copy of “{subject}” reached {address}"
        return found()[-1]  # type: ignore[return-value]


def test_a_member_signs_in_at_the_members_space_writes_and_a_reply_by_mail_appears(
        served, provider, browser_page, sink, tmp_path):
    page, base = browser_page, f"http://127.0.0.1:{served.web.port}"
    audited: dict[str, object] = {}

    # The sign-in page offers the members' space first, the mailed link second.
    page.goto(base + "/sign-in")
    shoot(page, "sign-in-oidc", audited)
    page.get_by_role("button", name="Se connecter avec l'Espace membres").click()

    # At the members' space (LemonLDAP::NG's own login page), then back, signed in.
    page.locator("#userfield").fill("rtyler")
    page.locator("#passwordfield").fill("rtyler")
    page.locator("#lform button[type=submit]").click()
    page.get_by_text("Vous êtes connecté.").wait_for()
    assert page.url.startswith(base)

    # A new topic with an attachment.
    page.goto(base + "/topics/new")
    page.get_by_role("heading", level=1, name="Nouveau sujet").wait_for()
    page.get_by_label("Objet").fill("Obstacle : assurance maladie des frontaliers")
    page.get_by_label("Votre message").fill("Bonjour,\n\nLes caisses ne se coordonnent pas.\n")
    attachment = tmp_path / "formulaire-s1.txt"
    attachment.write_text("Formulaire S1.\n")
    page.get_by_label("Pièces jointes (facultatif)").set_input_files(str(attachment))
    page.get_by_role("button", name="Envoyer").click()
    page.get_by_text("Votre message est publié").wait_for()
    page.get_by_role("heading", level=1, name="Obstacle : assurance maladie des frontaliers").wait_for()
    assert page.get_by_role("link", name="formulaire-s1.txt").count() == 1
    topic_url = page.url.split("#")[0]

    # Alice receives the copy by mail, with the attachment, and answers it from her mail client.
    copy = copy_for(sink, ALICE, "Obstacle : assurance maladie des frontaliers")
    assert [part.get_filename() for part in copy.iter_attachments()] == ["formulaire-s1.txt"]
    reply = make_mail("Re: " + str(copy["Subject"]), message_id="alice-reply@example.org",
                      in_reply_to=str(copy["Message-ID"]).strip("<>"), to=str(copy["Reply-To"]),
                      body="Nous avons le même problème à Strasbourg.\n")
    send(served, reply, ALICE)

    # The reply appears under the topic: the page is opened again until it shows it.
    reply_text = "Nous avons le même problème à Strasbourg."
    deadline = time.monotonic() + 30
    page.goto(topic_url)
    while page.get_by_text(reply_text).count() == 0:
        assert time.monotonic() < deadline, f"the reply by mail never appeared:\n{page.locator('main').inner_text()}"
        threading.Event().wait(0.5)  # the gateway stores it and the indexing job reads its body
        page.reload()
    assert page.get_by_text("Alice Martin").count() >= 1
    shoot(page, "topic-with-mail-reply", audited)

    # My subscription lists where one is signed in.
    page.goto(base + "/account")
    page.get_by_role("heading", name="Où vous êtes connecté").wait_for()
    assert "avec l'Espace membres" in page.locator("main").inner_text()
    shoot(page, "account-sessions", audited)

    # A refused answer (a state this browser never sent) gets a page that says what to do.
    page.goto(base + "/sign-in/oidc/callback?state=forged&code=forged")
    page.get_by_role("heading", name="Connexion refusée").wait_for()
    shoot(page, "sign-in-refused", audited)

    # Signing out ends the session here and at the members' space, and comes back home.
    page.goto(base + "/")
    page.get_by_role("button", name="Se déconnecter").click()
    page.get_by_text("Vous êtes déconnecté.").wait_for()
    assert page.url.startswith(base + "/")
    engine = initialise(served)
    with session_scope(engine, readonly=True) as db:
        assert [s.revoked_at is not None for s in db.query(WebSession)] == [True]
    engine.dispose()
    page.goto(base + "/sign-in")
    page.get_by_role("button", name="Se connecter avec l'Espace membres").click()
    page.locator("#passwordfield").wait_for()  # the provider asks for the password again

    assert pages_with_findings(audited, "axe-oidc.json") == {}
