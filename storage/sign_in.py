"""Sign-in links mailed to members: created with an expiry, used at most once."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from storage.models import SignInLink


def _hash(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


def create_sign_in_link(session: Session, person_id: int | None, address: str, now: datetime,
                        valid_for: timedelta) -> str:
    """Record a new link for the person (None for an address that is not a member's: the
    same work, a link that signs nobody in); returns its random part (to be signed)."""
    nonce = secrets.token_urlsafe(32)
    session.add(SignInLink(nonce_hash=_hash(nonce), person_id=person_id, address=address,
                           created_at=now, expires_at=now + valid_for))
    # Links long expired are of no use to anyone: keep the table small.
    session.execute(delete(SignInLink).where(SignInLink.expires_at < now - timedelta(days=7)))
    return nonce


def use_sign_in_link(session: Session, nonce: str, now: datetime) -> int | None:
    """The person a valid, unused link signs in (marking it used), else None.

    One UPDATE guarded by `used_at IS NULL`: of two clicks arriving together, one wins.
    """
    used = session.execute(
        update(SignInLink)
        .where(SignInLink.nonce_hash == _hash(nonce), SignInLink.used_at.is_(None),
               SignInLink.expires_at > now, SignInLink.person_id.is_not(None))
        .values(used_at=now))
    if used.rowcount != 1:
        return None
    return session.scalar(select(SignInLink.person_id).where(SignInLink.nonce_hash == _hash(nonce)))


def sign_in_link_state(session: Session, nonce: str, now: datetime) -> str:
    """'valid', 'used', 'expired' or 'unknown': what to tell the person who clicked."""
    link = session.scalar(select(SignInLink).where(SignInLink.nonce_hash == _hash(nonce)))
    if link is None:
        return "unknown"
    if link.used_at is not None:
        return "used"
    return "expired" if link.expires_at <= now else "valid"
