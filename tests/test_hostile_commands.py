"""Moderators' command mails against an attacker who holds one genuine signed command mail:
headers added on top of it redirect nothing (a command acts only on what the signature
covers, or on the per-topic address), and the same signed mail acts once however it is
replayed. And command mails in 8-bit without a declared charset read as posts do."""

from __future__ import annotations

import dkim
import pytest

from mailfactory import make_mail
from mailgateway.addresses import topic_address
from mailgateway.commands_moderation import process_command_mails
from mailgateway.requests import process_requests
from moderation_support import MODERATOR, SELECTOR, TRUSTED, body_of, dkim_key, forum, instance  # noqa: F401

REQUEST = "forum-request@example.org"
STRANGER = "claire@prefecture.example.fr"
SECOND = "obstacle-2@mairie.example.org"


def on_top(raw: bytes, *lines: str) -> bytes:
    """Headers an attacker adds above a signed mail: its signature still verifies."""
    return "".join(f"{line}\r\n" for line in lines).encode() + raw


def close_first_topic(forum, **headers: str) -> bytes:  # type: ignore[no-untyped-def]
    """The moderator's genuine signed `#close solution`, in reply to the first topic."""
    return forum.dkim.sign(make_mail(
        "Re: Obstacle", body="#close solution\n", message_id="c1@team.example.org",
        sender=f"Modo Team <{MODERATOR}>", in_reply_to="obstacle-1@mairie.example.org",
        references=["obstacle-1@mairie.example.org"], **headers))


@pytest.fixture
def two_topics(forum):  # type: ignore[no-untyped-def]
    forum.first = forum.open_topic()
    forum.second = forum.open_topic("Obstacle : fiscalité des frontaliers", SECOND)
    return forum


def statuses(forum, tmp_path) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    return (forum.topic_json(forum.first, tmp_path)["status"], forum.topic_json(forum.second, tmp_path)["status"])


def test_threading_headers_added_on_top_do_not_redirect_a_signed_command(two_topics, tmp_path):
    forged = on_top(close_first_topic(two_topics), f"In-Reply-To: <{SECOND}>", f"References: <{SECOND}>")
    assert two_topics.send(forged)[0] == 250
    two_topics.run_jobs()
    assert statuses(two_topics, tmp_path) == ("closed", "open")


def test_a_notice_id_added_on_top_does_not_approve_another_held_message(forum):
    forum.open_topic()
    for n, subject in ((1, "Question de la préfecture"), (2, "Achetez nos pilules")):
        forum.send(make_mail(subject, body="Bonjour.\n", message_id=f"s{n}@prefecture.example.fr",
                             sender=f"Claire <{STRANGER}>"))
    genuine, spam = forum.mail_to(MODERATOR, "held-moderator")
    reply = forum.dkim.sign(make_mail(
        "Re: " + genuine["Subject"], body="#approve\n", message_id="d1@team.example.org",
        sender=f"Modo <{MODERATOR}>", to=REQUEST, in_reply_to=genuine["Message-ID"].strip("<>")))
    forum.send(on_top(reply, f"In-Reply-To: {spam['Message-ID']}"), to=REQUEST)
    forum.run_jobs()
    assert [(h.subject, h.status.value) for h in forum.held()] == [
        ("Question de la préfecture", "approved"), ("Achetez nos pilules", "pending")]


def test_a_signed_command_acts_once_even_replayed_under_another_message_id(two_topics, tmp_path):
    genuine = close_first_topic(two_topics)
    two_topics.send(genuine)
    two_topics.run_jobs()
    two_topics.command("#reopen\n", message_id="c2@team.example.org")
    two_topics.run_jobs()
    assert statuses(two_topics, tmp_path) == ("open", "open")
    two_topics.send(on_top(genuine, "Message-ID: <replay-1@evil.example.net>"))
    two_topics.send(on_top(genuine, "Message-ID: <replay-2@evil.example.net>"), to=REQUEST)
    two_topics.run_jobs()
    assert statuses(two_topics, tmp_path) == ("open", "open")
    assert [row[0] for row in two_topics.log()] == ["close", "reopen"]
    answers = [body_of(m) for m in two_topics.mail_to(MODERATOR, "command-answer")]
    assert len(answers) == 4 and all("déjà été appliqué une fois" in a for a in answers[2:])


