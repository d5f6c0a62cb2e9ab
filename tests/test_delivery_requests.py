"""Mail commands to <local>-request@, in French and English: each change is made only after
a confirmation round-trip to the address concerned, and answered with a clear message;
help needs none; mail from machines is never answered."""

from __future__ import annotations

import pytest

from delivery_support import *  # noqa: F401,F403 (fixtures)
from delivery_support import text_parts
from mailfactory import make_mail
from mailgateway.delivery import deliver_due
from mailgateway.requests import process_requests
from storage.models import DeliveryMode

REQUEST = "forum-request@example.org"


@pytest.fixture
def members(forum):  # type: ignore[no-untyped-def]
    forum.bob = forum.member("bob@example.org", "Bob Weber")
    return forum


def ask(forum, subject: str, body: str = "\n", sender: str = "bob@example.org", n: int = 1, **headers: str):  # type: ignore[no-untyped-def]
    """Mail -request@, run the request job and the outgoing queue; the answers `sender` got."""
    before = len(forum.copies_to(sender))
    assert forum.post(make_mail(subject, body=body, sender=sender, message_id=f"req{n}.{subject[:8].strip()}@x",
                                to=REQUEST, **headers), mail_from=sender if "Auto_Submitted" not in headers else "",
                      to=REQUEST)[0] == 250
    process_requests(forum.engine, forum.config)
    deliver_due(forum.engine, forum.config)
    return forum.copies_to(sender)[before:]


def test_unsubscribe_by_mail_waits_for_the_confirmation_then_answers(members):
    [confirmation] = ask(members, "unsubscribe")
    assert confirmation["Subject"].startswith("confirm ")
    assert "unsubscribe" in text_parts(confirmation)[0] and "reply" in text_parts(confirmation)[0]
    assert members.subscription(members.bob).mode is DeliveryMode.ALL  # nothing done yet
    [answer] = ask(members, f"Re: {confirmation['Subject']}", body="> quoted text\n", n=2)
    assert "You are unsubscribed" in text_parts(answer)[0]
    assert members.subscription(members.bob).mode is DeliveryMode.NONE
    # The same confirmation again does nothing more and is not answered.
    assert ask(members, f"Re: {confirmation['Subject']}", n=3) == []


def test_french_words_get_french_answers_and_mode_changes(members):
    [confirmation] = ask(members, "", body="Bonjour,\nmode résumé\nMerci\n")
    assert "Pour la confirmer, répondez simplement" in text_parts(confirmation)[0]
    [answer] = ask(members, f"RE: {confirmation['Subject']}", n=2)
    assert "un résumé quotidien" in text_parts(answer)[0]
    assert members.subscription(members.bob).mode is DeliveryMode.DIGEST
    [confirmation] = ask(members, "abonner", n=3)
    ask(members, confirmation["Subject"], n=4)
    assert members.subscription(members.bob).mode is DeliveryMode.DIGEST  # already subscribed: mode kept


def test_help_is_answered_at_once_and_unknown_lines_are_quoted(members):
    [help_] = ask(members, "aide")
    assert "désabonner (unsubscribe)" in text_parts(help_)[0]
    [help_] = ask(members, "question", body="comment faire ?\n", n=2)
    assert "comment faire ?" in text_parts(help_)[0] and "question" in text_parts(help_)[0]


def test_a_bad_argument_is_explained(members):
    [answer] = ask(members, "mode weekly")
    assert "Cette commande n'a pas été comprise : « mode weekly »" in text_parts(answer)[0]


def test_a_forged_confirmation_changes_nothing(members):
    assert ask(members, "confirm Mg.forged.token") == []
    assert members.subscription(members.bob).mode is DeliveryMode.ALL


def test_subscribing_is_for_members_only(members):
    [confirmation] = ask(members, "subscribe", sender="stranger@elsewhere.example")
    [answer] = ask(members, confirmation["Subject"], sender="stranger@elsewhere.example", n=2)
    assert "is not a member's" in text_parts(answer)[0]


def test_mail_from_machines_is_never_answered(members):
    assert ask(members, "Out of office", Auto_Submitted="auto-replied") == []
    assert ask(members, "unsubscribe", n=2, Precedence="bulk") == []
