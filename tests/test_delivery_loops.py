"""Loop and noise protection: auto-replies, mail with a null sender and bulk mail are never
redistributed nor answered, and a copy of this forum's own mail coming back is dropped."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from delivery_support import *  # noqa: F401,F403 (fixtures)
from mailfactory import make_mail
from mailgateway.delivery import deliver_due
from storage.db import session_scope
from storage.models import Message, OutboundMessage


@pytest.fixture
def pair(forum):  # type: ignore[no-untyped-def]
    forum.member("alice@example.org", "Alice Martin")
    forum.member("bob@example.org", "Bob Weber")
    return forum


def stored(forum) -> int:  # type: ignore[no-untyped-def]
    with session_scope(forum.engine, readonly=True) as db:
        return db.scalar(select(func.count()).select_from(Message))


@pytest.mark.parametrize("headers, mail_from", [
    ({"Auto_Submitted": "auto-replied"}, "alice@example.org"),
    ({"X_Autoreply": "yes"}, "alice@example.org"),
    ({"Precedence": "bulk"}, "alice@example.org"),
    ({"Precedence": "junk"}, "alice@example.org"),
    ({}, ""),  # a null envelope sender: a bounce or a notification
])
def test_automatic_mail_from_a_member_is_accepted_and_dropped(pair, headers, mail_from):
    code, reply = pair.post(make_mail("Absence du bureau", **headers), mail_from=mail_from)
    assert code == 250 and "not redistributed" in reply
    pair.deliver()
    deliver_due(pair.engine, pair.config)
    assert stored(pair) == 0 and pair.recipients() == []
    with session_scope(pair.engine, readonly=True) as db:
        assert db.scalar(select(func.count()).select_from(OutboundMessage)) == 0  # nobody answered


def test_the_forums_own_copy_coming_back_is_dropped(pair):
    pair.post(make_mail())
    pair.deliver()
    [(_, _, copy)] = pair.sink.received
    # A forwarder sends Bob's copy back to the forum under a new Message-ID.
    echoed = copy.replace(b"<obstacle-1@mairie.example.org>", b"<echo@forwarder.example>")
    code, reply = pair.post(echoed, mail_from="bob@example.org")
    assert code == 250 and "came from the forum itself" in reply
    pair.clear()
    pair.deliver()
    assert stored(pair) == 1 and pair.recipients() == []


def test_a_message_carrying_our_x_loop_is_dropped(pair):
    code, reply = pair.post(make_mail(X_Loop="forum@example.org"))
    assert code == 250 and "came from the forum itself" in reply and stored(pair) == 0
