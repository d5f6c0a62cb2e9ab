"""What the web archive's pages read: topic lists with their filters, a topic's thread with
its authors' organisations and attachments, categories, organisations and feed entries —
each page in a fixed, small number of queries, whatever the number of rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, select, tuple_, update
from sqlalchemy.orm import Session, selectinload

from storage.messages import thread_order
from storage.models import (
    Attachment,
    Category,
    Message,
    Organisation,
    OrganisationKind,
    Person,
    Resolution,
    Role,
    Topic,
    TopicStatus,
)

MAX_DEPTH = 6  # deeper replies are drawn at this depth (still marked "in reply to")


@dataclass(frozen=True)
class TopicRow:
    id: int
    subject: str
    status: TopicStatus
    resolution: Resolution | None
    category: str | None
    category_slug: str | None
    organisation: str | None
    organisation_kind: OrganisationKind | None
    messages: int
    created: datetime
    last_activity: datetime
    answer_message_id: int | None = None  # the accepted answer, linked from lists and the banner


_MESSAGE_COUNT = (select(func.count(Message.id)).where(Message.topic_id == Topic.id)
                  .correlate(Topic).scalar_subquery())


def _topic_rows_query() -> Select:  # type: ignore[type-arg]
    return (select(Topic.id, Topic.subject, Topic.status, Topic.resolution, Category.name, Category.slug,
                   Organisation.name, Organisation.kind, _MESSAGE_COUNT, Topic.created_at,
                   Topic.last_activity_at, Topic.answer_message_id)
            .outerjoin(Category, Topic.category_id == Category.id)
            .outerjoin(Person, Topic.author_id == Person.id)
            .outerjoin(Organisation, Person.organisation_id == Organisation.id))


def topic_rows(session: Session, *, category_id: int | None = None, status: TopicStatus | None = None,
               limit: int = 30, offset: int = 0, newest_first: bool = False) -> list[TopicRow]:
    """Topics, most recently active first (or newest first), filtered by category and status."""
    query = _topic_rows_query()
    if category_id is not None:
        query = query.where(Topic.category_id == category_id)
    if status is not None:
        query = query.where(Topic.status == status)
    order = Topic.created_at if newest_first else Topic.last_activity_at
    query = query.order_by(order.desc(), Topic.id.desc()).limit(limit).offset(offset)
    return [TopicRow(*row) for row in session.execute(query)]


def topic_row(session: Session, topic_id: int) -> TopicRow | None:
    row = session.execute(_topic_rows_query().where(Topic.id == topic_id)).first()
    return TopicRow(*row) if row else None


def status_counts(session: Session) -> dict[tuple[TopicStatus, Resolution | None], int]:
    """How many topics are open, and closed with each resolution."""
    return {(status, resolution): count for status, resolution, count in session.execute(
        select(Topic.status, Topic.resolution, func.count()).group_by(Topic.status, Topic.resolution))}


@dataclass(frozen=True)
class CategoryRow:
    id: int
    name: str
    slug: str
    topics: int
    open_topics: int
    last_activity: datetime | None


def categories_with_counts(session: Session) -> list[CategoryRow]:
    open_count = func.count(Topic.id).filter(Topic.status == TopicStatus.OPEN)
    rows = session.execute(
        select(Category.id, Category.name, Category.slug, func.count(Topic.id), open_count,
               func.max(Topic.last_activity_at))
        .outerjoin(Topic, Topic.category_id == Category.id)
        .group_by(Category.id, Category.name, Category.slug).order_by(Category.name))
    return [CategoryRow(*row) for row in rows]


def category_by_slug(session: Session, slug: str) -> Category | None:
    return session.scalar(select(Category).where(Category.slug == slug))


def category_choices(session: Session) -> list[tuple[str, str]]:
    """(slug, name) of every category, for the home page's filter."""
    return [(slug, name) for slug, name in session.execute(
        select(Category.slug, Category.name).order_by(Category.name))]


@dataclass(frozen=True)
class ThreadMessage:
    """What a thread page shows of a message (no ORM entity: a 200-message page stays cheap)."""

    id: int
    parent_id: int | None
    author_id: int | None
    from_name: str
    from_address: str
    subject: str
    date: datetime
    text: str | None
    raw: bytes
    indexed_at: datetime | None
    unreadable_reason: str | None  # set aside by the indexing job: shown as unreadable


@dataclass(frozen=True)
class ThreadEntry:
    message: ThreadMessage
    depth: int
    parent: ThreadMessage | None
    organisation: str | None
    organisation_kind: OrganisationKind | None
    attachments: list[Attachment]


_THREAD = select(*(getattr(Message, name) for name in ThreadMessage.__dataclass_fields__))


