"""What the daily digest is made of: who reads in digest mode, the messages each has not
received yet, the topics each muted, and how far each digest went."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from storage.fanout import active_subscribers
from storage.models import Category, DeliveryMode, FollowLevel, Message, Person, Subscription, Topic, TopicFollow


@dataclass(frozen=True)
class DigestReader:
    subscription_id: int
    person_id: int
    address: str
    after_pk: int | None
    language: str | None = None


@dataclass(frozen=True)
class DigestMessage:
    pk: int
    topic_id: int
    topic_subject: str
    category: str
    subject: str
    author: str
    date: datetime
    text: str | None  # None until the indexing job has read the body
    raw: bytes


def digest_readers(session: Session) -> list[DigestReader]:
    after = dict(session.execute(select(Subscription.id, Subscription.digest_after_pk)
                                 .where(Subscription.mode == DeliveryMode.DIGEST)).all())
    languages = dict(session.execute(select(Person.id, Person.language).join(Subscription)
                                     .where(Subscription.mode == DeliveryMode.DIGEST)).all())
    return [DigestReader(sid, pid, address, after.get(sid), languages.get(pid))
            for sid, pid, _, address in active_subscribers(session, (DeliveryMode.DIGEST,))]


def newest_message_pk(session: Session) -> int:
    return session.scalar(select(func.max(Message.id))) or 0


def digest_messages(session: Session, after_pk: int | None, since: datetime, until_pk: int) -> list[DigestMessage]:
    """Messages after `after_pk` (or received since `since` when None) up to `until_pk`,
    grouped by topic, oldest first."""
    condition = Message.id > after_pk if after_pk is not None else Message.received_at >= since
    rows = session.execute(
        select(Message.id, Message.topic_id, Topic.subject, Category.name, Message.subject,
               Message.from_name, Message.from_address, Message.date, Message.text, Message.raw)
        .join(Topic, Topic.id == Message.topic_id).outerjoin(Category, Category.id == Topic.category_id)
        .where(condition, Message.id <= until_pk)
        .order_by(Topic.created_at, Topic.id, Message.date, Message.id))
    return [DigestMessage(r[0], r[1], r[2], r[3] or "", r[4], r[5] or r[6], r[7], r[8], r[9]) for r in rows]


def muted_topics(session: Session, person_ids: list[int]) -> dict[int, set[int]]:
    muted: dict[int, set[int]] = {}
    for person_id, topic_id in session.execute(
            select(TopicFollow.person_id, TopicFollow.topic_id)
            .where(TopicFollow.level == FollowLevel.MUTE, TopicFollow.person_id.in_(person_ids))):
        muted.setdefault(person_id, set()).add(topic_id)
    return muted


def mark_digest_sent(session: Session, subscription_ids: list[int], until_pk: int) -> None:
    if subscription_ids:
        session.execute(update(Subscription).where(Subscription.id.in_(subscription_ids))
                        .values(digest_after_pk=until_pk))
