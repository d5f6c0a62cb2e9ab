"""What moderators change and the audit log that records it: a topic's status, resolution
and category, held-message decisions, always-allowed senders, and the command mails that
wait for authentication or confirmation.

Every change goes through here and writes one audit row (who, what, when, before, after) in
the caller's transaction; the search index is told when a topic's indexed facts change.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from storage.categories import category_for_name
from storage.models import (
    Address,
    AllowedSender,
    CommandMail,
    DeliveryMode,
    FollowLevel,
    CommandStatus,
    HeldMessage,
    HeldStatus,
    Message,
    ModerationLogEntry,
    Person,
    Resolution,
    Role,
    SignedCommand,
    Subscription,
    Topic,
    TopicFollow,
    TopicStatus,
    utcnow,
)
from storage.people import normalise_address
from storage.search_queue import mark_topic_for_reindex

MODERATOR_ROLES = (Role.MODERATOR, Role.ADMIN)


class ModerationError(Exception):
    """A moderation action that cannot be done; the message says why (shown to the moderator)."""


def log_action(session: Session, *, actor_id: int | None, via: str, action: str,
               topic_id: int | None = None, held_id: int | None = None,
               before: str = "", after: str = "") -> ModerationLogEntry:
    entry = ModerationLogEntry(actor_id=actor_id, via=via, action=action, topic_id=topic_id,
                               held_id=held_id, before=before[:2000], after=after[:2000])
    session.add(entry)
    return entry


def audit_log(session: Session, *, topic_id: int | None = None, limit: int = 200,
              offset: int = 0) -> list[ModerationLogEntry]:
    """The audit log, newest first (of one topic if given), with each actor loaded."""
    query = select(ModerationLogEntry).options(selectinload(ModerationLogEntry.actor))
    if topic_id is not None:
        query = query.where(ModerationLogEntry.topic_id == topic_id)
    return list(session.scalars(query.order_by(ModerationLogEntry.at.desc(), ModerationLogEntry.id.desc())
                                .limit(limit).offset(offset)))


def is_moderator(session: Session, person_id: int | None) -> bool:
    person = session.get(Person, person_id) if person_id is not None else None
    return person is not None and person.role in MODERATOR_ROLES


def moderator_addresses(session: Session) -> list[str]:
    """The first address of each moderator and admin: where held-message notices go."""
    people = session.scalars(select(Person).where(Person.role.in_(MODERATOR_ROLES))
                             .options(selectinload(Person.addresses)).order_by(Person.id))
    return [p.addresses[0].email for p in people if p.addresses]


def is_closed(session: Session, topic_id: int) -> bool:
    return session.scalar(select(Topic.status).where(Topic.id == topic_id)) is TopicStatus.CLOSED


def _topic(session: Session, topic_id: int | None) -> Topic:
    topic = session.get(Topic, topic_id) if topic_id is not None else None
    if topic is None:
        raise ModerationError(f"unknown topic #{topic_id}" if topic_id else "no topic named")
    return topic


def _state(topic: Topic) -> str:
    if topic.status is TopicStatus.OPEN:
        return "open"
    return f"closed ({topic.resolution.value})" if topic.resolution else "closed"


@dataclass(frozen=True)
class Change:
    topic_id: int
    before: str
    after: str


def close_topic(session: Session, topic_id: int | None, resolution: Resolution, *,
                actor_id: int | None, via: str, answer_message_id: int | None = None) -> Change:
    """Close with a resolution. With `solution`, `answer_message_id` becomes the accepted
    answer if it is a reply in this topic (the message that opened a thread is the question,
    never its answer); another resolution has none."""
    topic = _topic(session, topic_id)
    before = _state(topic)
    topic.status, topic.resolution = TopicStatus.CLOSED, resolution
    if resolution is not Resolution.SOLUTION:
        topic.answer_message_id = None
    elif answer_message_id is not None and session.scalar(
            select(Message.topic_id).where(Message.id == answer_message_id,
                                           Message.parent_id.is_not(None))) == topic.id:
        topic.answer_message_id = answer_message_id
    return _changed(session, topic, "close", before, _state(topic), actor_id, via)


def reopen_topic(session: Session, topic_id: int | None, *, actor_id: int | None, via: str) -> Change:
    """Open again: a reopened topic is unresolved, so its resolution and answer are cleared."""
    topic = _topic(session, topic_id)
    before = _state(topic)
    topic.status = TopicStatus.OPEN
    topic.resolution = None
    topic.answer_message_id = None
    return _changed(session, topic, "reopen", before, _state(topic), actor_id, via)


def status_notice_addresses(session: Session, topic_id: int, *, except_person_id: int | None) -> list[str]:
    """Who is told that a topic was closed or reopened: the members who wrote in it (unless
    they receive nothing, mode `none`) and those who follow it; never who muted it, whose
    delivery is disabled by bounces, or the moderator who did it. One address each."""
    writers = set(session.scalars(select(Message.author_id).where(Message.topic_id == topic_id,
                                                                 Message.author_id.is_not(None)).distinct()))
    levels = dict(session.execute(select(TopicFollow.person_id, TopicFollow.level)
                                  .where(TopicFollow.topic_id == topic_id)).all())
    wanted = (writers | {p for p, level in levels.items() if level is FollowLevel.FOLLOW}) - \
        {p for p, level in levels.items() if level is FollowLevel.MUTE} - {except_person_id}
    if not wanted:
        return []
    rows = session.execute(
        select(Person.id, Subscription.mode, Subscription.disabled_at, Address.email)
        .join(Address, Address.person_id == Person.id)
        .outerjoin(Subscription, Subscription.person_id == Person.id)
        .where(Person.id.in_(wanted), Person.role.in_((Role.MEMBER, *MODERATOR_ROLES)))
        .order_by(Person.id, Address.id))
    addresses: dict[int, str] = {}
    for person_id, mode, disabled_at, address in rows:
        following = levels.get(person_id) is FollowLevel.FOLLOW
        if disabled_at is not None or (mode is DeliveryMode.NONE and not following):
            continue
        addresses.setdefault(person_id, address)
    return list(addresses.values())


def set_topic_category(session: Session, topic_id: int | None, name: str, *,
                       actor_id: int | None, via: str) -> tuple[Change, bool]:
    """Put a topic in the category of that name, created on first use; (change, created)."""
    topic = _topic(session, topic_id)
    category, created = category_for_name(session, name)
    if created:
        log_action(session, actor_id=actor_id, via=via, action="category-create", after=category.name)
    before = topic.category.name if topic.category else ""
    topic.category = category
    return _changed(session, topic, "category", before, category.name, actor_id, via), created


def _changed(session: Session, topic: Topic, action: str, before: str, after: str,
             actor_id: int | None, via: str) -> Change:
    session.flush()
    log_action(session, actor_id=actor_id, via=via, action=action, topic_id=topic.id,
               before=before, after=after)
    # The index files each message under its topic's status, resolution and category.
    mark_topic_for_reindex(session, topic.id)
    return Change(topic.id, before, after)


def pending_held_message(session: Session, held_id: int | None) -> HeldMessage:
    held = session.get(HeldMessage, held_id) if held_id is not None else None
    if held is None:
        raise ModerationError(f"unknown held message #{held_id}" if held_id else "no held message named")
    if held.status is not HeldStatus.PENDING:
        raise ModerationError(f"held message #{held.id} was already {held.status.value}")
    return held


def decide_held(session: Session, held: HeldMessage, status: HeldStatus, *, actor_id: int | None,
                via: str, reason: str = "") -> None:
    held.status, held.decided_at, held.decided_by_id = status, utcnow(), actor_id
    action = "approve" if status is HeldStatus.APPROVED else "reject"
    log_action(session, actor_id=actor_id, via=via, action=action, held_id=held.id,
               topic_id=held.topic_hint, before=f"{held.from_address}: {held.subject}", after=reason)


def allow_sender(session: Session, address: str, *, actor_id: int | None, via: str) -> bool:
    """Always accept this address's posts from now on; False if it already was."""
    email = normalise_address(address)
    if not email or is_allowed_sender(session, email):
        return False
    session.add(AllowedSender(email=email[:320], added_by_id=actor_id))
    log_action(session, actor_id=actor_id, via=via, action="allow-sender", after=email)
    return True