def test_without_signed_threading_headers_the_signed_per_topic_address_names_the_topic(two_topics, tmp_path):
    # The signature covers To (the first topic's address) but not In-Reply-To, which names
    # the second topic: only the covered part counts.
    to = topic_address(two_topics.config, two_topics.gateway.instance.secret, two_topics.first)
    raw = make_mail("Re: Obstacle", body="#close solution\n", message_id="c1@team.example.org",
                    sender=f"Modo Team <{MODERATOR}>", to=to, in_reply_to=SECOND, references=[SECOND])
    signed = dkim.sign(raw, SELECTOR.encode(), b"team.example.org", two_topics.dkim.private_pem,
                       include_headers=[b"from", b"to", b"subject", b"date", b"message-id"]) + raw
    two_topics.send(signed, to=to)
    two_topics.run_jobs()
    assert statuses(two_topics, tmp_path) == ("closed", "open")


def test_authentication_results_vouch_only_for_what_the_signature_covers(two_topics, tmp_path):
    # Relais cannot check the signature itself (no DNS answer), the trusted MTA says it
    # passed: the DKIM-Signature's own h= tells which headers it covers.
    forged = on_top(close_first_topic(two_topics), f"In-Reply-To: <{SECOND}>", f"References: <{SECOND}>",
                    f"Authentication-Results: {TRUSTED}; dkim=pass header.d=team.example.org")
    two_topics.send(forged)
    process_requests(two_topics.engine, two_topics.config)
    process_command_mails(two_topics.engine, two_topics.config, dnsfunc=lambda name, timeout=5: None)
    assert statuses(two_topics, tmp_path) == ("closed", "open")


@pytest.mark.parametrize("encoding", ["utf-8", "cp1252"])
def test_an_8bit_command_mail_without_charset_reads_as_posts_do(forum, tmp_path, encoding):
    topic_id = forum.open_topic()
    raw = ("From: Modo Team <modo@team.example.org>\r\nTo: forum@example.org\r\nSubject: Re: Obstacle\r\n"
           "Date: Mon, 23 Nov 2026 11:00:00 +0100\r\nMessage-ID: <c8@team.example.org>\r\n"
           "In-Reply-To: <obstacle-1@mairie.example.org>\r\nMIME-Version: 1.0\r\n"
           "Content-Type: text/plain\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
           "#catégorie Droit au séjour\r\n").encode(encoding)
    assert forum.send(forum.dkim.sign(raw))[0] == 250
    forum.run_jobs()
    assert forum.topic_json(topic_id, tmp_path)["category"] == "Droit au séjour"


def test_command_mails_that_prove_nothing_are_answered_without_echo(forum):
    topic_id = forum.open_topic()
    spam = f"#sujet {topic_id}\n#clore solution\n#visitez pills.example\n"
    # A stranger: told that commands are for moderators, nothing of their text.
    forum.send(make_mail("Gagnez 1000 euros", body=spam, message_id="x1@evil.example.net",
                         sender=f"Victime <{STRANGER}>", to=REQUEST), to=REQUEST)
    # Unsigned mail under the moderator's address: the confirmation request shows the
    # commands as Relais read them, never the rest.
    forum.send(make_mail("Gagnez 1000 euros", body=spam, message_id="x2@evil.example.net",
                         sender=f"Modo <{MODERATOR}>", to=REQUEST), to=REQUEST)
    forum.run_jobs()
    [answer] = forum.mail_to(STRANGER, "command-answer")
    [request] = forum.mail_to(MODERATOR, "command-confirm")
    for mail in (answer, request):
        assert "pills" not in body_of(mail) and "euros" not in body_of(mail) + str(mail["Subject"])
        assert mail["In-Reply-To"] is None
    assert "réservées aux modérateurs" in body_of(answer)
    assert f"#topic {topic_id}" in body_of(request) and "#close solution" in body_of(request)


def test_a_command_mail_whose_header_section_dkim_cannot_read_blocks_nothing(two_topics, tmp_path):
    # A line that is no header ends the header section for the gateway, which then reads it
    # as a command; dkimpy refuses such a message. It must not stop the commands job.
    broken = (f"From: Modo Team <{MODERATOR}>\r\nTo: {REQUEST}\r\nSubject: x\r\n"
              "Message-ID: <broken@team.example.org>\r\n#close solution\r\n\r\nBonjour\r\n").encode()
    assert two_topics.send(broken, to=REQUEST)[0] == 250
    two_topics.run_jobs()
    two_topics.send(close_first_topic(two_topics))
    two_topics.run_jobs()
    assert statuses(two_topics, tmp_path) == ("closed", "open")
