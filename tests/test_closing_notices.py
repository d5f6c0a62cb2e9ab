"""Closing is visible: when a topic is closed or reopened — by a mail command or on the web —
the people who wrote in it and those who follow it receive a short mail with the
resolution, and a `#close solution` sent in reply to a message marks that message as the
accepted answer, linked from the topic's banner and from the topic list."""

from __future__ import annotations

from sqlalchemy import select

from archive_web import create_app
from mailfactory import make_mail
from moderation_support import MODERATOR, body_of, dkim_key, forum, instance  # noqa: F401
from storage.db import session_scope
from storage.models import FollowLevel, Message, Topic
from storage.subscriptions import set_topic_follow
from webtools import sign_in, submit, text_of

CAROL, DAVE = "carol@example.org", "dave@example.org"


def discussion(forum) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """Alice opens a topic, Bob answers it, Dave answers too but then mutes it, Carol follows
    it without writing; (topic id, Bob's message pk)."""
    forum.member(CAROL, "Carol Klein")
    forum.member(DAVE, "Dave Roth")
    topic_id = forum.open_topic()
    for sender, message_id in (("Bob Weber <bob@example.org>", "bob-1@example.org"),
                               (f"Dave Roth <{DAVE}>", "dave-1@example.org")):
        code, _ = forum.send(make_mail("Re: Obstacle", body="Une piste.\n", message_id=message_id, sender=sender,
                                       in_reply_to="obstacle-1@mairie.example.org",
                                       references=["obstacle-1@mairie.example.org"]))
        assert code == 250
    carol, dave = forum.person_id(CAROL), forum.person_id(DAVE)
    with session_scope(forum.engine) as db:
        set_topic_follow(db, carol, topic_id, FollowLevel.FOLLOW)
        set_topic_follow(db, dave, topic_id, FollowLevel.MUTE)
        bobs = db.scalar(select(Message.id).where(Message.message_id == "bob-1@example.org"))
    return topic_id, bobs


def told(forum) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    """Who received a closing or reopening notice, with each notice's subject."""
    return {address: [str(m["Subject"]) for m in forum.mail_to(address, "topic-status")]
            for address in ("alice@example.org", "bob@example.org", CAROL, DAVE, MODERATOR)}


def test_close_solution_in_reply_to_a_message_marks_it_and_tells_writers_and_followers(forum):
    topic_id, bobs = discussion(forum)
    code, _ = forum.command("#close solution\n\nMerci Bob.\n", in_reply_to="bob-1@example.org")
    assert code == 250
    forum.run_jobs()
    with session_scope(forum.engine) as db:
        assert db.get(Topic, topic_id).answer_message_id == bobs
    subject = "Sujet clos : Obstacle : reconnaissance des diplômes"
    assert told(forum) == {"alice@example.org": [subject], "bob@example.org": [subject], CAROL: [subject],
                           DAVE: [], MODERATOR: []}
    [notice] = forum.mail_to(CAROL, "topic-status")
    body = body_of(notice)
    assert "Résolution : solution trouvée" in body
    assert f"La réponse retenue : http://forum.example.org/messages/{bobs}" in body
    assert f"http://forum.example.org/topics/{topic_id}" in body

    client = create_app(forum.config, forum.engine).test_client()
    sign_in(client, forum.gateway.instance, forum.sink, CAROL)
    banner = client.get(f"/topics/{topic_id}")
    assert "Ce sujet est clos. Résolution : solution trouvée. Voir la réponse retenue" in text_of(banner)
    assert f'href="/messages/{bobs}">Voir la réponse retenue' in banner.get_data(as_text=True)
    assert f'href="/messages/{bobs}">voir la réponse' in client.get("/").get_data(as_text=True)


def test_reopening_tells_them_again_and_clears_the_answer(forum):
    topic_id, _bobs = discussion(forum)
    forum.command("#close solution\n", in_reply_to="bob-1@example.org", message_id="c1@team.example.org")
    forum.run_jobs()
    forum.command("#close solution\n", in_reply_to="bob-1@example.org", message_id="c2@team.example.org")
    forum.run_jobs()  # closed again the same way: nothing new to tell
    forum.command("#rouvrir\n", message_id="c3@team.example.org")
    forum.run_jobs()
    with session_scope(forum.engine) as db:
        topic = db.get(Topic, topic_id)
        assert (topic.status.value, topic.resolution, topic.answer_message_id) == ("open", None, None)
    assert told(forum)["bob@example.org"] == ["Sujet clos : Obstacle : reconnaissance des diplômes",
                                              "Sujet rouvert : Obstacle : reconnaissance des diplômes"]
    assert "vous pouvez de nouveau y répondre" in body_of(forum.mail_to(CAROL, "topic-status")[-1])


def test_closing_on_the_web_sends_the_same_notices(forum):
    topic_id, bobs = discussion(forum)
    client = create_app(forum.config, forum.engine).test_client()
    sign_in(client, forum.gateway.instance, forum.sink, MODERATOR)
    page = f"/moderation/topics/{topic_id}"
    submit(client, page, f"{page}/status", resolution="solution", answer=str(bobs))
    with session_scope(forum.engine) as db:
        assert db.get(Topic, topic_id).answer_message_id == bobs
    subject = "Sujet clos : Obstacle : reconnaissance des diplômes"
    assert told(forum) == {"alice@example.org": [subject], "bob@example.org": [subject], CAROL: [subject],
                           DAVE: [], MODERATOR: []}
    submit(client, page, f"{page}/status", resolution="escalated")
    with session_scope(forum.engine) as db:
        assert db.get(Topic, topic_id).answer_message_id is None  # no answer without a solution
    assert "Résolution : remonté" in body_of(forum.mail_to(CAROL, "topic-status")[-1])


def test_the_opening_message_is_never_its_own_answer(forum):
    topic_id, _bobs = discussion(forum)
    forum.command("#close solution\n", in_reply_to="obstacle-1@mairie.example.org")
    forum.run_jobs()
    with session_scope(forum.engine) as db:
        topic = db.get(Topic, topic_id)
        assert (topic.resolution.value, topic.answer_message_id) == ("solution", None)
    assert "La réponse retenue" not in body_of(forum.mail_to(CAROL, "topic-status")[-1])
