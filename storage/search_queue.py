"""The search index's durable queue: which messages wait to be (re)indexed.

`messages.indexed_at` is the queue. NULL: the message waits (new, or marked again
because its topic changed); CLAIMED: the indexing job is writing it right now; a date: the
index has it. A crash leaves NULL and CLAIMED rows, which the next start picks up again. A
change marked while the job works on a message turns CLAIMED back into NULL, and the job
only turns CLAIMED into a date, so no change is lost.

A message whose body cannot be read is *set aside*: it leaves the queue with a date like
any other, and `unreadable_reason` says why (moderators see the list), so that one hostile
message never holds the queue. The indexing job is the only one to claim, one batch at a
time, so whatever is CLAIMED when it starts a run was left by a failed run (a crash, a
database outage) and goes back to the queue.

Locks (PostgreSQL): the indexing job never waits for a row lock. Its claim, its finish and
its release lock the rows they change first, by ascending id, skipping those another
transaction holds (the ingest writer merging topics, a moderator's change): a row skipped
stays claimed, and the next run takes it again. A transaction that never waits cannot be
part of a deadlock. The marking functions lock by ascending id too.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session

from storage.models import Message

# A date no real indexing has: "being indexed now".
CLAIMED = datetime(1970, 1, 1, tzinfo=timezone.utc)


def lock_messages(session: Session, where: ColumnElement[bool]) -> list[int]:
    """Lock the rows of these messages for update, by ascending id (a no-op on SQLite,
    whose write lock is taken at BEGIN); returns their ids."""
    # NO KEY UPDATE: the ingest writer's inserts that only reference these rows go on.
    return list(session.scalars(select(Message.id).where(where).order_by(Message.id)
                                .with_for_update(key_share=True)))


def claim_pending(session: Session, limit: int) -> list[int]:
    """Take up to `limit` waiting messages, oldest first, for the indexing job."""
    pks = list(session.scalars(select(Message.id).where(Message.indexed_at.is_(None))
                               .order_by(Message.id).limit(limit)
                               .with_for_update(key_share=True, skip_locked=True)))
    if pks:
        session.execute(update(Message).where(Message.id.in_(pks)).values(indexed_at=CLAIMED))
    return pks


def lock_claimed(session: Session, pks: Iterable[int]) -> list[int]:
    """Lock those of these messages that are still claimed and that no other transaction
    holds, by ascending id; returns them. The caller records only those."""
    return list(session.scalars(select(Message.id).where(Message.id.in_(list(pks)), Message.indexed_at == CLAIMED)
                                .order_by(Message.id).with_for_update(key_share=True, skip_locked=True)))


def finish_indexing(session: Session, pks: Iterable[int], indexed_at: datetime) -> None:
    """Record that the index has these messages (locked by lock_claimed), unless a change
    came in meanwhile."""
    session.execute(update(Message).where(Message.id.in_(list(pks)), Message.indexed_at == CLAIMED)
                    .values(indexed_at=indexed_at))


def set_aside(session: Session, pk: int, reason: str, at: datetime) -> None:
    """Take an unreadable message out of the queue for good, saying why (its text stays
    NULL: pages show that it could not be read)."""
    session.execute(update(Message).where(Message.id == pk)
                    .values(unreadable_reason=reason[:500] or "unreadable", text=None, indexed_at=at))


def unreadable_among(session: Session, pks: Iterable[int]) -> dict[int, str]:
    """Which of these messages were set aside already, and why (they are not read again)."""
    return dict(session.execute(select(Message.id, Message.unreadable_reason)
                                .where(Message.id.in_(list(pks)), Message.unreadable_reason.is_not(None))).all())


def release_claims(session: Session, pks: Iterable[int] | None = None) -> int:
    """Put claimed messages back in the queue (after a failure, or left by a crash or an
    outage); those another transaction holds now are left for the next call."""
    where = Message.indexed_at == CLAIMED
    if pks is not None:
        where = where & Message.id.in_(list(pks))
    locked = list(session.scalars(select(Message.id).where(where).order_by(Message.id)
                                  .with_for_update(key_share=True, skip_locked=True)))
    if not locked:
        return 0
    return session.execute(update(Message).where(Message.id.in_(locked), Message.indexed_at == CLAIMED)
                           .values(indexed_at=None)).rowcount


def mark_topic_for_reindex(session: Session, topic_id: int) -> None:
    """Have every message of a topic indexed again: call it after changing the topic's
    title, status, resolution or category (the indexing job does it within seconds)."""
    lock_messages(session, Message.topic_id == topic_id)
    session.execute(update(Message).where(Message.topic_id == topic_id).values(indexed_at=None))


def mark_for_reindex(session: Session, pks: Iterable[int]) -> None:
    """Have these messages indexed again."""
    where = Message.id.in_(list(pks))
    lock_messages(session, where)
    session.execute(update(Message).where(where).values(indexed_at=None))


def mark_all_for_reindex(session: Session) -> int:
    """Have every message indexed again (a new, empty index)."""
    return session.execute(update(Message).where(Message.indexed_at.is_not(None))
                           .values(indexed_at=None)).rowcount


def mark_indexed_since(session: Session, since: datetime) -> int:
    """Have the messages indexed at or after `since` indexed again: `relais reindex` calls
    it after the swap, for what the running server wrote into the old index meanwhile."""
    return session.execute(update(Message).where(Message.indexed_at >= since)
                           .values(indexed_at=None)).rowcount


def set_aside_messages(session: Session, limit: int = 500) -> list[Message]:
    """The messages set aside as unreadable, most recently received first (for moderators)."""
    return list(session.scalars(select(Message).where(Message.unreadable_reason.is_not(None))
                                .order_by(Message.received_at.desc(), Message.id.desc()).limit(limit)))
