"""The fan-out queue: accepted posts waiting to be distributed, who receives each one, and
the state of every subscriber's copy (pending, sent, failed; attempts and backoff).

The gateway only writes one Fanout row in the transaction that stores a post; the worker
expands it into one Delivery row per recipient (in one transaction) and records each
copy's outcome, so that a restart resumes where it stopped and no copy is sent twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from storage.models import (
    Address,
    Category,
    CategoryFollow,
    Delivery,
    DeliveryMode,
    Fanout,
    FollowLevel,
    Message,
    Organisation,
    OutboundStatus,
    Person,
    Role,
    Subscription,
    Topic,
    TopicFollow,
)

_fanouts, _deliveries, _messages = Fanout.__table__, Delivery.__table__, Message.__table__
_INSERT_FANOUT = insert(_fanouts)
_INSERT_DELIVERY = insert(_deliveries)


def queue_fanout(session: Session, message_pk: int, now: datetime) -> None:
    """Record that a stored post is to be distributed (one row: the SMTP path stays short)."""
    session.execute(_INSERT_FANOUT, {"message_pk": message_pk, "created_at": now})


def pending_fanouts(session: Session, limit: int) -> list[tuple[int, int]]:
    """(fanout id, message pk) of posts not yet expanded, oldest first."""
    return [tuple(r) for r in session.execute(  # type: ignore[misc]
        select(Fanout.id, Fanout.message_pk).where(Fanout.expanded_at.is_(None))
        .order_by(Fanout.id).limit(limit))]


@dataclass(frozen=True)
class Recipient:
    subscription_id: int
    address: str


def active_subscribers(session: Session, modes: tuple[DeliveryMode, ...]) -> list[tuple[int, int, DeliveryMode, str]]:
    """(subscription id, person id, mode, address) of members whose subscription delivers,
    to each person's first address."""
    active = (Person.role != Role.ARCHIVE, Subscription.disabled_at.is_(None), Subscription.mode.in_(modes))
    # Two plain scans rather than a join on a grouped subquery: planners estimate them well
    # even on freshly loaded tables.
    subscriptions = session.execute(
        select(Subscription.id, Subscription.person_id, Subscription.mode)
        .join(Person, Person.id == Subscription.person_id).where(*active).order_by(Subscription.id)).all()
    first_address: dict[int, str] = {}
    for person_id, email in session.execute(
            select(Address.person_id, Address.email)
            .join(Subscription, Subscription.person_id == Address.person_id)
            .join(Person, Person.id == Address.person_id).where(*active).order_by(Address.id)):
        first_address.setdefault(person_id, email)
    return [(sid, pid, DeliveryMode(mode), first_address[pid])
            for sid, pid, mode in subscriptions if pid in first_address]


def recipients_for(session: Session, message_pk: int, *, copy_to_author: bool) -> list[Recipient]:
    """Who receives a copy of a post, by delivery mode and follows.

    `all`: every post; `topics`: the first message of a topic, and every message of topics
    the person started, wrote in, follows, or whose category they follow; a followed topic
    is sent in either mode, a muted one never; `digest` and `none`: no copy.
    """
    post = session.execute(select(Message.topic_id, Message.author_id, Topic.author_id, Topic.category_id)
                           .join(Topic, Topic.id == Message.topic_id)
                           .where(Message.id == message_pk)).first()
    if post is None:
        return []
    topic_id, author_id, topic_author_id, category_id = post
    first_pk = session.scalar(select(Message.id).where(Message.topic_id == topic_id)
                              .order_by(Message.date, Message.id).limit(1))
    opens_topic = first_pk == message_pk
    levels = dict(session.execute(select(TopicFollow.person_id, TopicFollow.level)
                                  .where(TopicFollow.topic_id == topic_id)).all())
    participants = set(session.scalars(select(Message.author_id).where(Message.topic_id == topic_id)
                                       .distinct()))
    participants.add(topic_author_id)
    category_followers = set(session.scalars(
        select(CategoryFollow.person_id).where(CategoryFollow.category_id == category_id))) \
        if category_id is not None else set()
    chosen = []
    for subscription_id, person_id, mode, address in active_subscribers(
            session, (DeliveryMode.ALL, DeliveryMode.TOPICS)):
        level = levels.get(person_id)
        if level == FollowLevel.MUTE or (person_id == author_id and not copy_to_author):
            continue
        if (mode is DeliveryMode.ALL or level == FollowLevel.FOLLOW or opens_topic
                or person_id in participants or person_id in category_followers):
            chosen.append(Recipient(subscription_id, address))
    return chosen


