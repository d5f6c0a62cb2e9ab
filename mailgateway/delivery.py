"""The outbound worker for pre-composed mail (notices, confirmations, digests): sends the
queued rows through the relay, or into the Maildir spool (mailgateway.relay).

Runs as a scheduled job after the commits that queued the mail, so a slow relay never
holds an inbound SMTP session, and a restart loses nothing (the queue is in the database).
The copies of posts have their own worker (mailgateway.fanout) with the same rules.

Both workers share the relay's pause: after a failure of the relay itself (unreachable,
421, 4xx to MAIL or DATA) neither sends, nor connects, before the pause ends; it starts at
`retry_base_seconds` and doubles at each failure in a row (storage.outbound.pause_relay).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from mailgateway.relay import Failure, Outbox
from storage.config import Config
from storage.db import Engine, Session, session_scope
from storage.models import Delivery, OutboundMessage, OutboundStatus, utcnow
from storage.outbound import due_mail, mark_failed, mark_sent, pause_relay, relay_paused_until, relay_recovered

RECORD_EVERY = 25


@dataclass
class DeliveryRound:
    sent: int = 0
    deferred: int = 0
    failed: int = 0


def record_failure(db: Session, config: Config, row: OutboundMessage | Delivery, failure: Failure,
                   now: datetime, result: DeliveryRound) -> None:
    """A failed attempt: retried with exponential backoff, or recorded as failed for good."""
    mark_failed(row, failure.error, permanent=failure.permanent, now=now,
                retry_base=timedelta(seconds=config.delivery.retry_base_seconds),
                give_up_after=timedelta(hours=config.delivery.give_up_after_hours))
    if row.status is OutboundStatus.FAILED:
        result.failed += 1
    else:
        result.deferred += 1


def relay_paused(engine: Engine, config: Config, now: datetime) -> bool:
    """Whether the relay is paused (never for the Maildir spool)."""
    if not config.delivery.relay_host:
        return False
    with session_scope(engine, readonly=True) as db:
        return relay_paused_until(db, now) is not None


def record_relay_state(db: Session, config: Config, failure: Failure | None, *, accepted: bool,
                       now: datetime) -> None:
    """At the end of a round: pause after a failure of the relay, or end the pause."""
    if failure is not None and failure.relay_wide:
        pause_relay(db, failure.error, now=now, base=timedelta(seconds=config.delivery.retry_base_seconds))
    elif accepted:
        relay_recovered(db)


def deliver_due(engine: Engine, config: Config, now: datetime | None = None,
                limit: int = 500) -> DeliveryRound:
    """Send what is due; temporary failures are retried with backoff, permanent ones recorded.

    No transaction stays open while talking to the relay: rows are read, sent, then their
    outcome recorded in short transactions (a crash in between re-sends, never loses).
    """
    now = now or utcnow()
    result = DeliveryRound()
    if relay_paused(engine, config, now):
        return result
    with session_scope(engine, readonly=True) as db:
        batch = [(r.id, r.envelope_from, r.recipient, r.raw) for r in due_mail(db, now, limit)]
    outbox = Outbox(config)
    outcomes: list[tuple[int, Failure | None]] = []
    try:
        for row_id, envelope_from, recipient, raw in batch:
            outcomes.append((row_id, outbox.send(envelope_from, recipient, raw)))
            if outbox.relay_down:
                break  # the rest of the round waits for the next one
            if len(outcomes) >= RECORD_EVERY:
                _record(engine, config, outcomes, now, result)
                outcomes = []
    finally:
        outbox.close()
        _record(engine, config, outcomes, now, result, last=True)
    return result


def _record(engine: Engine, config: Config, outcomes: list[tuple[int, Failure | None]],
            now: datetime, result: DeliveryRound, last: bool = False) -> None:
    if not outcomes:
        return
    with session_scope(engine) as db:
        if last:
            relay_failure = next((f for _, f in outcomes if f is not None and f.relay_wide), None)
            record_relay_state(db, config, relay_failure, accepted=any(f is None for _, f in outcomes), now=now)
        for row_id, failure in outcomes:
            row = db.get(OutboundMessage, row_id)
            if row is None:
                continue
            if failure is None:
                mark_sent(row, now)
                result.sent += 1
            else:
                record_failure(db, config, row, failure, now, result)
