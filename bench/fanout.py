"""Benchmark of redistribution: one post to N subscribers (10,000 by default) through a
local SMTP sink standing for the relay, against a bare smtplib loop.

1. A fresh instance (SQLite by default) with N subscribed members; its gateway started.
2. The baseline: a bare smtplib loop on one connection sends the same N personalised copies
   (built beforehand, untimed) to the sink.
3. Relais: one post is sent to the gateway, then the fan-out job (mailgateway.fanout:
   expansion into N pending copies, then each copy built — footer, List-* headers, VERP
   envelope — sent over one reused connection, and its outcome recorded) runs until the
   queue is empty. Meanwhile a probe sends a new post to the gateway every 0.25 s and times
   the answer: the gateway must keep answering within 1 s.
4. The baseline again (the machine is shared and noisy: the baseline is the mean of 2 and 4).

The sink runs in a process of its own (like a real MTA), and checks that each subscriber
received exactly one copy. Prints deliveries/s for Relais and for the bare loop, the ratio
(goal: >= 70 %), and the probe's latencies (goal: < 1 s).

    .venv/bin/python bench/fanout.py [--subscribers N] [--database-url URL] [--json]

The exit status is 0 whether the goals are met or not (this is a measurement); it is
non-zero only if a copy is lost, sent twice, or the gateway refused a message.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import argparse  # noqa: E402
import email.policy  # noqa: E402
import json  # noqa: E402
import multiprocessing  # noqa: E402
import smtplib  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from email.message import EmailMessage  # noqa: E402

from sqlalchemy import func, insert, select  # noqa: E402

from mailgateway.addresses import verp_address  # noqa: E402
from mailgateway.copies import build_copy_template  # noqa: E402
from mailgateway.fanout import expand_fanouts, send_copies  # noqa: E402
from mailgateway.listheaders import unsubscribe_url  # noqa: E402
from mailgateway.server import start_gateway  # noqa: E402
from storage.config import config_from_mapping, secret_key  # noqa: E402
from storage.db import session_scope  # noqa: E402
from storage.fanout import post_facts  # noqa: E402
from storage.instance import initialise  # noqa: E402
from storage.models import Address, Message, Organisation, Person, Subscription, utcnow  # noqa: E402

FORUM = "forum@bench.example.org"
AUTHOR = "author@bench.example.org"
PROBE_EVERY = 0.25


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the relay: an aiosmtpd sink in a process of its own --------------------------------

def _sink_process(port: int, conn) -> None:  # type: ignore[no-untyped-def]
    from aiosmtpd.controller import Controller

    received: Counter[str] = Counter()
    lock = threading.Lock()

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
            with lock:
                received.update(envelope.rcpt_tos)
            return "250 2.0.0 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port, decode_data=False)
    controller.start()
    conn.send("ready")
    while (command := conn.recv()) != "stop":
        with lock:
            if command == "reset":
                received.clear()
                conn.send(None)
            else:  # "counts"
                conn.send(dict(received))
    controller.stop()


class SinkProcess:
    def __init__(self) -> None:
        self.port = free_port()
        self.conn, child = multiprocessing.Pipe()
        self.process = multiprocessing.Process(target=_sink_process, args=(self.port, child), daemon=True)
        self.process.start()
        assert self.conn.recv() == "ready"

    def counts(self) -> dict[str, int]:
        self.conn.send("counts")
        return self.conn.recv()

    def reset(self) -> None:
        self.conn.send("reset")
        self.conn.recv()

    def stop(self) -> None:
        self.conn.send("stop")
        self.process.join(timeout=10)


# --- the instance --------------------------------------------------------------------------

def make_instance(folder: Path, database_url: str | None, sink_port: int):  # type: ignore[no-untyped-def]
    config = config_from_mapping({
        "forum": {"address": FORUM, "name": "Forum Bench", "base_url": "https://forum.bench.example.org"},
        "storage": {"database_url": database_url or f"sqlite:///{folder / 'relais.sqlite3'}"},
        "delivery": {"relay_host": "127.0.0.1", "relay_port": sink_port, "relay_starttls": False}},
        base_dir=folder)
    return config, initialise(config)


def add_subscribers(engine, count: int) -> list[tuple[int, str]]:  # type: ignore[no-untyped-def]
    """The author and `count` members subscribed in mode all (bulk inserts: set-up, untimed)."""
    now = utcnow()
    with session_scope(engine) as db:
        org_id = db.execute(insert(Organisation).values(name="Bench", kind="member")).inserted_primary_key[0]
        people = [{"name": f"Membre {i}", "organisation_id": org_id, "role": "member", "created_at": now}
                  for i in range(count + 1)]
        db.execute(insert(Person), people)
        ids = list(db.scalars(select(Person.id).order_by(Person.id)))[-(count + 1):]
        emails = [AUTHOR] + [f"member{i}@list{i % 50}.example.net" for i in range(count)]
        db.execute(insert(Address), [{"email": e, "person_id": pid} for e, pid in zip(emails, ids)])
        db.execute(insert(Subscription), [{"person_id": pid, "mode": "all", "created_at": now, "bounce_score": 0}
                                          for pid in ids])
        return [(sid, email) for sid, email in db.execute(
            select(Subscription.id, Address.email).join(Address, Address.person_id == Subscription.person_id)
            .where(Address.email != AUTHOR))]


def post(number: int, body_lines: int = 30) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Auteur du banc <{AUTHOR}>"
    msg["To"] = FORUM
    msg["Subject"] = f"Obstacle n° {number} : reconnaissance des qualifications"
    msg["Message-ID"] = f"<bench-{number}-{time.time_ns()}@bench.example.org>"
    msg.set_content("Bonjour à tous,\n\n" + "Nous rencontrons un obstacle transfrontalier récurrent.\n" * body_lines)
    msg.add_alternative("<html><body>" + "<p>Nous rencontrons un obstacle transfrontalier récurrent.</p>\n"
                        * body_lines + "</body></html>\n", subtype="html")
    return msg.as_bytes(policy=email.policy.SMTP)  # CRLF, as mail clients send it


def send_post(port: int, raw: bytes) -> tuple[float, str]:
    start = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.sendmail(AUTHOR, [FORUM], raw)
    return time.perf_counter() - start, ""


# --- the runs ------------------------------------------------------------------------------

def bare_loop(sink: SinkProcess, copies: list[tuple[str, str, bytes]]) -> float:
    """Seconds for one smtplib connection to send every prepared copy."""
    sink.reset()
    start = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", sink.port, timeout=60) as client:
        for envelope_from, recipient, raw in copies:
            client.sendmail(envelope_from, [recipient], raw)
    return time.perf_counter() - start


def probe(port: int, stop: threading.Event, latencies: list[float], errors: list[str]) -> None:
    number = 1000
    while not stop.wait(PROBE_EVERY):
        number += 1
        try:
            latencies.append(send_post(port, post(number, body_lines=3))[0])
        except (OSError, smtplib.SMTPException) as error:
            errors.append(f"{type(error).__name__}: {error}")


def run(args: argparse.Namespace) -> dict[str, object]:
    sink = SinkProcess()
    folder = Path(tempfile.mkdtemp(prefix="relais-fanout-"))
    config, engine = make_instance(folder, args.database_url, sink.port)
    secret = secret_key(config)
    subscribers = add_subscribers(engine, args.subscribers)
    port = free_port()
    gateway = start_gateway(config, secret, host="127.0.0.1", port=port)
    try:
        send_post(port, post(1))
        with session_scope(engine, readonly=True) as db:
            message_pk = db.scalar(select(func.min(Message.id)))
            facts = post_facts(db, message_pk)
        assert facts is not None
        template = build_copy_template(config, secret, facts)
        copies = [(verp_address(config, secret, sid), address,
                   template.render(config, unsubscribe_url(config, secret, sid))) for sid, address in subscribers]

        bare_1 = bare_loop(sink, copies)

        sink.reset()
        latencies: list[float] = []
        probe_errors: list[str] = []
        stop = threading.Event()
        prober = threading.Thread(target=probe, args=(port, stop, latencies, probe_errors))
        prober.start()
        start = time.perf_counter()
        expand_fanouts(engine, config, limit=1)
        expanded = time.perf_counter()
        sent = send_copies(engine, config).sent
        relais = time.perf_counter() - start
        stop.set()
        prober.join()
        received = sink.counts()

        bare_2 = bare_loop(sink, copies)
    finally:
        gateway.stop()
        engine.dispose()
        sink.stop()

    n = len(copies)
    wanted = {address for _, address in subscribers}
    lost = sorted(wanted - received.keys())
    doubled = sorted(a for a, c in received.items() if c > 1)
    bare = (bare_1 + bare_2) / 2
    return {
        "subscribers": n, "copies_sent": sent, "copies_received": sum(received.values()),
        "lost": len(lost), "sent_twice": len(doubled),
        "expansion_ms": round((expanded - start) * 1000, 1),
        "relais_seconds": round(relais, 2), "relais_per_s": round(n / relais),
        "bare_seconds": [round(bare_1, 2), round(bare_2, 2)], "bare_per_s": round(n / bare),
        "ratio_percent": round(100 * bare / relais, 1),
        "probe_posts": len(latencies), "probe_errors": probe_errors,
        "probe_latency_max_ms": round(max(latencies) * 1000) if latencies else None,
        "probe_latency_median_ms": round(statistics.median(latencies) * 1000) if latencies else None,
        "database": config.database_url.split("://")[0],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Fan-out benchmark: one post to N subscribers, Relais against "
                                            "a bare smtplib loop.")
    p.add_argument("--subscribers", type=int, default=10_000, metavar="N", help="subscribers (default 10000)")
    p.add_argument("--database-url", metavar="URL", help="an empty database (default: SQLite in a temporary folder)")
    p.add_argument("--json", action="store_true", help="also print the figures as one JSON object")
    args = p.parse_args(argv)
    r = run(args)
    print(f"fan-out of one post to {r['subscribers']} subscribers ({r['database']}), relay = local aiosmtpd sink")
    print(f"  expansion into pending copies: {r['expansion_ms']} ms")
    print(f"  Relais:    {r['relais_per_s']:>6} deliveries/s  ({r['relais_seconds']} s, expansion included)")
    print(f"  bare loop: {r['bare_per_s']:>6} deliveries/s  ({' and '.join(map(str, r['bare_seconds']))} s)")
    print(f"  ratio: {r['ratio_percent']} % of the bare smtplib loop (goal: >= 70 %)")
    print(f"  gateway during the fan-out: {r['probe_posts']} posts answered, max {r['probe_latency_max_ms']} ms, "
          f"median {r['probe_latency_median_ms']} ms (goal: < 1000 ms)")
    print(f"  copies received: {r['copies_received']}, lost: {r['lost']}, sent twice: {r['sent_twice']}")
    if args.json:
        print(json.dumps(r))
    failed = r["lost"] or r["sent_twice"] or r["probe_errors"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
