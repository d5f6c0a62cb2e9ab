"""Storing messages and reading them back: the data functions of the archive's record."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.models import Attachment, Message, Person, Topic
from storage.threads import Placement, ThreadFacts, adopt_early_replies, base_subject, record_references


@dataclass(frozen=True)
class NewMessage:
    """A parsed message ready to store (built by mailgateway from the raw bytes)."""

    raw: bytes
    facts: ThreadFacts
    from_name: str
    from_address: str
    text: str
    received_at: datetime
    attachments: tuple[tuple[str, str, int, int], ...] = ()  # (filename, content type, size, index)


@dataclass
class Stored:
    message: Message
    new_topic: bool
    merged_topic_ids: list[int] = field(default_factory=list)


def find_message(session: Session, message_id: str) -> Message | None:
    return session.scalar(select(Message).where(Message.message_id == message_id))


def effective_date(date: datetime | None, received_at: datetime) -> datetime:
    """The date a message is filed under: its Date header, unless missing or in the future."""
    if date is None or date > received_at + timedelta(days=1):
        return received_at
    return date


def store_message(session: Session, new: NewMessage, author: Person | None, placement: Placement) -> Stored:
    """Store a message where threading placed it, and link replies that were waiting for it."""
    facts = new.facts
    topic = placement.topic
    new_topic = topic is None
    if topic is None:
        topic = Topic(subject=facts.subject, base_subject=base_subject(facts.subject), author=author,
                      created_at=facts.date, last_activity_at=facts.date)
        session.add(topic)
    elif placement.parent is None and facts.date < topic.created_at:
        # The true first message arrived late (an import, a delayed mail): it names the topic.
        topic.subject, topic.base_subject = facts.subject, base_subject(facts.subject)
        topic.author, topic.created_at = author, facts.date
    topic.last_activity_at = max(topic.last_activity_at, facts.date)

    message = Message(
        message_id=facts.message_id, topic=topic, parent=placement.parent, author=author,
        from_name=new.from_name, from_address=new.from_address, subject=facts.subject,
        date=facts.date, received_at=new.received_at, text=new.text,
        in_reply_to=(facts.in_reply_to[0] if facts.in_reply_to else None),
        thread_index=facts.thread_index, thread_index_key=facts.thread_index_key, raw=new.raw,
    )
    session.add(message)
    for filename, content_type, size, index in new.attachments:
        message.attachments.append(Attachment(filename=filename[:1000], content_type=content_type[:255],
                                              size=size, part_index=index))
    session.flush()
    record_references(session, message, facts)
    adopt_early_replies(session, message)
    return Stored(message, new_topic=new_topic, merged_topic_ids=placement.merged_topic_ids)


def topic_messages(session: Session, topic_id: int) -> list[Message]:
    """A topic's messages in thread order: depth-first from each root, siblings by date."""
    messages = list(session.scalars(
        select(Message).where(Message.topic_id == topic_id).order_by(Message.date, Message.id)))
    children: dict[int | None, list[Message]] = {}
    ids = {m.id for m in messages}
    for m in messages:
        key = m.parent_id if m.parent_id in ids else None
        children.setdefault(key, []).append(m)
    ordered: list[Message] = []
    stack = list(reversed(children.get(None, [])))
    while stack:
        m = stack.pop()
        ordered.append(m)
        stack.extend(reversed(children.get(m.id, [])))
    return ordered


def message_count(session: Session, topic_id: int) -> int:
    return session.scalar(select(func.count()).select_from(Message).where(Message.topic_id == topic_id)) or 0
