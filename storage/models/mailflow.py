"""Mail on its way: held messages, request and bounce mail, the outgoing queue and the
fan-out of posts to their recipients."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UTCDateTime, _enum, utcnow


class HeldStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class OutboundStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


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
    # The topic named by the per-topic address it was sent to: approval threads it there.
    topic_hint: Mapped[int | None] = mapped_column(Integer)


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
    # A bounce that was not acted on (not to a signed VERP address) but names members: why,
    # and their addresses, for moderators to see. Empty for everything else.
    kept_reason: Mapped[str] = mapped_column(String(200), default="", server_default="")
    failed_addresses: Mapped[str] = mapped_column(Text, default="", server_default="")


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


class Fanout(Base):
    """An accepted post still to be distributed: written by the gateway in the transaction
    that stores the post (one small row), expanded into Delivery rows by the worker."""

    __tablename__ = "fanouts"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_pk: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expanded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)


class Delivery(Base):
    """One subscriber's copy of one post: its state, retries and outcome. The copy itself is
    built at send time from the stored post (footer, headers, envelope, signature)."""

    __tablename__ = "deliveries"
    __table_args__ = (UniqueConstraint("message_pk", "subscription_id"),
                      Index("ix_deliveries_due", "status", "next_attempt_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    message_pk: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"), index=True)
    recipient: Mapped[str] = mapped_column(String(320))
    status: Mapped[OutboundStatus] = mapped_column(_enum(OutboundStatus), default=OutboundStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str] = mapped_column(Text, default="")


class RelayPause(Base):
    """The relay's state, shared by both delivery workers: after a failure of the relay
    itself (unreachable, 421, 4xx to MAIL or DATA) nothing is sent until `paused_until`;
    the pause doubles at each such failure in a row and ends at the first accepted mail."""

    __tablename__ = "relay_pauses"

    id: Mapped[int] = mapped_column(primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    paused_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str] = mapped_column(Text, default="")


class MemberRequest(Base):
    """A command mailed to <local>-request@ that waits for its confirmation round-trip.

    The confirmation token names this row; `confirmed_at` makes it single-use.
    """

    __tablename__ = "member_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    address: Mapped[str] = mapped_column(String(320))
    command: Mapped[str] = mapped_column(String(32))
    argument: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
