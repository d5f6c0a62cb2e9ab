"""A message that cannot be read is set aside, and never stops the others: it is marked,
logged and listed for moderators; its topic's page and the feeds still answer 200 and say
it could not be read; everything after it becomes searchable (issue 10, finding 3)."""

from __future__ import annotations

import html
import logging

import pytest
from sqlalchemy import select

from mailfactory import make_mail
from mailgateway.indexer import index_all_pending
from storage.db import session_scope
from storage.models import Message, Role
from webtools import app, client, make_config, sign_in, text_of  # noqa: F401

MODERATOR = "mod@example.org"


@pytest.fixture
def visibility() -> str:
    return "public"


def deep_mail(levels: int, message_id: str) -> bytes:
    """A mail whose MIME parts are nested `levels` deep (each level one multipart)."""
    inner = b"Content-Type: text/plain; charset=utf-8\r\n\r\nTout au fond.\r\n"
    for level in range(levels):
        boundary = b"level-%d" % level
        inner = (b'Content-Type: multipart/mixed; boundary="' + boundary + b'"\r\n\r\n--' + boundary + b"\r\n"
                 + inner + b"\r\n--" + boundary + b"--\r\n")
    return (b"From: Alice Martin <alice@example.org>\r\nTo: forum@example.org\r\n"
            b"Subject: Obstacle : une pile de pieces jointes\r\nDate: Mon, 23 Nov 2026 10:00:00 +0100\r\n"
            b"Message-ID: <" + message_id.encode() + b">\r\nMIME-Version: 1.0\r\n" + inner)


def mail_with_nul_in_content_type(message_id: str) -> bytes:
    return (b"From: Alice Martin <alice@example.org>\r\nTo: forum@example.org\r\n"
            b"Subject: Obstacle : formulaire joint\r\nDate: Mon, 23 Nov 2026 10:00:00 +0100\r\n"
            b"Message-ID: <" + message_id.encode() + b">\r\nMIME-Version: 1.0\r\n"
            b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
            b"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nLe formulaire cerfa est joint.\r\n"
            b"--b\r\nContent-Type: application/x-\x00cerfa; name=\"cerfa.pdf\"\r\n"
            b"Content-Disposition: attachment; filename=\"cerfa.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            b"JVBERi0xLjQK\r\n--b--\r\n")


def found(client, words: str) -> list[str]:  # type: ignore[no-untyped-def]
    response = client.get("/search.json", query_string={"q": words})
    assert response.status_code == 200, response.status_code
    return [t["title"] for t in response.get_json()["topics"]]


def stored(instance, message_id: str) -> Message:  # type: ignore[no-untyped-def]
    with session_scope(instance.engine) as db:
        return db.scalars(select(Message).where(Message.message_id == message_id)).one()


def test_a_mail_nested_a_thousand_levels_deep_is_set_aside_and_stops_nothing(gateway, app, client, sink, caplog):
    instance = gateway.instance
    instance.add_member("alice@example.org", "Alice Martin")
    instance.add_member(MODERATOR, "Mona Modératrice", role=Role.MODERATOR)
    assert gateway.send(make_mail("Obstacle : avant", body="Les frontaliers attendent.\n",
                                  message_id="before@x"))[0] == 250
    assert gateway.send(deep_mail(1000, "deep@x"))[0] == 250
    assert gateway.send(make_mail("Obstacle : apres", body="Les apprentis transfrontaliers.\n",
                                  message_id="after@x"))[0] == 250

    with caplog.at_level(logging.WARNING, logger="mailgateway.indexer"):
        index_all_pending(instance.engine, instance.config)
    # Nothing waits any more, and nothing is tried again.
    assert index_all_pending(instance.engine, instance.config) == 0
    assert found(client, "apprentis") == ["Obstacle : apres"]
    assert found(client, "frontaliers") == ["Obstacle : avant"]
    deep = stored(instance, "deep@x")
    assert deep.unreadable_reason == "MIME parts nested more than 50 levels deep"
    assert any("set aside" in r.getMessage() and str(deep.id) in r.getMessage() for r in caplog.records)

    # Its topic's page and the feeds answer, and say it could not be read.
    page = client.get(f"/topics/{deep.topic_id}")
    assert page.status_code == 200
    assert "Ce message n'a pas pu être lu" in text_of(page)
    assert client.get(f"/messages/{deep.id}").status_code in (200, 302)
    assert client.get("/feeds/topics.atom").status_code == 200
    feed = client.get(f"/feeds/topics/{deep.topic_id}.atom")
    assert feed.status_code == 200 and "Ce message n'a pas pu être lu" in html.unescape(feed.get_data(as_text=True))
    assert "pieces jointes" in " ".join(found(client, "pile"))  # found by its title
    assert "une pile de pieces jointes" in text_of(client.get("/search", query_string={"q": "pile"}))

    # Moderators see it with why; members do not.
    member = app.test_client()
    sign_in(member, instance, sink, "alice@example.org")
    refused = member.get("/moderation/unreadable")
    assert refused.status_code == 403, refused.headers.get("Location")
    moderator = app.test_client()
    sign_in(moderator, instance, sink, MODERATOR)
    listing = moderator.get("/moderation/unreadable")
    assert listing.status_code == 200
    shown = text_of(listing)
    assert "Obstacle : une pile de pieces jointes" in shown
    assert "nested more than 50 levels deep" in shown


def test_a_page_shows_a_deep_mail_before_the_indexing_job_reads_it(gateway, client):
    gateway.instance.add_member("alice@example.org", "Alice Martin")
    assert gateway.send(deep_mail(1000, "deep@x"))[0] == 250
    deep = stored(gateway.instance, "deep@x")
    assert client.get(f"/topics/{deep.topic_id}").status_code == 200
    assert client.get(f"/feeds/topics/{deep.topic_id}.atom").status_code == 200
    assert client.get("/feeds/topics.atom").status_code == 200


def test_a_nul_byte_in_an_attachments_content_type_stops_nothing(gateway, client):
    instance = gateway.instance
    instance.add_member("alice@example.org", "Alice Martin")
    assert gateway.send(mail_with_nul_in_content_type("nul@x"))[0] == 250
    assert gateway.send(make_mail("Obstacle : apres", body="Les apprentis transfrontaliers.\n",
                                  message_id="after@x"))[0] == 250

    index_all_pending(instance.engine, instance.config)
    assert index_all_pending(instance.engine, instance.config) == 0
    assert found(client, "apprentis") == ["Obstacle : apres"]
    assert found(client, "cerfa") == ["Obstacle : formulaire joint"]
    message = stored(instance, "nul@x")
    page = client.get(f"/topics/{message.topic_id}")
    assert page.status_code == 200
    assert "cerfa.pdf" in text_of(page) and "\x00" not in page.get_data(as_text=True)
