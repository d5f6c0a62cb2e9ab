"""The durable outgoing queue of pre-composed mail (notices, confirmations, digests): rows
written in the transaction that caused them, sent after the commit by the delivery worker,
retried with backoff. The copies of posts have their own queue (storage.fanout) and share
the backoff rule and the counts here."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.fanout import delivery_counts
from storage.models import Delivery, OutboundMessage, OutboundStatus, RelayPause


def queue_mail(session: Session, *, envelope_from: str, recipient: str, raw: bytes,
               purpose: str) -> OutboundMessage:
    row = OutboundMessage(envelope_from=envelope_from, recipient=recipient, raw=raw, purpose=purpose)
    session.add(row)
    return row


def due_mail(session: Session, now: datetime, limit: int) -> list[OutboundMessage]:
    return list(session.scalars(
        select(OutboundMessage)
        .where(OutboundMessage.status == OutboundStatus.PENDING, OutboundMessage.next_attempt_at <= now)
        .order_by(OutboundMessage.next_attempt_at, OutboundMessage.id).limit(limit)))


def mark_sent(row: OutboundMessage, now: datetime) -> None:
    row.status, row.sent_at, row.attempts, row.last_error = OutboundStatus.SENT, now, row.attempts + 1, ""


def mark_failed(row: OutboundMessage | Delivery, error: str, *, permanent: bool, now: datetime,
                retry_base: timedelta, give_up_after: timedelta) -> None:
    """Record a failed attempt: retry later with exponential backoff, or give up."""
    row.attempts += 1
    row.last_error = error[:2000]
    if permanent or now - row.created_at >= give_up_after:
        row.status = OutboundStatus.FAILED
        return
    delay = retry_base * (2 ** min(row.attempts - 1, 12))
    row.next_attempt_at = min(now + delay, row.created_at + give_up_after)


_PAUSE_ROW = 1
MAX_PAUSE = timedelta(hours=1)


def relay_paused_until(session: Session, now: datetime) -> datetime | None:
    """When sending may start again, if the relay is paused at `now`."""
    until = session.scalar(select(RelayPause.paused_until).where(RelayPause.id == _PAUSE_ROW))
    return until if until is not None and until > now else None


def pause_relay(session: Session, error: str, *, now: datetime, base: timedelta) -> datetime:
    """Record a failure of the relay itself: sending pauses for `base`, doubled at each
    failure in a row (at most an hour, or `base` if longer). Returns the end of the pause."""
    pause = session.get(RelayPause, _PAUSE_ROW, with_for_update=True)
    if pause is None:
        pause = RelayPause(id=_PAUSE_ROW, failures=0)
        session.add(pause)
    pause.failures = (pause.failures or 0) + 1
    pause.last_error = error[:2000]
    pause.paused_until = now + min(base * (2 ** min(pause.failures - 1, 12)), max(base, MAX_PAUSE))
    return pause.paused_until


def relay_recovered(session: Session) -> None:
    """The relay accepted mail again: the next failure starts a short pause."""
    pause = session.get(RelayPause, _PAUSE_ROW)
    if pause is not None and (pause.failures or pause.paused_until is not None):
        pause.failures, pause.paused_until, pause.last_error = 0, None, ""


def queue_counts(session: Session) -> dict[str, int]:
    """Pending, sent and failed mail: copies of posts and pre-composed mail together, then
    each on its own (`copies_*`, `notices_*`) and the posts not yet expanded into copies."""
    notices = {status.value: 0 for status in OutboundStatus}
    for status, count in session.execute(
            select(OutboundMessage.status, func.count()).group_by(OutboundMessage.status)):
        notices[OutboundStatus(status).value] = count
    copies = delivery_counts(session)
    counts = {status.value: notices[status.value] + copies[status.value] for status in OutboundStatus}
    counts.update({f"copies_{s.value}": copies[s.value] for s in OutboundStatus})
    counts.update({f"notices_{s.value}": notices[s.value] for s in OutboundStatus})
    counts["posts_to_expand"] = copies["posts_to_expand"]
    return counts

