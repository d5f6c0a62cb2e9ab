"""The SQLAlchemy 2.0 typed models: what Relais stores.

The raw bytes of each message, as received, are the record; every other column of
`messages` (subject, author, text, parent, topic) is derived and can be rebuilt.
"""

from __future__ import annotations

import enum
from datetime import datetime, timezone

from sqlalchemy import (
    BigInteger,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator[datetime]):
    """Stored as naive UTC everywhere (SQLite has no time zones); always aware in Python."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        return None if value is None else value.replace(tzinfo=timezone.utc)


# Stable constraint names, so that Alembic migrations work the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _enum(cls: type[enum.Enum]) -> Enum:
    # Stored as plain strings (no native ENUM type), so adding a value needs no DDL.
    return Enum(cls, native_enum=False, create_constraint=False, length=32,
                values_callable=lambda e: [m.value for m in e])


class OrganisationKind(enum.StrEnum):
    MEMBER = "member"
    STATE = "state"
    TEAM = "team"


class Role(enum.StrEnum):
    ARCHIVE = "archive"  # an author known only from imported mail: no rights
    MEMBER = "member"
    MODERATOR = "moderator"
    ADMIN = "admin"


class DeliveryMode(enum.StrEnum):
    ALL = "all"
    TOPICS = "topics"
    DIGEST = "digest"
    NONE = "none"


class TopicStatus(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Resolution(enum.StrEnum):
    SOLUTION = "solution"
    BAT = "bat"
    STUDY = "study"
    LEGAL_IMPOSSIBILITY = "legal-impossibility"
    ESCALATED = "escalated"


class HeldStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class OutboundStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class Organisation(Base):
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[OrganisationKind] = mapped_column(_enum(OrganisationKind), default=OrganisationKind.MEMBER)

    people: Mapped[list[Person]] = relationship(back_populates="organisation")


class Person(Base):
    __tablename__ = "people"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    role: Mapped[Role] = mapped_column(_enum(Role), default=Role.MEMBER)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    organisation: Mapped[Organisation | None] = relationship(back_populates="people")
    addresses: Mapped[list[Address]] = relationship(back_populates="person", order_by="Address.id")
    subscription: Mapped[Subscription | None] = relationship(back_populates="person")

    @property
    def is_member(self) -> bool:
        return self.role is not Role.ARCHIVE


class Address(Base):
    __tablename__ = "addresses"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored lower-cased: mail systems treat local parts case-insensitively in practice.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)

    person: Mapped[Person] = relationship(back_populates="addresses")


class Subscription(Base):
    __tablename__ = "subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), unique=True)
    mode: Mapped[DeliveryMode] = mapped_column(_enum(DeliveryMode), default=DeliveryMode.ALL)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    person: Mapped[Person] = relationship(back_populates="subscription")


class Category(Base):
    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Topic(Base):
    __tablename__ = "topics"

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

    message: Mapped[Message] = relationship(back_populates="attachments")


class HeldMessage(Base):
    __tablename__ = "held_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(String(995), index=True)
    envelope_from: Mapped[str] = mapped_column(String(320), default="")
    from_address: Mapped[str] = mapped_column(String(320), default="")
    subject: Mapped[str] = mapped_column(Text, default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[HeldStatus] = mapped_column(_enum(HeldStatus), default=HeldStatus.PENDING)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))


class ControlMessage(Base):
    """Mail to the -request and -bounces addresses, kept durably until processed."""

    __tablename__ = "control_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # "request" | "bounces"
    recipient: Mapped[str] = mapped_column(String(320))
    envelope_from: Mapped[str] = mapped_column(String(320), default="")
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)


class OutboundMessage(Base):
    """The durable outgoing queue: one row per recipient copy, written in the same
    transaction as what caused it, sent after the commit by the delivery worker."""

    __tablename__ = "outbound_messages"
    __table_args__ = (Index("ix_outbound_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    envelope_from: Mapped[str] = mapped_column(String(320))
    recipient: Mapped[str] = mapped_column(String(320))
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    purpose: Mapped[str] = mapped_column(String(32), default="post")
    status: Mapped[OutboundStatus] = mapped_column(_enum(OutboundStatus), default=OutboundStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str] = mapped_column(Text, default="")
