"""Mail to the -request and -bounces addresses, kept by the gateway until a job has acted on
it, and the member requests that wait for their confirmation round-trip."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session, defer

from storage.models import ControlMessage, MemberRequest


def pending_control_messages(session: Session, kind: str, limit: int) -> list[tuple[int, str, str, bytes]]:
    """(id, recipient, envelope sender, raw bytes) of unprocessed mail of a kind, oldest first."""
    return [tuple(r) for r in session.execute(  # type: ignore[misc]
        select(ControlMessage.id, ControlMessage.recipient, ControlMessage.envelope_from, ControlMessage.raw)
        .where(ControlMessage.kind == kind, ControlMessage.processed_at.is_(None))
        .order_by(ControlMessage.id).limit(limit))]


def mark_processed(session: Session, control_id: int, now: datetime) -> None:
    session.execute(update(ControlMessage).where(ControlMessage.id == control_id).values(processed_at=now))


def keep_for_moderators(session: Session, control_id: int, reason: str, failed_addresses: list[str]) -> None:
    """Mark a bounce as not acted on, with why and the members' addresses it names."""
    session.execute(update(ControlMessage).where(ControlMessage.id == control_id).values(
        kept_reason=reason[:200], failed_addresses=" ".join(failed_addresses)[:4000]))


def kept_bounces(session: Session, limit: int = 100) -> list[ControlMessage]:
    """The bounces kept for moderators (never counted), newest first."""
    return list(session.scalars(select(ControlMessage).where(
        ControlMessage.kind == "bounces", ControlMessage.kept_reason != "")
        .options(defer(ControlMessage.raw)).order_by(ControlMessage.id.desc()).limit(limit)))


def add_member_request(session: Session, address: str, command: str, argument: str) -> MemberRequest:
    request = MemberRequest(address=address, command=command, argument=argument)
    session.add(request)
    session.flush()
    return request


def claim_member_request(session: Session, request_id: int, now: datetime) -> MemberRequest | None:
    """The request a confirmation names, marked confirmed; None if unknown or already used."""
    request = session.get(MemberRequest, request_id)
    if request is None or request.confirmed_at is not None:
        return None
    request.confirmed_at = now
    return request
