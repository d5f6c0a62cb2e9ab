"""The outgoing queue is durable: a relay that is down, answers "try later" or refuses an
address loses nothing and sends each copy once; a restart resumes; `relais queue --json`
shows the counts; with no relay, copies go to the Maildir spool."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import timedelta

from conftest import Sink, free_port
from delivery_support import *  # noqa: F401,F403 (fixtures)
from delivery_support import Forum, add_subscribers, running_forum, sink_on
from mailgateway.fanout import BATCH
from mailfactory import make_mail
from mailgateway.fanout import deliver_posts
from storage.db import session_scope
from storage.instance import initialise
from storage.models import utcnow
from storage.outbound import queue_counts

MEMBERS = [f"m{i}@example.org" for i in range(10)]


def with_members(forum: Forum) -> Forum:
    forum.member("alice@example.org", "Alice Martin")
    for address in MEMBERS:
        forum.member(address)
    return forum


def counts(forum: Forum) -> dict[str, int]:
    with session_scope(forum.engine, readonly=True) as db:
        return queue_counts(db)


class TryLaterSink(Sink):
    """A relay that accepts `accept` messages, then answers 451 (a busy or failing MTA)."""

    accept = 3

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        with self.arrived:
            if len(self.received) >= self.accept:
                return "451 4.3.0 Try again later"
        return await super().handle_DATA(server, session, envelope)


class RefusingSink(Sink):
    """A relay that refuses one address for good."""

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # type: ignore[no-untyped-def]
        if address == "m0@example.org":
            return "550 5.1.1 <m0@example.org>: no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"


def test_relay_down_then_up_everything_is_delivered_once(make_config, sink):
    port = free_port()  # nothing listens there yet: the relay is down
    with running_forum(make_config, sink, relay_port=port) as forum:
        with_members(forum)
        forum.post(make_mail())
        round_ = forum.deliver()
        assert round_.sent == 0 and round_.deferred == 1  # the round stops at the first refusal
        assert counts(forum)["pending"] == 10 and counts(forum)["copies_pending"] == 10
        # Nothing is retried before its backoff delay…
        assert forum.deliver().sent == 0
        with sink_on(Sink(port)) as relay:
            # …and everything goes once the relay is back and the delay has passed.
            assert forum.deliver(now=utcnow() + timedelta(minutes=10)).sent == 10
            assert forum.deliver(now=utcnow() + timedelta(hours=1)).sent == 0
            assert sorted(r for _, rcpts, _ in relay.received for r in rcpts) == MEMBERS
        assert counts(forum)["sent"] == 10 and counts(forum)["pending"] == 0


def test_a_restart_in_the_middle_resumes_and_sends_no_copy_twice(make_config, sink):
    relay = TryLaterSink(free_port())
    with sink_on(relay):
        with running_forum(make_config, sink, relay_port=relay.port) as forum:
            with_members(forum)
            forum.post(make_mail())
            first = forum.deliver()
            # "Try later" to DATA pauses the whole round: one copy deferred, not seven.
            assert (first.sent, first.deferred) == (3, 1)
            config = forum.config
        # The process stops; a new one starts on the same database and relay, which now accepts all.
        relay.accept = 100
        engine = initialise(config)
        try:
            later = deliver_posts(engine, config, now=utcnow() + timedelta(minutes=10))
        finally:
            engine.dispose()
    assert later.sent == 7
    assert sorted(r for _, rcpts, _ in relay.received for r in rcpts) == MEMBERS


def test_a_permanent_refusal_is_recorded_and_not_retried(make_config, sink, capsys):
    from relais.cli import main

    relay = RefusingSink(free_port())
    with sink_on(relay), running_forum(make_config, sink, relay_port=relay.port) as forum:
        with_members(forum)
        forum.post(make_mail())
        round_ = forum.deliver()
        assert (round_.sent, round_.failed) == (9, 1)
        assert forum.deliver(now=utcnow() + timedelta(days=1)).sent == 0
        path = forum.config.base_dir / "relais.toml"
        path.write_text(f'[forum]\naddress = "forum@example.org"\n'
                        f'[storage]\ndatabase_url = "{forum.config.database_url}"\n')
        assert main(["--config", str(path), "queue", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["pending"], shown["sent"], shown["failed"]) == (0, 9, 1)


def test_copies_are_given_up_after_the_configured_time(make_config, sink):
    with running_forum(make_config, sink, relay_port=free_port(), give_up_after_hours=2) as forum:
        with_members(forum)
        forum.post(make_mail())
        forum.deliver()
        round_ = forum.deliver(now=utcnow() + timedelta(hours=3))
        assert round_.failed == 1  # the first copy tried; the relay is still down
        assert counts(forum)["failed"] == 1


def test_without_a_relay_copies_go_to_the_maildir_spool(make_config, sink):
    with running_forum(make_config, sink, relay_host="") as forum:
        with_members(forum)
        forum.post(make_mail())
        assert forum.deliver().sent == 10
        spooled = [p.read_bytes() for p in (forum.config.spool_dir / "new").iterdir()]
    assert sorted(line.split(b": ")[1].strip().decode() for raw in spooled
                  for line in raw.splitlines() if line.startswith(b"Delivered-To: ")) == MEMBERS
    assert all(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click" in raw for raw in spooled)
    assert sink.received == []


class SlowSink(Sink):
    """A relay taking a few milliseconds per message, as a real one does."""

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        await asyncio.sleep(0.004)
        return await super().handle_DATA(server, session, envelope)


def test_a_fan_out_larger_than_a_batch_sends_each_copy_once(make_config, sink):
    """Outcomes are recorded before the next batch is chosen: no copy twice without a crash."""
    relay = SlowSink(free_port())
    with sink_on(relay), running_forum(make_config, sink, relay_port=relay.port) as forum:
        forum.member("alice@example.org", "Alice Martin")
        addresses = add_subscribers(forum.engine, BATCH + 200)
        forum.post(make_mail())
        round_ = forum.deliver()
        assert counts(forum)["copies_pending"] == 0
    received = Counter(rcpt for _, rcpts, _ in relay.received for rcpt in rcpts)
    assert sorted(received) == sorted(addresses)
    assert [a for a, n in received.items() if n > 1] == []
    assert round_.sent == len(addresses)
