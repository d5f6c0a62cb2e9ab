"""Identifiers past the columns' limits get the same answer on SQLite and PostgreSQL (issue
10, finding 15): an over-long Message-ID is stored in a bounded form that threading finds
again, an address no SMTP path can carry is not stored, and the raw bytes stay whole."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from storage.db import session_scope
from storage.identifiers import stored_message_id
from storage.models import ControlMessage, HeldMessage, Message

MEMBER = "alice@example.org"
LONG_ID = "x" * 1200 + "@long.example.org"          # over VARCHAR(995)
CJK_ID = "\u7814" * 985 + "@cjk.example.org"         # 985 characters, 2,955 bytes: too big for a btree entry
LONG_ADDRESS = "a" * 330 + "@example.net"            # over VARCHAR(320)


def mail(message_id: str, subject: str = "Obstacle : frontaliers", sender: str = f"Alice <{MEMBER}>",
         **headers: str) -> bytes:
    lines = [f"From: {sender}", "To: forum@example.org", f"Subject: {subject}",
             "Date: Mon, 23 Nov 2026 10:00:00 +0100", f"Message-ID: <{message_id}>",
             *(f"{name.replace('_', '-')}: {value}" for name, value in headers.items()),
             "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8", "", "Bonjour.", ""]
    return "\r\n".join(lines).encode("utf-8")


@pytest.fixture
def gw(gateway):  # type: ignore[no-untyped-def]
    gateway.instance.add_member(MEMBER, "Alice Martin")
    return gateway


def thread_rows(gw) -> list[tuple[str, int, str | None, bytes]]:  # type: ignore[no-untyped-def]
    """(message_id, topic_id, parent's message_id, raw) of every stored message, by id."""
    with session_scope(gw.instance.engine) as db:
        messages = db.scalars(select(Message).order_by(Message.id)).all()
        return [(m.message_id, m.topic_id, m.parent.message_id if m.parent else None, m.raw) for m in messages]


@pytest.mark.parametrize("long_id", [LONG_ID, CJK_ID], ids=["over-995-characters", "985-cjk-characters"])
def test_a_long_message_id_is_stored_and_its_replies_thread_to_it(gw, long_id: str):
    first = mail(long_id)
    code, reply = gw.send(first, options=["SMTPUTF8"])
    assert code == 250, reply
    by_in_reply_to = mail("r1@example.org", "Re: Obstacle : frontaliers", In_Reply_To=f"<{long_id}>")
    by_references = mail("r2@example.org", "Re: Obstacle : frontaliers", References=f"<{long_id}>")
    assert gw.send(by_in_reply_to, options=["SMTPUTF8"])[0] == 250
    assert gw.send(by_references, options=["SMTPUTF8"])[0] == 250
    # An MTA retry of the long one is recognised.
    code, reply = gw.send(first, options=["SMTPUTF8"])
    assert code == 250 and "Already received" in reply

    rows = thread_rows(gw)
    assert [r[0] for r in rows] == [stored_message_id(long_id), "r1@example.org", "r2@example.org"]
    assert len(rows[0][0]) < 100
    assert {r[1] for r in rows} == {rows[0][1]}
    assert [r[2] for r in rows] == [None, rows[0][0], rows[0][0]]
    assert rows[0][3] == first  # the raw bytes are whole


@pytest.mark.parametrize("header", ["In-Reply-To", "References"])
def test_a_reply_naming_a_long_missing_id_is_stored_and_joined_by_its_sibling(gw, header: str):
    name = header.replace("-", "_")
    assert gw.send(mail("r1@example.org", "Re: ?", **{name: f"<{LONG_ID}>"}))[0] == 250
    assert gw.send(mail("r2@example.org", "Re: ?", **{name: f"<{LONG_ID}>"}))[0] == 250
    rows = thread_rows(gw)
    assert len(rows) == 2 and rows[0][1] == rows[1][1]  # one topic around the missing message


def test_a_from_address_too_long_for_any_column_is_held_and_kept_whole(gw):
    raw = mail("held@example.net", sender=f"Somebody <{LONG_ADDRESS}>")
    code, reply = gw.send(raw, mail_from="someone@example.net")
    assert code == 250 and "held" in reply
    with session_scope(gw.instance.engine) as db:
        [held] = db.scalars(select(HeldMessage)).all()
        assert (held.raw, held.from_address, held.envelope_from) == (raw, "", "someone@example.net")


def test_an_envelope_sender_too_long_for_any_column_is_held_and_never_answered(gw):
    raw = mail("held@example.net", sender="Somebody <someone@example.net>")
    code, reply = gw.send(raw, mail_from=LONG_ADDRESS)
    assert code == 250 and "held" in reply
    with session_scope(gw.instance.engine) as db:
        [held] = db.scalars(select(HeldMessage)).all()
        assert (held.raw, held.envelope_from) == (raw, "")


def test_request_mail_from_addresses_too_long_is_kept_for_processing(gw):
    raw = mail("cmd@example.net", "help", sender=f"<{LONG_ADDRESS}>")
    code, reply = gw.send(raw, mail_from=LONG_ADDRESS, to="forum-request@example.org")
    assert code == 250, reply
    with session_scope(gw.instance.engine) as db:
        [control] = db.scalars(select(ControlMessage)).all()
        assert (control.raw, control.envelope_from) == (raw, "")


def test_a_recipient_address_too_long_for_any_column_is_refused_550(gw):
    code, reply = gw.send(mail("b@example.net"), to="forum-bounces+" + "x" * 320 + "@example.org")
    assert code == 550 and "5.1.1" in reply
