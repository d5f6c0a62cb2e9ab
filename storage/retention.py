"""Retention ([retention] in config.toml): what Relais records about people besides the
published messages is removed once older than its period. Published messages are the
archive and stay (until erased, see storage.personal_data)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, delete, or_
from sqlalchemy.orm import Session

from storage.config import RetentionConfig
from storage.models import (
    CommandMail,
    ControlMessage,
    HeldMessage,
    MemberRequest,
    OutboundMessage,
    OutboundStatus,
    RateLimitHit,
    SignInLink,
    WebSession,
)

# Rate-limit keys that name a client IP address (archive_web.sign_in).
IP_KEY = "%:ip:%"


def apply_retention(session: Session, retention: RetentionConfig, session_days: int,
                    now: datetime) -> dict[str, int]:
    """Remove what is past its period; returns how many rows of each kind went."""
    def before(days: int) -> datetime:
        return now - timedelta(days=days)

    removed = {}

    def remove(kind: str, model: type, where: object) -> None:
        removed[kind] = session.execute(delete(model).where(where)).rowcount  # type: ignore[arg-type]

    remove("held_messages", HeldMessage, HeldMessage.received_at < before(retention.held_days))
    remove("command_mails", CommandMail, CommandMail.received_at < before(retention.command_mail_days))
    remove("request_mails", ControlMessage, and_(ControlMessage.kind == "request",
                                                 ControlMessage.received_at < before(retention.command_mail_days)))
    remove("bounce_reports", ControlMessage, and_(ControlMessage.kind == "bounces",
                                                  ControlMessage.received_at < before(retention.bounce_days)))
    remove("sign_in_links", SignInLink, SignInLink.expires_at < before(retention.sign_in_days))
    remove("web_sessions", WebSession, or_(
        WebSession.revoked_at < before(retention.sign_in_days),
        WebSession.created_at < before(session_days + retention.sign_in_days)))
    remove("confirmation_requests", MemberRequest, MemberRequest.created_at < before(retention.sign_in_days))
    remove("ip_counters", RateLimitHit, and_(RateLimitHit.key.like(IP_KEY),
                                             RateLimitHit.at < before(retention.ip_address_days)))
    remove("rate_counters", RateLimitHit, and_(RateLimitHit.key.not_like(IP_KEY),
                                               RateLimitHit.at < before(retention.rate_limit_days)))
    remove("sent_mail", OutboundMessage, and_(OutboundMessage.status != OutboundStatus.PENDING,
                                              OutboundMessage.created_at < before(retention.sent_mail_days)))
    return removed
