"""Moderators see what they decide on: the held-message queue shows each message's text,
sanitised as the archive shows mail, and its attachments (downloadable by moderators only);
every confirmation request, by mail or on the web, names the topic or the held message its
commands apply to."""

from __future__ import annotations

import re
from email.message import EmailMessage

from archive_web import create_app
from mailfactory import make_mail
from moderation_support import MODERATOR, body_of, dkim_key, forum, instance  # noqa: F401
from webtools import path_of, sign_in, text_of

STRANGER = "claire@prefecture.example.fr"
REQUEST = "forum-request@example.org"


def hold_html_mail_with_attachment(forum) -> None:  # type: ignore[no-untyped-def]
    msg = EmailMessage()
    msg["From"] = f"Claire <{STRANGER}>"
    msg["To"] = "forum@example.org"
    msg["Subject"] = "Demande de la préfecture"
    msg["Message-ID"] = "<s1@prefecture.example.fr>"
    msg.set_content("<p>Bonjour, <b>voici</b> notre demande.</p><script>alert(1)</script>"
                    '<img src="https://tracker.example.net/p.gif">', subtype="html")
    msg.add_attachment(b"%PDF-1.4 arrete", maintype="application", subtype="pdf", filename="arrêté.pdf")
    code, _ = forum.send(msg.as_bytes())
    assert code == 250


def test_the_held_queue_shows_the_sanitised_text_and_the_attachments(forum):
    hold_html_mail_with_attachment(forum)
    [held] = forum.held()
    client = create_app(forum.config, forum.engine).test_client()
    sign_in(client, forum.gateway.instance, forum.sink, MODERATOR)
    page = client.get("/moderation/held")
    html = page.get_data(as_text=True)
    assert "<b>voici</b> notre demande." in html
    assert "<script>" not in html and "tracker.example.net" not in html
    assert "arrêté.pdf" in text_of(page) and "application/pdf" in text_of(page)
    link = re.search(r'href="(/moderation/held/\d+/attachments/\d+)"', html).group(1)
    download = client.get(link)
    assert download.data == b"%PDF-1.4 arrete" and download.mimetype == "application/octet-stream"
    assert download.headers["Content-Disposition"].startswith("attachment")

    member = create_app(forum.config, forum.engine).test_client()
    sign_in(member, forum.gateway.instance, forum.sink, "bob@example.org")
    assert member.get(link).status_code == 403
    assert create_app(forum.config, forum.engine).test_client().get(link).status_code == 302
    assert held.status.value == "pending"


def test_a_confirmation_request_names_the_topic_by_mail_and_on_the_web(forum):
    topic_id = forum.open_topic()
    forum.command("#close study\n", signed=False)
    forum.run_jobs()
    [request] = forum.mail_to(MODERATOR, "command-confirm")
    text = body_of(request)
    assert f"Elles portent sur le sujet n° {topic_id}, « Obstacle : reconnaissance des diplômes »" in text
    link = path_of(re.search(r"https?://\S+/moderation/confirm/\S+", text).group(0))
    page = create_app(forum.config, forum.engine).test_client().get(link)
    assert f"#{topic_id} — Obstacle : reconnaissance des diplômes" in text_of(page)


def test_a_confirmation_request_names_the_held_message(forum):
    forum.send(make_mail("Question de la préfecture", message_id="s2@prefecture.example.fr",
                         sender=f"Claire <{STRANGER}>"))
    [notice] = forum.mail_to(MODERATOR, "held-moderator")
    reply = make_mail("Re: " + notice["Subject"], body="#approuver\n", message_id="d1@team.example.org",
                      sender=f"Modo <{MODERATOR}>", to=REQUEST, in_reply_to=notice["Message-ID"].strip("<>"))
    forum.send(reply, to=REQUEST)
    forum.run_jobs()
    [held] = forum.held()
    text = body_of(forum.mail_to(MODERATOR, "command-confirm")[-1])
    assert f"Elles portent sur le message retenu n° {held.id}, « Question de la préfecture »" in text
    assert STRANGER in text
    link = path_of(re.search(r"https?://\S+/moderation/confirm/\S+", text).group(0))
    page = text_of(create_app(forum.config, forum.engine).test_client().get(link))
    assert f"message retenu n° {held.id}" in page and "Question de la préfecture" in page
