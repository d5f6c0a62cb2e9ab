"""Held messages by mail: each moderator is notified with the commands that answer it, and a
reply to that notice (#approve / #reject, in English or French) decides it — an approved
message goes through the same steps as a post (threading, storing, delivery)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from mailfactory import make_mail
from moderation_support import MODERATOR, body_of, dkim_key, forum, instance  # noqa: F401
from storage.db import session_scope
from storage.models import Message

REQUEST = "forum-request@example.org"
STRANGER = "claire@prefecture.example.fr"


def hold_a_strangers_reply(forum) -> None:  # type: ignore[no-untyped-def]
    forum.open_topic()
    code, reply = forum.send(make_mail("Re: Obstacle", body="La préfecture peut aider.\n",
                                       message_id="s1@prefecture.example.fr", sender=f"Claire <{STRANGER}>",
                                       in_reply_to="obstacle-1@mairie.example.org"))
    assert code == 250 and "held" in reply


def answer_notice(forum, body: str, message_id: str = "d1@team.example.org", signed: bool = True) -> None:  # type: ignore[no-untyped-def]
    [notice] = forum.mail_to(MODERATOR, "held-moderator")
    reply = make_mail("Re: " + notice["Subject"], body=body, message_id=message_id,
                      sender=f"Modo <{MODERATOR}>", to=notice["From"].addresses[0].addr_spec,
                      in_reply_to=notice["Message-ID"].strip("<>"))
    forum.send(forum.dkim.sign(reply) if signed else reply, to=REQUEST)
    forum.run_jobs()


def test_moderators_are_notified_of_a_held_message_with_the_commands(forum):
    hold_a_strangers_reply(forum)
    [notice] = forum.mail_to(MODERATOR, "held-moderator")
    text = body_of(notice)
    assert STRANGER in text and "#approuver" in text and "#rejeter" in text and "#approve" in text
    assert "n'est pas membre" in text and "/moderation/held" in text
    assert notice["From"].addresses[0].addr_spec == REQUEST
    [told] = forum.mail_to(STRANGER, "held-notice")
    assert "en attente de modération" in told["Subject"]


@pytest.mark.parametrize("word", ["#approve", "#approuver", "#Approuver"])
def test_approving_by_mail_posts_the_message_into_its_topic(forum, tmp_path, word):
    hold_a_strangers_reply(forum)
    queued = forum.posts_queued()
    answer_notice(forum, f"{word}\n")
    with session_scope(forum.engine) as db:
        topics = set(db.scalars(select(Message.topic_id)))
        stored = db.scalar(select(Message).where(Message.message_id == "s1@prefecture.example.fr"))
        assert stored is not None and stored.parent_id is not None
    assert len(topics) == 1 and forum.posts_queued() == queued + 1
    [held] = forum.held()
    assert held.status.value == "approved"
    assert forum.log()[-1][:3] == ("approve", "Modo Team", "mail")
    assert "est publié" in body_of(forum.mail_to(MODERATOR, "command-answer")[-1])


@pytest.mark.parametrize("line, reason", [("#reject hors sujet", "hors sujet"),
                                          ("#rejeter  Hors   du champ du forum", "Hors du champ du forum"),
                                          ("#rejeter", "")])
def test_rejecting_by_mail_tells_the_sender_why(forum, line, reason):
    hold_a_strangers_reply(forum)
    answer_notice(forum, f"{line}\n")
    assert forum.count(Message) == 1
    [held] = forum.held()
    assert held.status.value == "rejected"
    [told] = forum.mail_to(STRANGER, "held-notice")[-1:]
    assert "n'a pas été publié" in told["Subject"]
    assert (f"Motif : {reason}" in body_of(told)) is bool(reason)
    assert forum.log()[-1][0] == "reject" and forum.log()[-1][4] == reason


def test_a_decision_without_authentication_waits_for_confirmation(forum):
    hold_a_strangers_reply(forum)
    answer_notice(forum, "#approuver\n", signed=False)
    assert forum.count(Message) == 1 and forum.held()[0].status.value == "pending"
    assert forum.mail_to(MODERATOR, "command-confirm")


def test_deciding_twice_is_answered_without_effect(forum):
    hold_a_strangers_reply(forum)
    answer_notice(forum, "#approve\n")
    [notice] = forum.mail_to(MODERATOR, "held-moderator")
    reply = make_mail("Re: again", body="#reject trop tard\n", message_id="d2@team.example.org",
                      sender=f"Modo <{MODERATOR}>", to=REQUEST, in_reply_to=notice["Message-ID"].strip("<>"))
    forum.send(forum.dkim.sign(reply), to=REQUEST)
    forum.run_jobs()
    assert forum.held()[0].status.value == "approved"
    assert "a déjà été publié" in body_of(forum.mail_to(MODERATOR, "command-answer")[-1])


def test_held_notices_to_a_sender_echo_nothing_and_are_limited_per_day(forum):
    # The From may be forged: the stranger it names gets no spam through Relais, and few mails.
    for n in range(7):
        forum.send(make_mail("Achetez des pilules", body="Sur pills.example, livraison gratuite.\n",
                             message_id=f"spam{n}@evil.example.net", sender=f"Claire <{STRANGER}>"))
    told = forum.mail_to(STRANGER, "held-notice")
    assert len(told) == 5  # [moderation] answers_per_address_per_day
    for notice in told:
        assert "pilules" not in str(notice["Subject"]) and "pilules" not in body_of(notice)
        assert "pills" not in body_of(notice) and notice["In-Reply-To"] is None
    assert len(forum.mail_to(MODERATOR, "held-moderator")) == 7  # moderators see every one


def test_a_rejection_tells_the_sender_without_echoing_their_subject(forum):
    hold_a_strangers_reply(forum)
    answer_notice(forum, "#rejeter hors sujet\n")
    [told] = forum.mail_to(STRANGER, "held-notice")[-1:]
    assert "Re: Obstacle" not in str(told["Subject"]) and "Re: Obstacle" not in body_of(told)
    assert "Motif : hors sujet" in body_of(told)
