"""Messages held for moderation: kept whole until a moderator decides."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import HeldMessage, HeldStatus


def hold_message(session: Session, *, raw: bytes, message_id: str, envelope_from: str,
                 from_address: str, subject: str, reason: str,
                 topic_hint: int | None = None) -> tuple[HeldMessage, bool]:
    """Hold a message; an MTA retry of one already pending is not held twice (False)."""
    pending = session.scalar(select(HeldMessage).where(
        HeldMessage.message_id == message_id, HeldMessage.status == HeldStatus.PENDING))
    if pending is not None:
        return pending, False
    held = HeldMessage(raw=raw, message_id=message_id, envelope_from=envelope_from,
                       from_address=from_address, subject=subject[:2000], reason=reason,
                       topic_hint=topic_hint)
    session.add(held)
    session.flush()
    return held, True


def pending_held(session: Session) -> list[HeldMessage]:
    return list(session.scalars(select(HeldMessage).where(HeldMessage.status == HeldStatus.PENDING)
                                .order_by(HeldMessage.received_at)))
