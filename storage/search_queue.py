"""The search index's durable queue: which messages wait to be (re)indexed.

`messages.indexed_at` is the queue. NULL: the message waits (new, or marked again
because its topic changed); CLAIMED: the indexing job is writing it right now; a date: the
index has it. A crash leaves NULL and CLAIMED rows, which the next start picks up again. A
change marked while the job works on a message turns CLAIMED back into NULL, and the job
only turns CLAIMED into a date, so no change is lost.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storage.models import Message

# A date no real indexing has: "being indexed now".
CLAIMED = datetime(1970, 1, 1, tzinfo=timezone.utc)


def claim_pending(session: Session, limit: int) -> list[int]:
    """Take up to `limit` waiting messages, oldest first, for the indexing job."""
    pks = list(session.scalars(select(Message.id).where(Message.indexed_at.is_(None))
                               .order_by(Message.id).limit(limit)))
    if pks:
        session.execute(update(Message).where(Message.id.in_(pks)).values(indexed_at=CLAIMED))
    return pks


def finish_indexing(session: Session, pks: Iterable[int], indexed_at: datetime) -> None:
    """Record that the index has these messages, unless a change came in meanwhile."""
    session.execute(update(Message).where(Message.id.in_(list(pks)), Message.indexed_at == CLAIMED)
                    .values(indexed_at=indexed_at))


def release_claims(session: Session, pks: Iterable[int] | None = None) -> int:
    """Put claimed messages back in the queue (after a failure, or at start-up after a crash)."""
    query = update(Message).where(Message.indexed_at == CLAIMED)
    if pks is not None:
        query = query.where(Message.id.in_(list(pks)))
    return session.execute(query.values(indexed_at=None)).rowcount


def mark_topic_for_reindex(session: Session, topic_id: int) -> None:
    """Have every message of a topic indexed again: call it after changing the topic's
    title, status, resolution or category (the indexing job does it within seconds)."""
    session.execute(update(Message).where(Message.topic_id == topic_id).values(indexed_at=None))


def mark_for_reindex(session: Session, pks: Iterable[int]) -> None:
    """Have these messages indexed again."""
    session.execute(update(Message).where(Message.id.in_(list(pks))).values(indexed_at=None))


def mark_all_for_reindex(session: Session) -> int:
    """Have every message indexed again (a new, empty index)."""
    return session.execute(update(Message).where(Message.indexed_at.is_not(None))
                           .values(indexed_at=None)).rowcount


def mark_indexed_since(session: Session, since: datetime) -> int:
    """Have the messages indexed at or after `since` indexed again: `relais reindex` calls
    it after the swap, for what the running server wrote into the old index meanwhile."""
    return session.execute(update(Message).where(Message.indexed_at >= since)
                           .values(indexed_at=None)).rowcount
