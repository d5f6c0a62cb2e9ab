"""Retention: the scheduled job removes what is past its [retention] period — each kind by
its own setting — and nothing else; published messages stay whatever their age."""

from __future__ import annotations

import logging
import threading
import time
import urllib.request
from datetime import timedelta

from sqlalchemy import select

from mailgateway.retention_job import apply_retention_periods
from mailfactory import make_mail
from conftest import free_port
from relais.serve import serve
from storage.db import session_scope
from storage.instance import initialise
from storage.models import (
    CommandMail,
    ControlMessage,
    HeldMessage,
    HeldStatus,
    MemberRequest,
    Message,
    OutboundMessage,
    OutboundStatus,
    RateLimitHit,
    SignInLink,
    WebSession,
    utcnow,
)
from storage.people import person_by_address

# Each period set apart from the others and from the defaults, so that a kind removed by
# another's setting shows.
PERIODS = {"held_days": 10, "command_mail_days": 20, "bounce_days": 30, "sign_in_days": 40,
           "rate_limit_days": 3, "ip_address_days": 2, "sent_mail_days": 15}
SESSION_DAYS = 7


def _rows(now, person_id):  # type: ignore[no-untyped-def]
    """For each kind, one row just past its period ("old") and one just within ("young")."""
    def ago(days: float):  # type: ignore[no-untyped-def]
        return now - timedelta(days=days)

    rows = {}
    for age, label in ((PERIODS["held_days"] + 1, "old"), (PERIODS["held_days"] - 1, "young")):
        rows[f"held {label}"] = HeldMessage(message_id=f"held-{label}@x", raw=b"x", received_at=ago(age),
                                            status=HeldStatus.REJECTED)
        rows[f"held pending {label}"] = HeldMessage(message_id=f"pending-{label}@x", raw=b"x", received_at=ago(age))
    for age, label in ((PERIODS["command_mail_days"] + 1, "old"), (PERIODS["command_mail_days"] - 1, "young")):
        rows[f"command {label}"] = CommandMail(message_id=f"cmd-{label}@x", from_address="mod@example.org",
                                               raw=b"#close", commands="#close", received_at=ago(age))
        rows[f"request {label}"] = ControlMessage(kind="request", recipient="forum-request@example.org",
                                                  raw=b"help", received_at=ago(age), processed_at=ago(age))
    for age, label in ((PERIODS["bounce_days"] + 1, "old"), (PERIODS["bounce_days"] - 1, "young")):
        rows[f"bounce {label}"] = ControlMessage(kind="bounces", recipient="forum-bounces@example.org",
                                                 raw=b"dsn", received_at=ago(age), processed_at=ago(age))
    for age, label in ((PERIODS["sign_in_days"] + 1, "old"), (PERIODS["sign_in_days"] - 1, "young")):
        rows[f"link {label}"] = SignInLink(nonce_hash=f"{label:0>64}", person_id=person_id, address="a@x",
                                           created_at=ago(age + 1), expires_at=ago(age))
        rows[f"ended session {label}"] = WebSession(id_hash=f"e{label:0>63}", person_id=person_id, method="mail",
                                                    created_at=ago(age + 1), revoked_at=ago(age))
        rows[f"expired session {label}"] = WebSession(id_hash=f"x{label:0>63}", person_id=person_id, method="mail",
                                                      created_at=ago(age + SESSION_DAYS))
        rows[f"confirmation {label}"] = MemberRequest(address="a@x", command="subscribe", created_at=ago(age))
    for age, label in ((PERIODS["ip_address_days"] + 0.5, "old"), (PERIODS["ip_address_days"] - 0.5, "young")):
        rows[f"ip counter {label}"] = RateLimitHit(key="sign-in:ip:192.0.2.7", at=ago(age))
    for age, label in ((PERIODS["rate_limit_days"] + 0.5, "old"), (PERIODS["rate_limit_days"] - 0.5, "young")):
        rows[f"address counter {label}"] = RateLimitHit(key="sign-in:address:a@x", at=ago(age))
    for age, label in ((PERIODS["sent_mail_days"] + 1, "old"), (PERIODS["sent_mail_days"] - 1, "young")):
        rows[f"sent mail {label}"] = OutboundMessage(envelope_from="f@x", recipient="a@x", raw=b"n",
                                                     status=OutboundStatus.SENT, created_at=ago(age))
        rows[f"failed mail {label}"] = OutboundMessage(envelope_from="f@x", recipient="a@x", raw=b"n",
                                                       status=OutboundStatus.FAILED, created_at=ago(age))
    # Mail still to be sent stays, however old; so does a counter by address older than the
    # IP period but within its own.
    rows["pending mail young"] = OutboundMessage(envelope_from="f@x", recipient="a@x", raw=b"n",
                                                 created_at=ago(1000))
    rows["address counter young"].at = ago(PERIODS["ip_address_days"] + 0.5)
    return rows


