"""The German pages in a real browser (Debian's Chromium, Playwright) against the real `relais
serve`: a German-speaking member's browser gets the home, topic and account pages in German,
with `lang` attributes right, audited by axe-core as the French ones are; signing in keeps the
browser's language as the member's, and choosing one on /account keeps it.

Select with `-m browser` (see tests/browser_support.py for when they are skipped).
"""

from __future__ import annotations

import pytest

from browser_support import (  # noqa: F401
    ARTIFACTS,
    BROWSER_TESTS,
    chromium_page,
    pages_with_findings,
    send,
    serious_violations,
    served,
)
from mailfactory import make_mail
from storage.db import session_scope
from storage.instance import initialise
from storage.people import person_by_address
from webtools import link_in, mail_with_subject, make_config, visibility  # noqa: F401

pytestmark = BROWSER_TESTS


@pytest.fixture
def german_page(served):  # type: ignore[no-untyped-def]
    with chromium_page("de-DE") as page:
        yield page


def language_of(config, address: str) -> str | None:  # type: ignore[no-untyped-def]
    engine = initialise(config)
    with session_scope(engine, readonly=True) as db:
        found = person_by_address(db, address).language
    engine.dispose()
    return found


def test_a_german_speaking_member_reads_home_topic_and_account_in_german(served, german_page, sink):
    page, base = german_page, f"http://127.0.0.1:{served.web.port}"
    audited: dict[str, list[dict[str, object]]] = {}
    send(served, make_mail("Anerkennung von Pflegediplomen", message_id="de1@x",
                           body="Guten Tag,\n\nfranzösische Diplome werden nicht anerkannt.\n"), "alice@example.org")

    page.goto(base + "/")
    topic_link = page.get_by_role("link", name="Anerkennung von Pflegediplomen")
    topic_link.wait_for()
    assert page.locator("html").get_attribute("lang") == "de"
    page.get_by_role("heading", level=1, name="Neueste Themen").wait_for()
    # Each language's name is marked in its own language, for screen readers.
    assert page.locator(".languages [lang=fr]").inner_text() == "Français"
    page.screenshot(path=str(ARTIFACTS / "home-de.png"), full_page=True)
    audited["home"] = serious_violations(page)

    topic_link.click()
    page.get_by_role("heading", level=1, name="Anerkennung von Pflegediplomen").wait_for()
    page.get_by_role("link", name="Anmelden").first.click()
    page.get_by_label("Ihre E-Mail-Adresse").fill("alice@example.org")
    page.get_by_role("button", name="Mir einen Anmeldelink senden").click()
    page.get_by_role("heading", name="Sehen Sie in Ihr Postfach").wait_for()
    page.goto(link_in(mail_with_subject(sink, "alice@example.org", "Ihr Anmeldelink")))
    page.get_by_role("button", name="Anmelden").click()
    page.get_by_text("Sie sind angemeldet.").wait_for()
    page.locator("main").get_by_text("französische Diplome werden nicht anerkannt.").first.wait_for()
    assert page.locator("html").get_attribute("lang") == "de"
    page.screenshot(path=str(ARTIFACTS / "topic-de.png"), full_page=True)
    audited["topic"] = serious_violations(page)
    assert language_of(served, "alice@example.org") == "de"  # the browser's, until she chooses

    page.get_by_role("link", name="Mein Abonnement").click()
    page.get_by_role("heading", level=1, name="Mein Abonnement").wait_for()
    page.get_by_label("Die Sprache dieser Seiten").select_option("de")
    page.get_by_role("button", name="Meine Sprache speichern").click()
    page.get_by_role("heading", level=1, name="Mein Abonnement").wait_for()
    assert page.get_by_label("Die Sprache dieser Seiten").input_value() == "de"
    page.screenshot(path=str(ARTIFACTS / "account-de.png"), full_page=True)
    audited["account"] = serious_violations(page)

    assert pages_with_findings(audited, "axe-de.json") == {}
