"""Organisations, people, their addresses, subscriptions and what they follow."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.models.base import Base, UTCDateTime, _enum, utcnow


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


class FollowLevel(enum.StrEnum):
    FOLLOW = "follow"  # every message of the topic, whatever the delivery mode
    MUTE = "mute"      # no message of the topic, whatever the delivery mode


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
    # The language Relais writes to the person in ("de", "en", "fr"…); None until chosen or
    # guessed (storage.languages), when the forum's default language is used.
    language: Mapped[str | None] = mapped_column(String(16))

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
    # Set when bounces disabled the subscription: no mail until the member re-enables it.
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Days with a permanent bounce, counted afresh when the last one is stale (as Mailman).
    bounce_score: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_bounce_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The newest message a digest has carried to this member (digest mode).
    digest_after_pk: Mapped[int | None] = mapped_column(Integer)

    person: Mapped[Person] = relationship(back_populates="subscription")


class TopicFollow(Base):
    """A member's choice for one topic: follow it (mail for every message) or mute it."""

    __tablename__ = "topic_follows"
    __table_args__ = (UniqueConstraint("person_id", "topic_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    topic_id: Mapped[int] = mapped_column(ForeignKey("topics.id", ondelete="CASCADE"), index=True)
    level: Mapped[FollowLevel] = mapped_column(_enum(FollowLevel))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CategoryFollow(Base):
    """A member follows a category: mail for every message of its topics."""

    __tablename__ = "category_follows"
    __table_args__ = (UniqueConstraint("person_id", "category_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
