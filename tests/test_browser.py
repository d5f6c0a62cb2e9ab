"""End to end in a real browser: Debian's Chromium driven by Playwright, against the real
`relais serve` (gateway, web server, scheduler) started in-process on free ports, with a real
SMTP sink standing for the outgoing relay. axe-core (from the npm registry, installed by
`make browser-deps`) checks the pages for accessibility problems.

Select these tests with `-m browser`. They are skipped, saying why, only outside CI when
Chromium is not installed; in CI (CI=true) they always run, and fail if it is missing.
"""

from __future__ import annotations

import json
import os
import re
import smtplib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import FORUM, free_port
from mailfactory import make_mail
from relais.serve import serve
from storage.config import REPO_DIR, Config
from storage.db import session_scope
from storage.instance import initialise
from storage.models import DeliveryMode, OrganisationKind, Person, Role
from storage.people import MemberRow, upsert_member
from webtools import link_in, mail_with_subject, make_config, visibility  # noqa: F401

CHROMIUM = Path("/usr/bin/chromium")
AXE = REPO_DIR / "build" / "axe-core" / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = REPO_DIR / "test-artifacts"
IN_CI = os.environ.get("CI") == "true"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not IN_CI and not CHROMIUM.exists(),
                       reason="Debian's chromium is not installed (/usr/bin/chromium): run `make browser-deps`"),
    pytest.mark.parametrize("visibility", ["members"]),
]


def wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listening on port {port} after {timeout} s") from None
            threading.Event().wait(0.05)  # poll again shortly: the server is starting


@pytest.fixture
def served(make_config) -> Iterator[Config]:  # type: ignore[no-untyped-def]
    """`relais serve` itself, in a thread, until the test ends."""
    web_port = free_port()
    config = make_config(forum={"base_url": f"http://127.0.0.1:{web_port}"},
                         smtp={"host": "127.0.0.1", "port": free_port()},
                         web={"host": "127.0.0.1", "port": web_port},
                         delivery={"interval_seconds": 1})
    engine = initialise(config)
    with session_scope(engine) as db:
        for email, name, org, kind in (("alice@example.org", "Alice Martin", "Eurométropole", OrganisationKind.MEMBER),
                                       ("tess@example.eu", "Tess Team", "MOT", OrganisationKind.TEAM)):
            upsert_member(db, MemberRow(email, name, org, kind, Role.MEMBER), DeliveryMode.ALL)
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


@pytest.fixture
def browser_page(served: Config):  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(locale="fr-FR", viewport={"width": 1200, "height": 900})
        context.set_default_timeout(20_000)
        page = context.new_page()
        page.set_default_navigation_timeout(20_000)
        yield page
        context.close()
        browser.close()


def send(config: Config, raw: bytes, sender: str) -> None:
    with smtplib.SMTP("127.0.0.1", config.smtp.port, timeout=30) as client:
        client.sendmail(sender, [FORUM], raw)


def serious_violations(page) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    """axe-core's serious and critical findings against WCAG 2.1 A and AA on the open page."""
    if not AXE.exists():
        pytest.fail(f"axe-core is missing ({AXE}): run `make browser-deps`")
    page.evaluate(AXE.read_text())
    results = page.evaluate("""async () => await axe.run(document, {
        runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})""")
    return [{"id": v["id"], "impact": v["impact"], "help": v["help"],
             "targets": [n["target"] for n in v["nodes"]][:5]}
            for v in results["violations"] if v["impact"] in ("serious", "critical")]


