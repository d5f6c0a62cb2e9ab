"""Reporting upwards: what the network's obstacles are, at a glance (counts by category,
status and resolution), and the obstacles still unresolved or escalated, with the
organisations involved — for the /obstacles page, its CSV and Atom feed, and the periodic
report mailed to the national coordination."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from storage.models import (
    Category,
    Message,
    ModerationLogEntry,
    Organisation,
    Person,
    Resolution,
    Topic,
    TopicStatus,
)


@dataclass(frozen=True)
class ObstacleCounts:
    total: int
    by_status: dict[str, int]                 # "open", "closed"
    by_resolution: dict[str, int]             # each resolution of closed topics
    by_category: list[tuple[str, str, int]]   # (name, slug, topics); "" for no category


def obstacle_counts(session: Session, since: datetime | None = None) -> ObstacleCounts:
    """Counts over every topic (or those opened since a date)."""
    where = [Topic.created_at >= since] if since is not None else []
    by_status = {s.value: 0 for s in TopicStatus}
    by_resolution = {r.value: 0 for r in Resolution}
    for status, resolution, count in session.execute(
            select(Topic.status, Topic.resolution, func.count()).where(*where)
            .group_by(Topic.status, Topic.resolution)):
        by_status[status.value] += count
        if status is TopicStatus.CLOSED and resolution is not None:
            by_resolution[resolution.value] += count
    by_category = [(name or "", slug or "", count) for name, slug, count in session.execute(
        select(Category.name, Category.slug, func.count(Topic.id))
        .select_from(Topic).outerjoin(Category, Category.id == Topic.category_id).where(*where)
        .group_by(Category.name, Category.slug).order_by(func.count(Topic.id).desc(), Category.name))]
    return ObstacleCounts(sum(by_status.values()), by_status, by_resolution, by_category)


@dataclass(frozen=True)
class OutstandingObstacle:
    id: int
    title: str
    status: str
    resolution: str | None
    category: str | None
    organisations: list[str]
    opened: datetime
    last_activity: datetime


def outstanding_obstacles(session: Session, limit: int | None = None) -> list[OutstandingObstacle]:
    """Obstacles still unresolved (open) or escalated (closed, reported upwards), most
    recently active first, each with the organisations of the people who wrote in it."""
    query = (select(Topic.id, Topic.subject, Topic.status, Topic.resolution, Category.name,
                    Topic.created_at, Topic.last_activity_at)
             .outerjoin(Category, Category.id == Topic.category_id)
             .where(or_(Topic.status == TopicStatus.OPEN, Topic.resolution == Resolution.ESCALATED))
             .order_by(Topic.last_activity_at.desc(), Topic.id.desc()))
    rows = session.execute(query.limit(limit) if limit is not None else query).all()
    organisations: dict[int, list[str]] = {}
    ids = [row[0] for row in rows]
    if ids:
        for topic_id, name in session.execute(
                select(Message.topic_id, Organisation.name).distinct()
                .join(Person, Person.id == Message.author_id)
                .join(Organisation, Organisation.id == Person.organisation_id)
                .where(Message.topic_id.in_(ids)).order_by(Message.topic_id, Organisation.name)):
            organisations.setdefault(topic_id, []).append(name)
    return [OutstandingObstacle(id=topic_id, title=subject, status=status.value,
                                resolution=resolution.value if resolution else None, category=category,
                                organisations=organisations.get(topic_id, []), opened=created,
                                last_activity=last)
            for topic_id, subject, status, resolution, category, created, last in rows]


def closed_since(session: Session, since: datetime) -> int:
    """How many topics were closed since a date (from the audit log)."""
    return session.scalar(select(func.count(func.distinct(ModerationLogEntry.topic_id))).where(
        ModerationLogEntry.action == "close", ModerationLogEntry.at >= since)) or 0
