"""The archive: categories, topics, messages (the raw bytes as received are the record;
every other column is derived and can be rebuilt), references and attachments."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.models.base import Base, UTCDateTime, _enum, utcnow

if TYPE_CHECKING:
    from storage.models.people import Person


class TopicStatus(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Resolution(enum.StrEnum):
    SOLUTION = "solution"
    BAT = "bat"
    STUDY = "study"
    LEGAL_IMPOSSIBILITY = "legal-impossibility"
    ESCALATED = "escalated"


class Category(Base):
    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Topic(Base):
    __tablename__ = "topics"
    # A category's page lists its topics by last activity.
    __table_args__ = (Index("ix_topics_category_activity", "category_id", "last_activity_at"),
                      Index("ix_topics_created_at", "created_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(Text, default="")
    # The subject without reply prefixes or list tags, for the subject fallback of threading.
    base_subject: Mapped[str] = mapped_column(String(500), default="", index=True)
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"))
    status: Mapped[TopicStatus] = mapped_column(_enum(TopicStatus), default=TopicStatus.OPEN)
    resolution: Mapped[Resolution | None] = mapped_column(_enum(Resolution))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_activity_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # Set on a topic a moderator split off another: threading never merges it back.
    split_from_id: Mapped[int | None] = mapped_column(Integer)
    # The message a moderator marked as the answer (`#close solution` in reply to it, or on
    # the web). No foreign key: a split may move it; shown only while it is in this topic.
    answer_message_id: Mapped[int | None] = mapped_column(Integer)

    category: Mapped[Category | None] = relationship()
    author: Mapped[Person | None] = relationship()
    messages: Mapped[list[Message]] = relationship(
        back_populates="topic", order_by="[Message.date, Message.id]")


class Message(Base):
    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Without angle brackets. One forum, so unique over the whole table.
    message_id: Mapped[str] = mapped_column(String(995), unique=True)
    topic_id: Mapped[int] = mapped_column(ForeignKey("topics.id"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    from_name: Mapped[str] = mapped_column(Text, default="")
    from_address: Mapped[str] = mapped_column(String(320), default="")
    subject: Mapped[str] = mapped_column(Text, default="")
    date: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Read from the body after the commit (None until then): the SMTP path reads headers only.
    text: Mapped[str | None] = mapped_column(Text)
    in_reply_to: Mapped[str | None] = mapped_column(String(995))
    # Outlook's Thread-Index conversation key (its first 22 bytes, base64): threads Outlook
    # replies whose In-Reply-To/References were stripped.
    thread_index_key: Mapped[str | None] = mapped_column(String(64), index=True)
    thread_index: Mapped[str | None] = mapped_column(String(500))
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    # Set once the body is read and the search index has the message; NULL rows are
    # picked up by the indexing job, after a crash too.
    indexed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # Why the body could not be read (too deep, unparsable…): the indexing job set the
    # message aside instead of retrying it; moderators see the list. NULL for readable mail.
    unreadable_reason: Mapped[str | None] = mapped_column(String(500), index=True)

    topic: Mapped[Topic] = relationship(back_populates="messages")
    parent: Mapped[Message | None] = relationship(remote_side=[id])
    author: Mapped[Person | None] = relationship()
    attachments: Mapped[list[Attachment]] = relationship(back_populates="message", order_by="Attachment.id")


class MessageReference(Base):
    """Each Message-ID a message names in References/In-Reply-To, stored or not.

    Kept so that a parent arriving after its replies finds them, and replies to the same
    missing (ghost) message end up in one topic.
    """

    __tablename__ = "message_references"
    __table_args__ = (UniqueConstraint("message_pk", "referenced_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    message_pk: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    referenced_id: Mapped[str] = mapped_column(String(995), index=True)
    # 0 = the In-Reply-To target / last References entry (nearest), growing towards the root.
    distance: Mapped[int] = mapped_column(Integer)


class Attachment(Base):
    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_pk: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(Text, default="")
    content_type: Mapped[str] = mapped_column(String(255), default="application/octet-stream")
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    # Position among the message's attachments: the payload is re-read from the raw bytes.
    part_index: Mapped[int] = mapped_column(Integer)
    # Where the part lies in the raw bytes (set on its first download, once checked), so that
    # a download reads that part alone. NULL: not mapped yet; -1: cannot be, read whole.
    part_start: Mapped[int | None] = mapped_column(BigInteger)
    part_end: Mapped[int | None] = mapped_column(BigInteger)

    message: Mapped[Message] = relationship(back_populates="attachments")