def test_a_member_follows_a_mail_to_the_web_signs_in_and_changes_delivery(served, browser_page, sink):
    page, base = browser_page, f"http://127.0.0.1:{served.web.port}"
    ARTIFACTS.mkdir(exist_ok=True)
    audited: dict[str, list[dict[str, object]]] = {}

    # A message sent over SMTP appears on the home page and on its topic page.
    send(served, make_mail("Reconnaissance des diplômes d'infirmier", message_id="b1@x",
                           body="Bonjour,\n\nLes diplômes allemands ne sont pas reconnus.\n"), "alice@example.org")
    send(served, make_mail("Re: Reconnaissance des diplômes d'infirmier", message_id="b2@x", in_reply_to="b1@x",
                           sender="Tess Team <tess@example.eu>",
                           body="Nous regardons avec l'ARS.\n\nAlice a écrit :\n> Les diplômes allemands ne sont pas reconnus.\n"),
         "tess@example.eu")
    page.goto(base + "/")
    topic_link = page.get_by_role("link", name="Reconnaissance des diplômes d'infirmier")
    topic_link.wait_for()
    assert page.locator("html").get_attribute("lang") == "fr"
    page.screenshot(path=str(ARTIFACTS / "home.png"), full_page=True)
    audited["home"] = serious_violations(page)

    topic_link.click()
    page.get_by_role("heading", level=1, name="Reconnaissance des diplômes d'infirmier").wait_for()
    assert "réservé aux membres" in page.locator("main").inner_text()
    assert "Les diplômes allemands" not in page.content()

    # Sign in through the link mailed by the scheduler's delivery job to the sink.
    page.get_by_role("link", name="Se connecter").first.click()
    page.get_by_label("Votre adresse électronique").fill("alice@example.org")
    page.get_by_role("button", name="M'envoyer un lien de connexion").click()
    page.get_by_role("heading", name="Consultez votre messagerie").wait_for()
    sign_in_mail = mail_with_subject(sink, "alice@example.org", "Votre lien de connexion")
    page.goto(link_in(sign_in_mail))
    page.get_by_role("button", name="Se connecter").click()
    page.get_by_text("Vous êtes connecté.").wait_for()
    assert page.url.endswith("/topics/1")  # brought back where they were

    # Now the thread is readable, with the technical team's mark and the quote folded.
    main = page.locator("main")
    main.get_by_text("Les diplômes allemands ne sont pas reconnus.").first.wait_for()
    assert main.get_by_text("Équipe technique").count() == 1
    quote = main.locator("details").first
    assert not quote.evaluate("d => d.open")
    page.screenshot(path=str(ARTIFACTS / "topic.png"), full_page=True)
    audited["topic"] = serious_violations(page)

    search_link = page.get_by_role("link", name="Recherche")
    if search_link.count():
        search_link.first.click()
        page.wait_for_load_state()
        audited["search"] = serious_violations(page)

    # The member changes their delivery mode; the change is stored.
    page.get_by_role("link", name="Mon abonnement").click()
    page.get_by_role("heading", name="Mon abonnement").wait_for()
    audited["account"] = serious_violations(page)
    page.get_by_label("Résumé quotidien").check()
    page.get_by_role("button", name="Enregistrer mon choix").first.click()
    page.get_by_text("Votre choix est enregistré.").wait_for()
    assert page.get_by_label("Résumé quotidien").is_checked()
    page.screenshot(path=str(ARTIFACTS / "account.png"), full_page=True)
    engine = initialise(served)
    with session_scope(engine, readonly=True) as db:
        alice = db.query(Person).filter_by(name="Alice Martin").one()
        assert alice.subscription.mode is DeliveryMode.DIGEST
    engine.dispose()

    (ARTIFACTS / "axe.json").write_text(json.dumps(audited, indent=2, ensure_ascii=False))
    assert {name: found for name, found in audited.items() if found} == {}
    assert {"home", "topic", "account"} <= set(audited)


def test_the_pages_work_by_keyboard_and_on_a_narrow_screen(served, browser_page):
    page, base = browser_page, f"http://127.0.0.1:{served.web.port}"
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(base + "/help")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Aller au contenu")
    assert skip.evaluate("a => a === document.activeElement")
    outline = skip.evaluate("a => getComputedStyle(a).outlineStyle")
    assert outline != "none"  # the focus is visible
    page.keyboard.press("Enter")
    from playwright.sync_api import expect

    # Following the link is asynchronous: expect() waits (up to 5 s) for the URL to change.
    expect(page).to_have_url(re.compile(r"#content$"))
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"the help page scrolls sideways on a phone ({width} px)"
    page.screenshot(path=str(ARTIFACTS / "help-phone.png"), full_page=True)
    assert serious_violations(page) == []