def add_deliveries(session: Session, fanout_id: int, message_pk: int, recipients: list[Recipient],
                   now: datetime) -> None:
    """Expand a fan-out into one pending copy per recipient, in the caller's transaction."""
    if recipients:
        session.execute(_INSERT_DELIVERY, [
            {"message_pk": message_pk, "subscription_id": r.subscription_id, "recipient": r.address,
             "status": OutboundStatus.PENDING.value, "attempts": 0, "created_at": now,
             "next_attempt_at": now, "last_error": ""} for r in recipients])
    session.execute(update(_fanouts).where(_fanouts.c.id == fanout_id).values(expanded_at=now))


@dataclass(frozen=True)
class DueCopy:
    id: int
    message_pk: int
    subscription_id: int
    recipient: str
    language: str | None = None  # the recipient's, for the footer


def due_copies(session: Session, now: datetime, limit: int) -> list[DueCopy]:
    """The copies to send now, oldest first. The caller records the outcome of those it
    sent before asking again: a copy still pending is chosen again."""
    return [DueCopy(*r) for r in session.execute(
        select(Delivery.id, Delivery.message_pk, Delivery.subscription_id, Delivery.recipient, Person.language)
        .outerjoin(Subscription, Subscription.id == Delivery.subscription_id)
        .outerjoin(Person, Person.id == Subscription.person_id)
        .where(Delivery.status == OutboundStatus.PENDING, Delivery.next_attempt_at <= now)
        .order_by(Delivery.next_attempt_at, Delivery.id).limit(limit))]


def mark_copies_sent(session: Session, ids: list[int], now: datetime) -> None:
    if ids:
        session.execute(update(_deliveries).where(_deliveries.c.id.in_(ids)).values(
            status=OutboundStatus.SENT.value, sent_at=now, attempts=_deliveries.c.attempts + 1,
            last_error=""))


def fail_copies_of(session: Session, message_pk: int, error: str, now: datetime) -> int:
    """Record every pending copy of a post as failed at once (a post that cannot be sent)."""
    result = session.execute(update(_deliveries).where(
        _deliveries.c.message_pk == message_pk, _deliveries.c.status == OutboundStatus.PENDING.value).values(
        status=OutboundStatus.FAILED.value, attempts=_deliveries.c.attempts + 1, last_error=error[:2000]))
    return result.rowcount or 0


@dataclass(frozen=True)
class PostFacts:
    """What the copies of a post are built from."""

    message_pk: int
    raw: bytes
    topic_id: int
    subject: str
    from_name: str
    from_address: str
    organisation: str
    category: str
    message_id: str
    date: datetime


def post_facts(session: Session, message_pk: int) -> PostFacts | None:
    row = session.execute(
        select(Message.id, Message.raw, Message.topic_id, Message.subject, Message.from_name,
               Message.from_address, Organisation.name, Category.name, Message.message_id, Message.date)
        .join(Topic, Topic.id == Message.topic_id)
        .outerjoin(Person, Person.id == Message.author_id)
        .outerjoin(Organisation, Organisation.id == Person.organisation_id)
        .outerjoin(Category, Category.id == Topic.category_id)
        .where(Message.id == message_pk)).first()
    if row is None:
        return None
    return PostFacts(row[0], row[1], row[2], row[3], row[4], row[5], row[6] or "", row[7] or "", row[8], row[9])


def delivery_counts(session: Session) -> dict[str, int]:
    counts = {status.value: 0 for status in OutboundStatus}
    for status, count in session.execute(select(Delivery.status, func.count()).group_by(Delivery.status)):
        counts[OutboundStatus(status).value] = count
    counts["posts_to_expand"] = session.scalar(
        select(func.count()).select_from(Fanout).where(Fanout.expanded_at.is_(None))) or 0
    return counts