def is_allowed_sender(session: Session, address: str) -> bool:
    return session.scalar(select(AllowedSender.id).where(
        AllowedSender.email == normalise_address(address))) is not None


# Command mails: recorded by the gateway, authenticated and applied by the commands job.

def add_command_mail(session: Session, *, message_id: str, from_address: str, person_id: int | None,
                     raw: bytes, commands: list[str], sent_to_topic: int | None = None,
                     posted: bool = False) -> CommandMail:
    """Record a command mail; what it acts on is found later, from what its proof covers."""
    row = CommandMail(message_id=message_id[:995], from_address=normalise_address(from_address)[:320],
                      person_id=person_id, raw=raw, commands="\n".join(commands),
                      sent_to_topic=sent_to_topic, posted=posted)
    session.add(row)
    session.flush()
    return row


def topic_opened_by(session: Session, message_id: str) -> int | None:
    """The topic whose first message is the one stored under this Message-ID, if it is."""
    stored = session.scalar(select(Message).where(Message.message_id == message_id))
    if stored is None or stored.parent_id is not None:
        return None
    first = session.scalar(select(func.min(Message.id)).where(Message.topic_id == stored.topic_id))
    return stored.topic_id if first == stored.id else None


def _signature_hash(signature: str) -> str:
    return hashlib.sha256(signature.encode()).hexdigest()


def signed_mail_acted(session: Session, signature: str) -> bool:
    """Whether a command mail with this signature (its b= value) has acted already."""
    return session.scalar(select(SignedCommand.id).where(
        SignedCommand.signature_hash == _signature_hash(signature))) is not None


def record_signed_mail(session: Session, signature: str, command_mail_id: int) -> None:
    session.add(SignedCommand(signature_hash=_signature_hash(signature), command_mail_id=command_mail_id))
    session.flush()


def command_mail_known(session: Session, message_id: str) -> bool:
    """An MTA retry of a command mail already received is not applied twice."""
    return session.scalar(select(CommandMail.id).where(CommandMail.message_id == message_id)) is not None


def received_command_mails(session: Session, limit: int) -> list[tuple[int, bytes, str]]:
    """(id, raw bytes, From address) of command mails waiting for authentication."""
    return [tuple(r) for r in session.execute(  # type: ignore[misc]
        select(CommandMail.id, CommandMail.raw, CommandMail.from_address)
        .where(CommandMail.status == CommandStatus.RECEIVED).order_by(CommandMail.id).limit(limit))]


def claim_confirmation(session: Session, command_id: int, now: datetime,
                       max_age_hours: int) -> CommandMail | None:
    """The command mail a confirmation names, marked confirmed; None if unknown, already
    confirmed, or expired (single use)."""
    row = session.get(CommandMail, command_id)
    if row is None or row.status is not CommandStatus.AWAITING or row.confirmed_at is not None:
        return None
    if (now - row.received_at).total_seconds() > max_age_hours * 3600:
        return None
    row.confirmed_at = now
    return row
