"""Fault tests of redistribution: the fan-out worker killed with SIGKILL in the middle of a
big list (nothing missing, at most UNRECORDED copies twice), and a relay that refuses
connections, then answers 451, then 421 (one connection per pause, everything delivered
once when it is back)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from conftest import FORUM, Sink, free_port
from delivery_support import *  # noqa: F401,F403 (fixtures)
from delivery_support import Forum, add_subscribers, relay_settings, running_forum, sink_on
from mailfactory import make_mail
from mailgateway.delivery import deliver_due
from mailgateway.fanout import UNRECORDED, expand_fanouts
from storage.db import session_scope
from storage.models import utcnow
from storage.outbound import queue_counts, queue_mail

pytestmark = pytest.mark.fault
REPO = Path(__file__).resolve().parents[1]

# The fan-out worker alone, in a process of its own, on the test's database and relay.
WORKER = """
import json, sys
from pathlib import Path
from storage.config import config_from_mapping
from storage.db import make_engine
from mailgateway.fanout import send_copies
config = config_from_mapping(json.loads(sys.argv[1]), base_dir=Path(sys.argv[2]))
send_copies(make_engine(config.database_url), config)
"""


def received_by_address(sink: Sink) -> Counter[str]:
    with sink.lock:
        return Counter(rcpt for _, rcpts, _ in sink.received for rcpt in rcpts)


def test_kill_9_during_a_fan_out_loses_nothing_and_resends_at_most_the_unrecorded_copies(forum: Forum):
    forum.member("alice@example.org", "Alice Martin")
    addresses = add_subscribers(forum.engine, 1500)
    assert forum.post(make_mail())[0] == 250
    expand_fanouts(forum.engine, forum.config)
    config = forum.config
    settings = {"forum": {"address": FORUM, "name": "Forum Test", "base_url": "http://forum.example.org"},
                "storage": {"database_url": config.database_url},
                "delivery": relay_settings(forum.sink)}
    worker = subprocess.Popen([sys.executable, "-c", WORKER, json.dumps(settings), str(config.base_dir)],
                              cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        forum.sink.wait_for(400, timeout=60)
        os.kill(worker.pid, signal.SIGKILL)
    finally:
        worker.wait(timeout=30)
    assert worker.returncode == -signal.SIGKILL
    before = received_by_address(forum.sink)
    assert 400 <= sum(before.values()) < len(addresses), "the worker was not killed in the middle"

    # The next round (a restarted server) sends what is left at once.
    forum.deliver()
    received = received_by_address(forum.sink)
    assert sorted(received) == sorted(addresses), "a copy is missing"
    twice = [a for a, n in received.items() if n > 1]
    assert len(twice) <= UNRECORDED, f"{len(twice)} copies sent twice"
    assert all(n <= 2 for n in received.values())
    with session_scope(forum.engine, readonly=True) as db:
        counts = queue_counts(db)
    assert (counts["copies_pending"], counts["copies_sent"]) == (0, len(addresses))


class MoodyRelay(Sink):
    """A relay whose answer changes: "451" to DATA, "421" to MAIL, or "ok"; it counts the
    connections it is opened."""

    mood = "ok"
    connections = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # type: ignore[no-untyped-def]
        self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # type: ignore[no-untyped-def]
        if self.mood == "421":
            return "421 4.3.2 Service shutting down"
        envelope.mail_from = address
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        if self.mood == "451":
            return "451 4.3.0 Try again later"
        return await super().handle_DATA(server, session, envelope)


def test_a_relay_refusing_then_451_then_421_pauses_and_then_gets_everything_once(make_config, sink):
    relay = MoodyRelay(free_port())
    members = [f"m{i}@example.org" for i in range(30)]
    with running_forum(make_config, sink, relay_port=relay.port) as forum:
        forum.member("alice@example.org", "Alice Martin")
        for address in members:
            forum.member(address)
        forum.post(make_mail())
        with session_scope(forum.engine) as db:  # a notice, sent by the other worker
            queue_mail(db, envelope_from="forum-bounces@example.org", recipient="notice@example.org",
                       raw=b"From: forum@example.org\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n\r\nAvis.\r\n",
                       purpose="test")
        start = utcnow()

        # Nothing listens: one attempt, then a pause (retry_base_seconds, 300 s by default).
        assert forum.deliver(now=start).sent == 0
        assert forum.deliver(now=start + timedelta(seconds=60)).sent == 0  # within the pause

        with sink_on(relay):
            relay.mood = "451"
            round_ = forum.deliver(now=start + timedelta(minutes=6))
            assert (round_.sent, round_.deferred, relay.connections) == (0, 1, 1)
            # The pause doubled (600 s): nobody connects before it ends, for copies or notices.
            forum.deliver(now=start + timedelta(minutes=12))
            assert deliver_due(forum.engine, forum.config, now=start + timedelta(minutes=12)).sent == 0
            assert relay.connections == 1

            relay.mood = "421"
            round_ = forum.deliver(now=start + timedelta(minutes=20))
            assert (round_.sent, round_.deferred, relay.connections) == (0, 1, 2)

            relay.mood = "ok"
            round_ = forum.deliver(now=start + timedelta(minutes=45))
            assert round_.sent == len(members) and relay.connections == 3
            assert deliver_due(forum.engine, forum.config, now=start + timedelta(minutes=45)).sent == 1
    received = received_by_address(relay)
    assert sorted(received) == sorted([*members, "notice@example.org"]) and set(received.values()) == {1}