def test_each_period_removes_what_it_should_and_nothing_else(make_config, gateway):  # type: ignore[no-untyped-def]
    config = make_config(retention=PERIODS, web={"session_days": SESSION_DAYS})
    engine = initialise(config)
    gateway.instance.add_member("alice@example.org", "Alice Martin")
    # A published message years old: the archive keeps it.
    assert gateway.send(make_mail(date="Mon, 02 Mar 2020 10:00:00 +0100"))[0] == 250
    now = utcnow()
    with session_scope(engine) as db:
        db.execute(Message.__table__.update().values(received_at=now - timedelta(days=2000)))
        rows = _rows(now, person_by_address(db, "alice@example.org").id)
        db.add_all(rows.values())
        db.flush()
        ids = {name: (type(row), row.id) for name, row in rows.items()}

    removed = apply_retention_periods(engine, config)

    with session_scope(engine, readonly=True) as db:
        kept = {name for name, (model, pk) in ids.items() if db.get(model, pk) is not None}
        assert db.scalar(select(Message.message_id)) == "obstacle-1@mairie.example.org"
    assert kept == {name for name in ids if name.endswith("young")}
    assert removed == {"held_messages": 2, "command_mails": 1, "request_mails": 1, "bounce_reports": 1,
                       "sign_in_links": 1, "web_sessions": 2, "confirmation_requests": 1, "ip_counters": 1,
                       "rate_counters": 1, "sent_mail": 2}
    # Run again: nothing more goes.
    assert not any(apply_retention_periods(engine, config).values())
    engine.dispose()


def test_the_server_applies_retention_when_it_starts_and_logs_no_ip_address(make_config, caplog):  # type: ignore[no-untyped-def]
    """`relais serve` runs the job with the others: at start, then hourly. Its web access
    log names no client IP address (the rate limiter's counters are the only place kept)."""
    web_port = free_port()
    config = make_config(smtp={"port": free_port()}, web={"port": web_port}, retention={"held_days": 5})
    engine = initialise(config)
    with session_scope(engine) as db:
        old = HeldMessage(message_id="old@x", raw=b"x", received_at=utcnow() - timedelta(days=6))
        young = HeldMessage(message_id="young@x", raw=b"x", received_at=utcnow() - timedelta(days=4))
        db.add_all([old, young])
    stop = threading.Event()
    server = threading.Thread(target=serve, args=(config, stop))
    server.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with session_scope(engine, readonly=True) as db:
                left = set(db.scalars(select(HeldMessage.message_id)))
            if left == {"young@x"}:
                break
            stop.wait(0.1)
        assert left == {"young@x"}
        caplog.set_level(logging.INFO, logger="werkzeug")
        with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/privacy", timeout=30) as page:
            assert page.status == 200
        [line] = [r.getMessage() for r in caplog.records if "GET /privacy" in r.getMessage()]
        assert "127.0.0.1" not in line and '"GET /privacy HTTP/1.1" 200' in line
    finally:
        stop.set()
        server.join(timeout=30)
        engine.dispose()
