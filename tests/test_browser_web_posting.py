"""Issue 9 end to end in a real browser (Debian's Chromium, Playwright), against the real
`relais serve` and a real OpenID Connect provider (Debian's LemonLDAP::NG, see
tests/oidc_provider.py): a member signs in at the members' space, writes a topic with an
attachment; another member receives the copy through the SMTP sink and replies by mail to
the real gateway; the reply appears under the topic. axe-core checks the new pages;
screenshots at 1280 and 390 px wide go to test-artifacts/.

Select with `-m browser` (see tests/test_browser.py for when they are skipped).
"""

from __future__ import annotations

import email
import email.policy
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import FORUM, free_port
from mailfactory import make_mail
from oidc_provider import CLIENT_ID, CLIENT_SECRET, USERS, Provider, provider_running
from relais.serve import serve
from storage.config import Config
from storage.db import session_scope
from storage.instance import initialise
from storage.models import DeliveryMode, OrganisationKind, Role, WebSession
from storage.people import MemberRow, upsert_member
from test_browser import ARTIFACTS, CHROMIUM, IN_CI, browser_page, send, serious_violations, wait_for_port  # noqa: F401
from webtools import make_config, visibility  # noqa: F401

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not IN_CI and not CHROMIUM.exists(),
                       reason="Debian's chromium is not installed (/usr/bin/chromium): run `make browser-deps`"),
    pytest.mark.parametrize("visibility", ["members"]),
]

WIDE, PHONE = 1280, 390
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
    config = make_config(forum={"base_url": f"http://127.0.0.1:{web_port}"},
                         smtp={"host": "127.0.0.1", "port": free_port()},
                         web={"host": "127.0.0.1", "port": web_port},
                         delivery={"interval_seconds": 1},
                         oidc={"issuer": provider.issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                               "organisation_claim": "organisation", "groups_claim": "groups"})
    engine = initialise(config)
    with session_scope(engine) as db:
        for address, name, organisation in ((ROSE, "Rose Tyler", "Powell Estate"),
                                            (ALICE, "Alice Martin", "Eurométropole")):
            upsert_member(db, MemberRow(address, name, organisation, OrganisationKind.MEMBER, Role.MEMBER),
                          DeliveryMode.ALL)
    engine.dispose()
    stop = threading.Event()
    thread = threading.Thread(target=serve, args=(config, stop), name="relais-serve")
    thread.start()
    try:
        wait_for_port(config.web.port)
        wait_for_port(config.smtp.port)
        yield config
    finally:
        stop.set()
        thread.join(timeout=60)


def shoot(page, name: str, audited: dict[str, object]) -> None:  # type: ignore[no-untyped-def]
    """Screenshots at both widths, the axe-core audit, and no sideways scrolling on a phone."""
    for width in (WIDE, PHONE):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= PHONE, f"{name} scrolls sideways at {PHONE} px ({scroll} px)"
    audited[name] = serious_violations(page)
    page.set_viewport_size({"width": WIDE, "height": 900})


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
    ARTIFACTS.mkdir(exist_ok=True)
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

    (ARTIFACTS / "axe-oidc.json").write_text(json.dumps(audited, indent=2, ensure_ascii=False))
    assert {name: found for name, found in audited.items() if found} == {}
