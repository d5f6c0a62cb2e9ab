"""End to end in a real browser: Debian's Chromium driven by Playwright, against the real
`relais serve` (gateway, web server, scheduler) started in-process on free ports, with a real
SMTP sink standing for the outgoing relay; axe-core checks the pages for accessibility
problems (the set-up is tests/browser_support.py's).

Select these tests with `-m browser`. They are skipped, saying why, only outside CI when
Chromium is not installed; in CI (CI=true) they always run, and fail if it is missing.
"""

from __future__ import annotations

import re

from browser_support import (  # noqa: F401
    ARTIFACTS,
    BROWSER_TESTS,
    browser_page,
    pages_with_findings,
    send,
    serious_violations,
    served,
    sign_in_by_mailed_link,
)
from mailfactory import make_mail
from storage.db import session_scope
from storage.instance import initialise
from storage.models import DeliveryMode, Person
from webtools import make_config, visibility  # noqa: F401


pytestmark = BROWSER_TESTS


def test_a_member_follows_a_mail_to_the_web_signs_in_and_changes_delivery(served, browser_page, sink):
    page, base = browser_page, f"http://127.0.0.1:{served.web.port}"
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
    sign_in_by_mailed_link(page, sink, "alice@example.org")
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

    assert pages_with_findings(audited, "axe.json") == {}
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
