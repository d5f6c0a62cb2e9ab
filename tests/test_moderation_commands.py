"""Moderators' commands by mail, end to end: a moderator's reply (DKIM-signed with the test's
key) goes through the real gateway, the commands job verifies and applies it, the topic
changes (as `relais topics show --json` prints it), an audit row is written and the moderator
is answered by mail."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from mailfactory import make_mail
from mailgateway.addresses import request_address, topic_address
from moderation_support import FORUM, MODERATOR, TRUSTED, body_of, dkim_key, forum, instance  # noqa: F401
from storage.db import session_scope
from storage.models import Category, CommandMail, Message

REQUEST = "forum-request@example.org"


@pytest.mark.parametrize("line, status, resolution", [
    ("#close solution", "closed", "solution"),
    ("#clore solution", "closed", "solution"),
    ("#close bat", "closed", "bat"),
    ("#clore BAT", "closed", "bat"),
    ("#close study", "closed", "study"),
    ("#clore étude", "closed", "study"),
    ("#close legal-impossibility", "closed", "legal-impossibility"),
    ("#Clôre Impossibilité-Juridique", "closed", "legal-impossibility"),
    ("#close escalated", "closed", "escalated"),
    ("#CLORE remonté", "closed", "escalated"),
])
def test_close_in_english_and_french_with_each_resolution(forum, tmp_path, line, status, resolution):
    topic_id = forum.open_topic()
    code, reply = forum.command(f"{line}\n")
    assert code == 250 and "Commands received" in reply
    forum.run_jobs()
    shown = forum.topic_json(topic_id, tmp_path)
    assert (shown["status"], shown["resolution"]) == (status, resolution)
    [answer] = forum.mail_to(MODERATOR, "command-answer")
    assert f"> {line}" in body_of(answer) and f"le sujet n° {topic_id}" in body_of(answer)
    assert "est clos" in body_of(answer)
    assert forum.log() == [("close", "Modo Team", "mail", "open", f"closed ({resolution})")]


@pytest.mark.parametrize("line", ["#reopen", "#rouvrir", "#Réouvrir"])
def test_reopen_in_english_and_french(forum, tmp_path, line):
    topic_id = forum.open_topic()
    forum.command("#close escalated\n", message_id="c1@team.example.org")
    forum.run_jobs()
    forum.command(f"{line}\n", message_id="c2@team.example.org")
    forum.run_jobs()
    shown = forum.topic_json(topic_id, tmp_path)
    assert (shown["status"], shown["resolution"]) == ("open", None)
    assert [row[0] for row in forum.log()] == ["close", "reopen"]
    assert forum.log()[1][3:] == ("closed (escalated)", "open")


@pytest.mark.parametrize("line", ["#category Emploi transfrontalier", "#catégorie Emploi transfrontalier",
                                  "#CATEGORIE  Emploi   transfrontalier"])
def test_category_is_created_on_first_use_then_reused(forum, tmp_path, line):
    first = forum.open_topic()
    second = forum.open_topic("Obstacle : fiscalité des frontaliers", "obstacle-2@mairie.example.org")
    forum.command(f"{line}\n", message_id="c1@team.example.org")
    forum.command("#categorie emploi TRANSFRONTALIER\n", message_id="c2@team.example.org",
                  in_reply_to="obstacle-2@mairie.example.org")
    forum.run_jobs()
    assert forum.topic_json(first, tmp_path)["category"] == "Emploi transfrontalier"
    assert forum.topic_json(second, tmp_path)["category"] == "Emploi transfrontalier"
    with session_scope(forum.engine) as db:
        assert [(c.name, c.slug) for c in db.scalars(select(Category))] == [
            ("Emploi transfrontalier", "emploi-transfrontalier")]
    answers = [body_of(m) for m in forum.mail_to(MODERATOR, "command-answer")]
    assert "(nouvelle catégorie)" in answers[0] and "(nouvelle catégorie)" not in answers[1]
    assert [row[0] for row in forum.log()] == ["category-create", "category", "category"]


def test_only_commands_are_not_posted_but_commands_with_text_are_posted_without_them(forum):
    topic_id = forum.open_topic()
    forum.command("#category Santé\n\n-- \nModo Team\nMOT\n", message_id="c1@team.example.org")
    assert forum.count(Message) == 1 and forum.posts_queued() == 1  # the first post only
    forum.command("#categorie Santé\n\nBonjour, je classe ce sujet : voici la règle applicable.\n",
                  message_id="c2@team.example.org")
    assert forum.count(Message) == 2 and forum.posts_queued() == 2
    with session_scope(forum.engine) as db:
        stored = db.scalar(select(Message).where(Message.message_id == "c2@team.example.org"))
        assert stored.topic_id == topic_id
        assert b"#categorie" not in stored.raw and b"voici la r=C3=A8gle applicable" in stored.raw


def test_a_moderators_new_topic_with_commands_is_categorised(forum, tmp_path):
    forum.command("#category Transports\nNouvel obstacle : les abonnements de bus ne sont pas reconnus.\n",
                  in_reply_to=None, message_id="new-1@team.example.org")
    forum.run_jobs()
    with session_scope(forum.engine) as db:
        topic_id = db.scalar(select(Message.topic_id).where(Message.message_id == "new-1@team.example.org"))
    assert forum.topic_json(topic_id, tmp_path)["category"] == "Transports"


def test_an_unauthenticated_command_waits_for_confirmation_by_reply(forum, tmp_path):
    topic_id = forum.open_topic()
    forum.command("#close solution\n", signed=False)
    forum.run_jobs()
    assert forum.topic_json(topic_id, tmp_path)["status"] == "open"
    assert forum.log() == []
    [request] = forum.mail_to(MODERATOR, "command-confirm")
    confirm_to = request["Reply-To"]
    assert confirm_to.startswith("forum-request+confirm.") and "/moderation/confirm/" in body_of(request)
    assert "#close solution" in body_of(request)
    # The moderator's mail client answers "Reply": to the Reply-To address.
    reply = make_mail("Re: " + request["Subject"], body="OK\n", message_id="ok-1@team.example.org",
                      sender=f"Modo <{MODERATOR}>", to=confirm_to, in_reply_to=request["Message-ID"].strip("<>"))
    assert forum.send(reply, to=confirm_to)[0] == 250
    forum.run_jobs()
    shown = forum.topic_json(topic_id, tmp_path)
    assert (shown["status"], shown["resolution"]) == ("closed", "solution")
    assert forum.log() == [("close", "Modo Team", "mail-confirmed", "open", "closed (solution)")]
    # Confirming twice does nothing more, and says so.
    forum.send(reply.replace(b"ok-1@", b"ok-2@"), to=confirm_to)
    forum.run_jobs()
    assert len(forum.log()) == 1
    assert "n'est plus valable" in body_of(forum.mail_to(MODERATOR, "command-answer")[-1])


def test_a_forged_confirmation_address_is_refused_at_rcpt(forum):
    code, reply = forum.send(make_mail(sender=f"Modo <{MODERATOR}>"), to="forum-request+confirm.1.aaaaaaaaaa@example.org")
    assert code == 550


@pytest.mark.parametrize("headers, applied", [
    ([f"Authentication-Results: {TRUSTED}; dkim=pass header.d=team.example.org"], True),
    ([f"Authentication-Results: {TRUSTED}; dmarc=pass header.from=team.example.org"], True),
    (["Authentication-Results: mx.evil.example.net; dkim=pass header.d=team.example.org"], False),
    ([f"Authentication-Results: {TRUSTED}; dkim=none",
      f"Authentication-Results: {TRUSTED}; dkim=pass header.d=team.example.org"], False),
])
def test_authentication_results_count_only_from_the_trusted_mta_on_top(forum, tmp_path, headers, applied):
    # Authentication-Results without a DKIM-Signature vouch for no header: the topic is the
    # one of the per-topic address the mail was sent to (its copy's Reply-To).
    topic_id = forum.open_topic()
    to = topic_address(forum.config, forum.gateway.instance.secret, topic_id)
    raw = make_mail("Re: Obstacle", body="#close solution\n", message_id="c1@team.example.org",
                    sender=f"Modo <{MODERATOR}>", to=to, in_reply_to="obstacle-1@mairie.example.org")
    raw = "".join(f"{h}\r\n" for h in headers).encode() + raw
    forum.send(raw, to=to)
    forum.run_jobs()
    assert (forum.topic_json(topic_id, tmp_path)["status"] == "closed") is applied
    assert bool(forum.mail_to(MODERATOR, "command-confirm")) is not applied


def test_commands_to_the_request_address_name_their_topic(forum, tmp_path):
    topic_id = forum.open_topic()
    raw = make_mail("Classement", body=f"#sujet {topic_id}\n#catégorie Formation\n#clore bat\n",
                    message_id="r1@team.example.org", sender=f"Modo <{MODERATOR}>", to=REQUEST)
    forum.send(forum.dkim.sign(raw), to=REQUEST)
    forum.run_jobs()
    shown = forum.topic_json(topic_id, tmp_path)
    assert (shown["status"], shown["resolution"], shown["category"]) == ("closed", "bat", "Formation")
    answer = body_of(forum.mail_to(MODERATOR, "command-answer")[0])
    assert answer.count("Fait") == 2 and "portent sur le sujet" in answer


def test_unknown_commands_topics_and_resolutions_are_answered(forum):
    forum.open_topic()
    forum.command("#fermer solution\n#clore peut-être\n#categorie\n", message_id="c1@team.example.org")
    raw = make_mail("Classement", body="#sujet 999\n#clore solution\n", message_id="r1@team.example.org",
                    sender=f"Modo <{MODERATOR}>", to=REQUEST)
    forum.send(forum.dkim.sign(raw), to=REQUEST)
    forum.run_jobs()
    first, second = (body_of(m) for m in forum.mail_to(MODERATOR, "command-answer"))
    assert "Commande inconnue" in first and "« peut-être » n'est pas une résolution" in first
    assert "indiquez le nom de la catégorie" in first
    assert second.count("aucun sujet n° 999") == 2
    assert forum.log() == []


def test_a_member_cannot_command_and_is_told_so(forum, tmp_path):
    topic_id = forum.open_topic()
    # In a post, a member's "#close" line is just text: their body is not even read for commands.
    forum.send(make_mail("Re: Obstacle", body="#close solution\nMerci !\n", message_id="m1@example.org",
                         sender="Bob <bob@example.org>", in_reply_to="obstacle-1@mairie.example.org"))
    # To the request address, they are told that commands are for moderators.
    forum.send(make_mail("Fermer", body="#close solution\n", message_id="m2@example.org",
                         sender="Bob <bob@example.org>", to=REQUEST, in_reply_to="obstacle-1@mairie.example.org"),
               to=REQUEST)
    forum.run_jobs()
    assert forum.topic_json(topic_id, tmp_path)["status"] == "open"
    assert forum.count(CommandMail) == 0 and forum.count(Message) == 2
    [answer] = forum.mail_to("bob@example.org", "command-answer")
    assert "réservées aux modérateurs" in body_of(answer)


def test_a_reply_to_a_closed_topic_is_held_and_its_sender_told(forum, tmp_path):
    topic_id = forum.open_topic()
    forum.command("#close solution\n")
    forum.run_jobs()
    queued = forum.posts_queued()
    code, reply = forum.send(make_mail("Re: Obstacle", body="Encore une question.\n", message_id="late@example.org",
                                       sender="Bob <bob@example.org>", in_reply_to="obstacle-1@mairie.example.org"))
    assert code == 250 and "the topic is closed" in reply
    assert forum.posts_queued() == queued and forum.count(Message) == 1
    [held] = forum.held()
    assert (held.reason, held.topic_hint) == ("topic closed", topic_id)
    [told] = forum.mail_to("bob@example.org", "held-notice")
    assert "a été clos" in body_of(told) and f"/topics/{topic_id}" in body_of(told)
    assert "Encore une question" not in body_of(told) and "Re: Obstacle" not in str(told["Subject"])
    assert FORUM in body_of(told)  # how to open a new topic
    [notice] = forum.mail_to(MODERATOR, "held-moderator")
    assert "réponse à un sujet clos" in body_of(notice) and "#approuver" in body_of(notice)
    assert request_address(forum.config) in notice["From"]
