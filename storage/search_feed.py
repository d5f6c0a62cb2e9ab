"""What the search index is fed from the database: the facts of each message's document
(its topic's title, status and category, its author's organisation, its text)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.models import Attachment, Category, Message, Organisation, Person, Topic
from storage.personal_links import mask_personal_links
from storage.search_index import MessageDocument
from storage.search_text import split_quoted
from storage.threads import base_subject


@dataclass(frozen=True)
class IndexSource:
    """A message's facts as the index needs them; `text` is None until its body is read."""

    message_pk: int
    topic_id: int
    title: str
    subject: str
    text: str | None
    author: str
    organisation: str
    category: str
    category_id: int | None
    status: str
    resolution: str
    date: datetime
    is_first: bool  # the topic's first message: its document carries the topic's title


_SOURCE = (
    select(Message.id, Message.topic_id, Topic.subject.label("title"), Message.subject, Message.text,
           Message.from_name, Message.from_address, Organisation.name.label("organisation"),
           Category.name.label("category"), Category.slug, Topic.category_id, Topic.status,
           Topic.resolution, Message.date, (Message.date == Topic.created_at).label("is_first"))
    .join(Topic, Topic.id == Message.topic_id)
    .outerjoin(Category, Category.id == Topic.category_id)
    .outerjoin(Person, Person.id == Message.author_id)
    .outerjoin(Organisation, Organisation.id == Person.organisation_id))


def _source(row) -> IndexSource:  # type: ignore[no-untyped-def]
    author = " ".join(part for part in (row.from_name, row.from_address) if part)
    category = " ".join(part for part in (row.category, row.slug) if part)
    return IndexSource(
        message_pk=row.id, topic_id=row.topic_id, title=row.title or "", subject=row.subject or "",
        text=row.text, author=author, organisation=row.organisation or "", category=category,
        category_id=row.category_id, status=row.status.value,
        resolution=row.resolution.value if row.resolution else "", date=row.date,
        is_first=bool(row.is_first))


def index_sources(session: Session, pks: list[int]) -> list[IndexSource]:
    """The facts of these messages (those removed or merged away meanwhile are left out)."""
    return [_source(row) for row in session.execute(_SOURCE.where(Message.id.in_(pks)).order_by(Message.id))]


def sources_after(session: Session, after_pk: int, limit: int) -> list[IndexSource]:
    """The next `limit` messages by id, for a full rebuild read in pages."""
    return [_source(row) for row in session.execute(
        _SOURCE.where(Message.id > after_pk).order_by(Message.id).limit(limit))]


def message_total(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Message)) or 0


def attachment_names(session: Session, pks: list[int]) -> dict[int, list[str]]:
    """The recorded attachment file names of these messages."""
    names: dict[int, list[str]] = {}
    for pk, filename in session.execute(select(Attachment.message_pk, Attachment.filename)
                                        .where(Attachment.message_pk.in_(pks)).order_by(Attachment.id)):
        names.setdefault(pk, []).append(filename)
    return names


def raw_messages(session: Session, pks: list[int]) -> dict[int, bytes]:
    return dict(session.execute(select(Message.id, Message.raw).where(Message.id.in_(pks))).all())


def message_document(source: IndexSource, text: str, attachments: list[str]) -> MessageDocument:
    """The index document of a message, from its facts and its body's text (personal
    unsubscribe tokens left out: no search, not even by prefixes, may spell one out)."""
    own = mask_personal_links(split_quoted(text).own, "")
    # A reply's subject is the topic's, prefixed: only a changed subject says something new.
    subject = source.subject if base_subject(source.subject) != base_subject(source.title) else ""
    return MessageDocument(
        message_pk=source.message_pk, topic_id=source.topic_id,
        title=source.title if source.is_first else "",
        body="\n\n".join(part for part in (subject, own, *attachments) if part),
        attachments="\n".join(attachments), author=source.author, organisation=source.organisation,
        category=source.category, category_id=source.category_id, status=source.status,
        resolution=source.resolution, date=source.date, has_attachment=bool(attachments))
