"""Signed-in browsers, kept on the server: opened at sign-in (emailed link or OpenID
Connect), looked up on each request by the hash of the cookie's random id, and revoked at
sign-out (this browser) or from the account page (the others)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.models import WebSession

# A row's last_seen_at is written at most this often: a page view is a read, not a write.
TOUCH_EVERY = timedelta(minutes=5)
USER_AGENT_LENGTH = 300


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class NonceAlreadyUsed(Exception):
    """An OpenID Connect nonce that already opened a session: the ID token is a replay."""


@dataclass(frozen=True)
class ActiveSession:
    id: int
    person_id: int
    method: str
    created_at: datetime
    last_seen_at: datetime
    user_agent: str
    id_token: str | None


def open_web_session(session: Session, person_id: int, method: str, user_agent: str, now: datetime,
                     *, nonce: str | None = None, id_token: str | None = None) -> str:
    """Record a signed-in browser; returns the random id for its cookie.

    With an OpenID Connect nonce, raises NonceAlreadyUsed if that nonce opened a session
    before (the unique index decides, so two replays arriving together cannot both win)."""
    sid = secrets.token_urlsafe(32)
    row = WebSession(id_hash=_hash(sid), person_id=person_id, method=method, created_at=now,
                     last_seen_at=now, user_agent=user_agent[:USER_AGENT_LENGTH].replace("\x00", ""),
                     nonce_hash=_hash(nonce) if nonce is not None else None, id_token=id_token)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        raise NonceAlreadyUsed() from None
    return sid


def active_web_session(session: Session, sid: str, now: datetime, lifetime: timedelta) -> ActiveSession | None:
    """The session a cookie's id names, if it is neither revoked nor older than `lifetime`."""
    row = session.scalar(select(WebSession).where(WebSession.id_hash == _hash(sid)))
    if row is None or row.revoked_at is not None or row.created_at <= now - lifetime:
        return None
    return _active(row)


def touch_web_session(session: Session, session_id: int, now: datetime) -> None:
    """Note that the browser was seen, at most every TOUCH_EVERY."""
    session.execute(update(WebSession)
                    .where(WebSession.id == session_id, WebSession.last_seen_at < now - TOUCH_EVERY)
                    .values(last_seen_at=now))


def revoke_web_session(session: Session, session_id: int, now: datetime) -> None:
    session.execute(update(WebSession).where(WebSession.id == session_id, WebSession.revoked_at.is_(None))
                    .values(revoked_at=now))


def revoke_other_web_sessions(session: Session, person_id: int, keep_id: int, now: datetime) -> int:
    """Sign a person out everywhere but in this browser; returns how many were ended."""
    result = session.execute(update(WebSession)
                             .where(WebSession.person_id == person_id, WebSession.id != keep_id,
                                    WebSession.revoked_at.is_(None))
                             .values(revoked_at=now))
    return result.rowcount


def web_sessions_of(session: Session, person_id: int, now: datetime, lifetime: timedelta) -> list[ActiveSession]:
    """A person's open sessions, most recently seen first."""
    rows = session.scalars(select(WebSession)
                           .where(WebSession.person_id == person_id, WebSession.revoked_at.is_(None),
                                  WebSession.created_at > now - lifetime)
                           .order_by(WebSession.last_seen_at.desc(), WebSession.id.desc()))
    return [_active(row) for row in rows]


def forget_old_web_sessions(session: Session, now: datetime, lifetime: timedelta) -> None:
    """Sessions ended or expired long ago are of no use: keep the table small. (Their
    nonces are kept as long as an ID token carrying them could still be valid, and longer.)"""
    session.execute(delete(WebSession).where(or_(WebSession.created_at < now - lifetime - timedelta(days=7),
                                                 WebSession.revoked_at < now - timedelta(days=7))))


def _active(row: WebSession) -> ActiveSession:
    return ActiveSession(row.id, row.person_id, row.method, row.created_at, row.last_seen_at,
                         row.user_agent, row.id_token)