def thread(session: Session, topic_id: int) -> list[ThreadEntry]:
    """The topic's messages in thread order, each with its depth, parent, author's
    organisation and attachments (three queries in all)."""
    messages = thread_order([ThreadMessage(*row) for row in session.execute(
        _THREAD.where(Message.topic_id == topic_id).order_by(Message.date, Message.id))])
    by_id = {m.id: m for m in messages}
    attachments: dict[int, list[Attachment]] = {}
    if by_id:
        for attachment in session.scalars(select(Attachment).where(Attachment.message_pk.in_(by_id))
                                          .order_by(Attachment.id)):
            attachments.setdefault(attachment.message_pk, []).append(attachment)
    author_ids = {m.author_id for m in messages if m.author_id is not None}
    organisations = {person_id: (name, kind) for person_id, name, kind in session.execute(
        select(Person.id, Organisation.name, Organisation.kind)
        .join(Organisation, Person.organisation_id == Organisation.id)
        .where(Person.id.in_(author_ids)))} if author_ids else {}
    depth: dict[int, int] = {}
    entries = []
    for m in messages:  # thread order: a parent always comes before its replies
        parent = by_id.get(m.parent_id) if m.parent_id is not None else None
        depth[m.id] = min(depth[parent.id] + 1, MAX_DEPTH) if parent is not None else 0
        organisation, kind = organisations.get(m.author_id, (None, None)) if m.author_id else (None, None)
        entries.append(ThreadEntry(m, depth[m.id], parent, organisation, kind, attachments.get(m.id, [])))
    return entries


def first_messages(session: Session, topic_ids: list[int]) -> dict[int, Message]:
    """The first message of each topic (the one that opened it), in one query."""
    if not topic_ids:
        return {}
    firsts = (select(Message.topic_id, func.min(Message.date)).where(Message.topic_id.in_(topic_ids))
              .group_by(Message.topic_id))
    found: dict[int, Message] = {}
    for m in session.scalars(select(Message).where(tuple_(Message.topic_id, Message.date).in_(firsts))
                             .order_by(Message.id)):
        found.setdefault(m.topic_id, m)
    return found


def recent_messages(session: Session, *, topic_id: int | None = None, category_id: int | None = None,
                    limit: int = 30) -> list[Message]:
    """The newest messages of a topic or of a category's topics, newest first (for feeds)."""
    query = select(Message).order_by(Message.date.desc(), Message.id.desc()).limit(limit)
    if topic_id is not None:
        query = query.where(Message.topic_id == topic_id)
    if category_id is not None:
        query = query.join(Topic, Message.topic_id == Topic.id).where(Topic.category_id == category_id)
    return list(session.scalars(query))


@dataclass(frozen=True)
class OrganisationRow:
    name: str
    kind: OrganisationKind
    members: list[str]


def organisations_with_members(session: Session) -> list[OrganisationRow]:
    """Every organisation with the names of its members (people with rights, not authors
    known only from imported mail)."""
    organisations = session.scalars(select(Organisation).options(selectinload(Organisation.people))
                                    .order_by(Organisation.name))
    return [OrganisationRow(o.name, o.kind, sorted(p.name for p in o.people if p.role is not Role.ARCHIVE))
            for o in organisations]


def attachment_of(session: Session, message_pk: int, index: int) -> Attachment | None:
    """A message's attachment by its position (None before the body is read)."""
    return session.scalar(select(Attachment).where(Attachment.message_pk == message_pk,
                                                   Attachment.part_index == index))


def raw_slice(session: Session, message_pk: int, start: int, end: int) -> bytes | None:
    """Bytes start..end of a message's raw bytes, read without loading the rest."""
    found = session.scalar(select(func.substr(Message.raw, start + 1, end - start))
                           .where(Message.id == message_pk))
    return bytes(found) if found is not None else None


# Recorded instead of a span when a message's parts could not be mapped: it is read whole,
# and never mapped again.
UNMAPPED = -1


def record_attachment_spans(session: Session, message_pk: int, spans: list[tuple[int, int]] | None) -> None:
    """Record where each attachment lies in the raw bytes (spans in part_index order), or
    that the message's parts cannot be mapped (None)."""
    ids = dict(session.execute(select(Attachment.part_index, Attachment.id)
                               .where(Attachment.message_pk == message_pk)).all())
    found = spans if spans is not None else [(UNMAPPED, UNMAPPED)] * len(ids)
    rows = [{"id": ids[index], "part_start": start, "part_end": end}
            for index, (start, end) in enumerate(found) if index in ids]
    if rows:
        session.execute(update(Attachment), rows)


def is_indexed(session: Session, message_pk: int) -> bool | None:
    """Whether the message's body has been read (its attachments listed); None if there is
    no such message."""
    row = session.execute(select(Message.indexed_at).where(Message.id == message_pk)).first()
    return None if row is None else row[0] is not None
