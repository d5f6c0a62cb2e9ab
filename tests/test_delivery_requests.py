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


def test_help_is_answered_at_once_and_unknown_lines_are_not_echoed(members):
    [help_] = ask(members, "aide")
    assert "désabonner (unsubscribe)" in text_parts(help_)[0]
    # The sender proved nothing: their text never goes back (it could be spam for a stranger).
    [help_] = ask(members, "Gagnez 1000 euros", body="comment faire ? http://pills.example\n", n=2)
    text = text_parts(help_)[0]
    assert "2 ligne(s) de votre message n'ont pas été comprises" in text
    assert "euros" not in text and "pills.example" not in text and "euros" not in str(help_["Subject"])


def test_a_bad_argument_is_explained_by_the_command_name(members):
    [answer] = ask(members, "mode weekly")
    text = text_parts(answer)[0]
    assert "sans argument valable : mode)" in text and "weekly" not in text


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


def test_one_request_mail_gets_one_answer_naming_its_commands_without_echo(members):
    # A forged From: a stranger must not receive 30 mails, nor the attacker's text.
    body = "".join(f"follow {n}\n" for n in range(1, 31)) + "Achetez des pilules sur pills.example\n"
    [confirmation] = ask(members, "mode digest", body=body, sender="victim@elsewhere.example")
    text = text_parts(confirmation)[0]
    assert "mode digest" in text and "follow topic #1\n" in text and "follow topic #9\n" in text
    assert "pills" not in text and confirmation["In-Reply-To"] is None
    # One reply confirms them all (up to ten), answered once.
    members.member("victim@elsewhere.example", "Victime")
    [answer] = ask(members, f"Re: {confirmation['Subject']}", sender="victim@elsewhere.example", n=2)
    assert "one daily digest" in text_parts(answer)[0] and text_parts(answer)[0].count("There is no topic") == 9


def test_answers_to_one_address_are_limited_per_day(members):
    answers = [ask(members, "help", n=n, sender="victim@elsewhere.example") for n in range(1, 8)]
    assert [len(a) for a in answers] == [1, 1, 1, 1, 1, 0, 0]  # [moderation] answers_per_address_per_day = 5
    assert len(ask(members, "help", n=9)) == 1  # another address has its own allowance
