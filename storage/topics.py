"""Reading topics: lists and one topic with its messages, as the CLI and the web show them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from storage.models import Message, Topic


@dataclass(frozen=True)
class TopicSummary:
    id: int
    subject: str
    status: str
    resolution: str | None
    category: str | None
    messages: int
    created: datetime
    last_activity: datetime


def _summaries(session: Session, topics: list[Topic]) -> list[TopicSummary]:
    ids = [t.id for t in topics]
    counts = dict(session.execute(
        select(Message.topic_id, func.count()).where(Message.topic_id.in_(ids)).group_by(Message.topic_id)
    ).all()) if ids else {}
    return [TopicSummary(
        id=t.id, subject=t.subject, status=t.status.value,
        resolution=t.resolution.value if t.resolution else None,
        category=t.category.name if t.category else None, messages=counts.get(t.id, 0),
        created=t.created_at, last_activity=t.last_activity_at) for t in topics]


def recent_topics(session: Session, limit: int | None = None, offset: int = 0) -> list[TopicSummary]:
    """Topics, most recently active first."""
    query = (select(Topic).options(selectinload(Topic.category))
             .order_by(Topic.last_activity_at.desc(), Topic.id.desc()).offset(offset))
    if limit is not None:
        query = query.limit(limit)
    return _summaries(session, list(session.scalars(query)))


def topic_summary(session: Session, topic_id: int) -> TopicSummary | None:
    topic = session.get(Topic, topic_id)
    return _summaries(session, [topic])[0] if topic else None

