"""Storing messages and reading them back: the data functions of the archive's record."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from storage.models import Attachment, Message, TopicStatus
from storage.search_queue import mark_topic_for_reindex
from storage.threads import (
    Placement,
    ThreadFacts,
    adopt_early_replies,
    base_subject,
    messages_t,
    record_references,
    topics_t,
)


@dataclass(frozen=True)
class NewMessage:
    """A parsed message ready to store (built by mailgateway from the raw bytes)."""

    raw: bytes
    facts: ThreadFacts
    from_name: str
    from_address: str
    received_at: datetime


@dataclass(frozen=True)
class Stored:
    message_pk: int
    message_id: str
    topic_id: int
    new_topic: bool
    merged_topic_ids: list[int] = field(default_factory=list)


def find_message(session: Session, message_id: str) -> Message | None:
    return session.scalar(select(Message).where(Message.message_id == message_id))


_IS_STORED = select(messages_t.c.id).where(messages_t.c.message_id == bindparam("message_id"))
_INSERT_TOPIC = insert(topics_t)
_INSERT_MESSAGE = insert(messages_t)
_TOUCH_TOPIC = (update(topics_t).where(topics_t.c.id == bindparam("topic_id"),
                                       topics_t.c.last_activity_at < bindparam("date"))
                .values(last_activity_at=bindparam("date")))


def is_stored(session: Session, message_id: str) -> bool:
    return session.scalar(_IS_STORED, {"message_id": message_id}) is not None


def effective_date(date: datetime | None, received_at: datetime) -> datetime:
    """The date a message is filed under: its Date header, unless missing or in the future."""
    if date is None or date > received_at + timedelta(days=1):
        return received_at
    return date


def store_message(session: Session, new: NewMessage, author_id: int | None, placement: Placement) -> Stored:
    """Store a message where threading placed it, and link replies that were waiting for it.

    Plain SQL statements on ids: this runs for every incoming message (see storage.threads).
    """
    facts = new.facts
    topic_id = placement.topic_id
    if topic_id is None:
        topic_id = session.execute(_INSERT_TOPIC, {
            "subject": facts.subject, "base_subject": base_subject(facts.subject), "author_id": author_id,
            "status": TopicStatus.OPEN.value, "created_at": facts.date, "last_activity_at": facts.date,
        }).inserted_primary_key[0]
    else:
        session.execute(_TOUCH_TOPIC, {"topic_id": topic_id, "date": facts.date})
        if placement.parent_pk is None:
            # The true first message arrived late (an import, a delayed mail): it names the topic.
            renamed = session.execute(
                update(topics_t).where(topics_t.c.id == topic_id, topics_t.c.created_at > facts.date)
                .values(subject=facts.subject, base_subject=base_subject(facts.subject),
                        author_id=author_id, created_at=facts.date))
            if renamed.rowcount:
                mark_topic_for_reindex(session, topic_id)  # the title is in every message's document
    message_pk = session.execute(_INSERT_MESSAGE, {
        "message_id": facts.message_id, "topic_id": topic_id, "parent_id": placement.parent_pk,
        "author_id": author_id, "from_name": new.from_name, "from_address": new.from_address,
        "subject": facts.subject, "date": facts.date, "received_at": new.received_at,
        "in_reply_to": facts.in_reply_to[0] if facts.in_reply_to else None,
        "thread_index": facts.thread_index, "thread_index_key": facts.thread_index_key, "raw": new.raw,
    }).inserted_primary_key[0]
    adopt_early_replies(session, message_pk, facts.message_id)
    record_references(session, message_pk, facts)
    return Stored(message_pk, facts.message_id, topic_id, placement.topic_id is None, placement.merged_topic_ids)




def record_body(session: Session, message_pk: int, text: str,
                attachments: Iterable[tuple[str, str, int, int]], indexed_at: datetime | None) -> None:
    """Store what was read from a message's body: its text and attachments (filename,
    content type, size, index), and, unless `indexed_at` is None (the indexing job records
    that itself, see storage.search_feed), that the search index has it."""
    message = session.get(Message, message_pk)
    if message is None:  # merged or removed meanwhile
        return
    message.text = text
    message.attachments.clear()
    for filename, content_type, size, index in attachments:
        message.attachments.append(Attachment(filename=filename, content_type=content_type,
                                              size=size, part_index=index))
    if indexed_at is not None:
        message.indexed_at = indexed_at


class _HasParent(Protocol):
    id: int
    parent_id: int | None


_Node = TypeVar("_Node", bound=_HasParent)


def topic_messages(session: Session, topic_id: int) -> list[Message]:
    """A topic's messages in thread order: depth-first from each root, siblings by date."""
    return thread_order(list(session.scalars(
        select(Message).where(Message.topic_id == topic_id).order_by(Message.date, Message.id))))


def thread_order(messages: list[_Node]) -> list[_Node]:
    """Messages (or rows with `id` and `parent_id`) given by date, put in thread order:
    depth-first from each root, siblings by date."""
    children: dict[int | None, list[_Node]] = {}
    ids = {m.id for m in messages}
    for m in messages:
        key = m.parent_id if m.parent_id in ids else None
        children.setdefault(key, []).append(m)
    ordered: list[_Node] = []
    stack = list(reversed(children.get(None, [])))
    while stack:
        m = stack.pop()
        ordered.append(m)
        stack.extend(reversed(children.get(m.id, [])))
    return ordered
