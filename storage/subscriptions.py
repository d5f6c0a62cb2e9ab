"""Subscriptions as members change them: delivery mode, unsubscribing and subscribing again,
per-topic follow and mute, per-category follow, and the bounce score that can disable one."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from storage.models import (
    Address,
    CategoryFollow,
    DeliveryMode,
    FollowLevel,
    Message,
    Person,
    Role,
    Subscription,
    TopicFollow,
)
from storage.people import normalise_address


def delivery_address(session: Session, person_id: int) -> str | None:
    """Where a person's mail goes: their first address."""
    return session.scalar(select(Address.email).where(Address.person_id == person_id)
                          .order_by(Address.id).limit(1))


def member_by_address(session: Session, address: str) -> Person | None:
    """The member (not an archive author) an address belongs to."""
    person = session.scalar(select(Person).join(Address)
                            .where(Address.email == normalise_address(address)))
    return person if person is not None and person.role is not Role.ARCHIVE else None


def set_mode(session: Session, subscription: Subscription, mode: DeliveryMode) -> None:
    """Change the delivery mode; a new digest reader's first digest starts from now."""
    if mode is DeliveryMode.DIGEST and subscription.mode is not DeliveryMode.DIGEST:
        subscription.digest_after_pk = session.scalar(select(func.max(Message.id))) or 0
    subscription.mode = mode


def unsubscribe(session: Session, subscription_id: int) -> Subscription | None:
    """No more mail (mode none); the person stays a member and may post. None if unknown."""
    subscription = session.get(Subscription, subscription_id)
    if subscription is not None:
        subscription.mode = DeliveryMode.NONE
    return subscription


def subscribe(session: Session, person: Person, default_mode: DeliveryMode) -> Subscription:
    """Mail again: the default mode if the person had none, and bounces forgotten."""
    subscription = person.subscription
    if subscription is None:
        subscription = person.subscription = Subscription(mode=DeliveryMode.NONE)
        session.flush()
    if subscription.mode is DeliveryMode.NONE:
        set_mode(session, subscription, default_mode)
    reenable(subscription)
    return subscription


def reenable(subscription: Subscription) -> None:
    subscription.disabled_at = None
    subscription.bounce_score = 0
    subscription.last_bounce_at = None


def record_bounce(subscription: Subscription, now: datetime, *, stale_after: timedelta,
                  threshold: int) -> bool:
    """Count a permanent bounce (at most one per day); True if it now disables the subscription."""
    last = subscription.last_bounce_at
    if last is not None and now - last > stale_after:
        subscription.bounce_score = 0
    if last is None or last.date() != now.date() or subscription.bounce_score == 0:
        subscription.bounce_score += 1
    subscription.last_bounce_at = now
    if subscription.bounce_score >= threshold and subscription.disabled_at is None:
        subscription.disabled_at = now
        return True
    return False


def set_topic_follow(session: Session, person_id: int, topic_id: int, level: FollowLevel | None) -> None:
    """Follow or mute one topic; None goes back to what the delivery mode says."""
    session.execute(delete(TopicFollow).where(TopicFollow.person_id == person_id,
                                              TopicFollow.topic_id == topic_id))
    if level is not None:
        session.add(TopicFollow(person_id=person_id, topic_id=topic_id, level=level))


def set_category_follow(session: Session, person_id: int, category_id: int, follow: bool) -> None:
    session.execute(delete(CategoryFollow).where(CategoryFollow.person_id == person_id,
                                                 CategoryFollow.category_id == category_id))
    if follow:
        session.add(CategoryFollow(person_id=person_id, category_id=category_id))
