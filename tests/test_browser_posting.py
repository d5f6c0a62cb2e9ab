"""Writing on the web in a real browser (Debian's Chromium, Playwright) against the real
`relais serve`: a moderator signs in by the mailed link, opens a topic with an attachment
after a preview, meets the error of an empty form (announced, focused), replies quoting a
message, and reads the held queue; axe-core checks each page, screenshots at 1280 and 390
px wide go to test-artifacts/, and nothing scrolls sideways on a phone.

Select with `-m browser` (see tests/browser_support.py for when they are skipped).
"""

from __future__ import annotations

from browser_support import (  # noqa: F401
    BROWSER_TESTS,
    browser_page,
    pages_with_findings,
    send,
    served,
    shoot,
    sign_in_by_mailed_link,
)
from mailfactory import make_mail
from storage.db import session_scope
from storage.instance import initialise
from storage.models import Message, Person, Role
from webtools import make_config, visibility  # noqa: F401

pytestmark = BROWSER_TESTS


def test_a_member_writes_on_the_web(served, browser_page, sink, tmp_path):
    page, base = browser_page, f"http://127.0.0.1:{served.web.port}"
    audited: dict[str, object] = {}
    engine = initialise(served)
    with session_scope(engine) as db:
        db.query(Person).filter_by(name="Alice Martin").one().role = Role.MODERATOR
    send(served, make_mail("Question de la préfecture", message_id="held-1@prefecture.example.fr",
                           sender="Claire <claire@prefecture.example.fr>",
                           body="Bonjour,\n\nPouvons-nous rejoindre le réseau ?\n"), "claire@prefecture.example.fr")

    # A visitor is invited to sign in; the mailed link brings them to the new-topic form.
    page.goto(base + "/")
    page.get_by_role("link", name="Connectez-vous pour participer").click()
    sign_in_by_mailed_link(page, sink, "alice@example.org")
    page.get_by_role("heading", level=1, name="Nouveau sujet").wait_for()

    # An empty form is refused: the error is announced and the focus is on the field.
    page.get_by_role("button", name="Envoyer").click()
    page.get_by_role("alert").wait_for()
    assert page.evaluate("document.activeElement.id") == "subject"
    shoot(page, "posting-error", audited)

    # Preview, then send, with an attachment.
    page.get_by_label("Objet").fill("Obstacle : télétravail des frontaliers")
    page.get_by_label("Votre message").fill("Bonjour,\n\nLe détail : https://example.org/accord\n")
    attachment = tmp_path / "accord.txt"
    attachment.write_text("Accord de 2023.\n")
    page.get_by_label("Pièces jointes (facultatif)").set_input_files(str(attachment))
    page.get_by_role("button", name="Aperçu").click()
    page.get_by_role("heading", name="Aperçu").wait_for()
    assert page.get_by_role("link", name="https://example.org/accord").count() == 1
    assert "accord.txt" in page.locator("main").inner_text()
    shoot(page, "posting-new", audited)
    page.get_by_role("button", name="Envoyer").click()
    page.get_by_text("Votre message est publié").wait_for()
    page.get_by_role("heading", level=1, name="Obstacle : télétravail des frontaliers").wait_for()
    assert page.get_by_role("link", name="accord.txt").count() == 1

    # A reply quoting the message.
    page.get_by_role("link", name="Répondre").first.click()
    page.get_by_role("heading", level=1, name="Répondre à Alice Martin").wait_for()
    page.get_by_role("link", name="Citer ce message dans ma réponse").click()
    assert "> Le détail : https://example.org/accord" in page.get_by_label("Votre réponse").input_value()
    shoot(page, "posting-reply", audited)
    page.get_by_label("Votre réponse").press("Control+Home")
    page.get_by_label("Votre réponse").type("Une précision.\n\n")
    # Reply and close, the reply being the accepted answer: the topic shows a banner.
    page.get_by_label("Clore le sujet après cette réponse, avec la résolution").select_option("solution")
    page.get_by_label("Avec la résolution « solution trouvée », la réponse retenue est").select_option("mine")
    page.get_by_role("button", name="Envoyer").click()
    page.get_by_text("Votre message est publié").wait_for()
    with session_scope(engine, readonly=True) as db:
        assert db.query(Message).count() == 2
    page.get_by_role("link", name="Voir la réponse retenue").wait_for()
    assert "Ce sujet est clos." in page.locator("main").inner_text()
    shoot(page, "topic-closed", audited)

    # The moderator's held queue shows the held message's text.
    page.goto(base + "/moderation/held")
    page.get_by_text("Pouvons-nous rejoindre le réseau ?").wait_for()
    shoot(page, "moderation-held", audited)
    engine.dispose()

    assert pages_with_findings(audited, "axe-posting.json") == {}
