"""A moderator's decision on a held message, by mail or on the web: approve it (it goes
through the same steps as a post: threading, storing, delivery), reject it (its sender is
told why), or always allow its sender. Each decision writes an audit row."""

from __future__ import annotations

from mailgateway import steps
from mailgateway.automated import is_automated
from mailgateway.notices import may_answer, queue_notice
from mailgateway.parse import parse_message
from mailgateway.pipeline import Inbound, Outcome, Rejected, run
from storage.config import Config
from storage.db import Session
from storage.models import HeldMessage, HeldStatus, utcnow
from storage.moderation import ModerationError, allow_sender, decide_held, pending_held_message


def approve_held(session: Session, config: Config, secret: str, held_id: int | None, *,
                 actor_id: int | None, via: str) -> tuple[HeldMessage, Outcome]:
    """Publish a held message; raises ModerationError if it is unknown or already decided."""
    held = pending_held_message(session, held_id)
    inbound = Inbound(raw=held.raw, config=config, secret=secret, envelope_from=held.envelope_from,
                      topic_hint=held.topic_hint, received_at=held.received_at)
    try:
        outcome = run(session, inbound, steps.APPROVED)
    except Rejected as refused:
        raise ModerationError(f"the message cannot be published: {refused.reply}") from None
    if outcome.stored is not None:
        held.topic_hint = outcome.stored.topic_id  # where it went, for the audit log
    decide_held(session, held, HeldStatus.APPROVED, actor_id=actor_id, via=via)
    return held, outcome


def reject_held(session: Session, config: Config, held_id: int | None, *, actor_id: int | None,
                via: str, reason: str = "") -> HeldMessage:
    """Refuse a held message; its sender is told, with the moderator's reason if given."""
    held = pending_held_message(session, held_id)
    reason = " ".join(reason.split())[:1000]
    decide_held(session, held, HeldStatus.REJECTED, actor_id=actor_id, via=via, reason=reason)
    parsed = parse_message(held.raw, config.domain)
    sender = held.from_address or held.envelope_from
    # The sender never proved the address theirs: no echo of their text, few answers a day.
    if sender and not is_automated(parsed, held.envelope_from) and may_answer(session, config, sender, utcnow()):
        queue_notice(session, config, to=sender, name="held-rejected", purpose="held-notice",
                     received=held.received_at, reason=reason)
    return held


def allow_and_approve(session: Session, config: Config, secret: str, held_id: int | None, *,
                      actor_id: int | None, via: str) -> tuple[HeldMessage, Outcome]:
    """Always accept this sender from now on, and publish the held message."""
    held = pending_held_message(session, held_id)
    if not held.from_address:
        raise ModerationError("the held message has no From address to allow")
    allow_sender(session, held.from_address, actor_id=actor_id, via=via)
    return approve_held(session, config, secret, held.id, actor_id=actor_id, via=via)
