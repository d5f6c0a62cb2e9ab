"""Moderation: command mails, the audit log, always-allowed senders, topic sheets."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Boolean, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.models.base import Base, UTCDateTime, _enum, utcnow

if TYPE_CHECKING:
    from storage.models.people import Person


class CommandStatus(enum.StrEnum):
    RECEIVED = "received"   # waits for the commands job (authentication needs DNS)
    AWAITING = "awaiting"   # not authenticated: waits for the moderator's confirmation
    DONE = "done"


class CommandMail(Base):
    """Moderator commands read from the top of a mail, kept with the original bytes (their
    DKIM signature is checked on them) until applied or confirmed; the confirmation link and
    address name this row, and `confirmed_at` makes them single-use."""

    __tablename__ = "command_mails"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(String(995), index=True)
    from_address: Mapped[str] = mapped_column(String(320))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    commands: Mapped[str] = mapped_column(Text)  # the command lines, one per line
    # What the commands act on, found by the commands job from what the mail's proof covers
    # (mailgateway.command_targets): a topic (no foreign key: a merge may remove it), a held
    # message, the message it answers (a `#close solution` marks it as the answer).
    topic_id: Mapped[int | None] = mapped_column(Integer)
    held_id: Mapped[int | None] = mapped_column(Integer)
    answered_id: Mapped[int | None] = mapped_column(Integer)
    # The topic of the per-topic address the gateway received it for; whether it came as a post.
    sent_to_topic: Mapped[int | None] = mapped_column(Integer)
    posted: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    status: Mapped[CommandStatus] = mapped_column(_enum(CommandStatus), default=CommandStatus.RECEIVED,
                                                  index=True)
    authenticated_by: Mapped[str] = mapped_column(String(64), default="")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SignedCommand(Base):
    """A signed command mail that has acted, by a hash of its signature (b=): the same signed
    mail replayed, even under another Message-ID or with other headers on top, acts no more."""

    __tablename__ = "signed_commands"

    id: Mapped[int] = mapped_column(primary_key=True)
    signature_hash: Mapped[str] = mapped_column(String(64), unique=True)
    command_mail_id: Mapped[int] = mapped_column(Integer)
    acted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ModerationLogEntry(Base):
    """The audit log: who did what, when, to which topic or held message, before and after."""

    __tablename__ = "moderation_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    via: Mapped[str] = mapped_column(String(32))  # "mail", "mail-confirmed", "web"
    action: Mapped[str] = mapped_column(String(32))
    # Plain ids, no foreign keys: the log outlives merged topics and decided messages.
    topic_id: Mapped[int | None] = mapped_column(Integer, index=True)
    held_id: Mapped[int | None] = mapped_column(Integer)
    before: Mapped[str] = mapped_column(Text, default="")
    after: Mapped[str] = mapped_column(Text, default="")

    actor: Mapped[Person | None] = relationship()


class AllowedSender(Base):
    """A non-member address a moderator chose to always accept (posts, no other right)."""

    __tablename__ = "allowed_senders"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SheetKind(enum.StrEnum):
    OBSTACLE = "obstacle"            # an obstacle and its solution (or why there is none)
    GOOD_PRACTICE = "good-practice"


class TopicSheet(Base):
    """A short Markdown sheet a moderator attaches to a topic, listed on the public pages."""

    __tablename__ = "topic_sheets"

    id: Mapped[int] = mapped_column(primary_key=True)
    topic_id: Mapped[int] = mapped_column(ForeignKey("topics.id"), index=True)
    kind: Mapped[SheetKind] = mapped_column(_enum(SheetKind))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")  # Markdown, sanitised when shown
    author_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
