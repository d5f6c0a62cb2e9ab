"""What the web archive keeps: sign-in links, rate-limit hits and signed-in browsers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UTCDateTime, utcnow


class SignInLink(Base):
    """A sign-in link mailed to a member: expiring, and single use (used_at is set once)."""

    __tablename__ = "sign_in_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    # SHA-256 of the link's random part: the database alone never yields a usable link.
    nonce_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # None while a sign-in request for an address that is not a member's does the same work as
    # a member's (archive_web.sign_in), before it is withdrawn: such a row signs nobody in.
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    address: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RateLimitHit(Base):
    """One counted attempt (a sign-in request) under a key such as an address or a client IP;
    kept in the database so that limits hold across restarts and processes."""

    __tablename__ = "rate_limit_hits"
    __table_args__ = (Index("ix_rate_limit_hits_key_at", "key", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(400))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class WebSession(Base):
    """A signed-in browser. The cookie holds only a random id; the row says whose it is, so
    signing out (or "sign out elsewhere") ends it on the server, whatever the browser kept."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    # SHA-256 of the cookie's random id: the database alone never yields a usable cookie.
    id_hash: Mapped[str] = mapped_column(String(64), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    method: Mapped[str] = mapped_column(String(16))  # "mail" (emailed link) or "oidc"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # SHA-256 of the OpenID Connect nonce the session was opened with: a nonce opens one
    # session only, so a replayed ID token signs nobody in.
    nonce_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    # The provider's ID token, sent back as id_token_hint when signing out at the provider.
    id_token: Mapped[str | None] = mapped_column(Text)
