"""A small rate limiter kept in the database, so that limits hold across restarts and
between the processes that serve the web archive."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from storage.models import RateLimitHit


def allow(session: Session, limits: dict[str, int], window: timedelta, now: datetime) -> bool:
    """Count an attempt under each key (an address, a client IP…) if every key is under its
    limit within `window` (at most a day); else count nothing and return False."""
    # Hits older than any window in use are of no further use.
    session.execute(delete(RateLimitHit).where(RateLimitHit.at < now - timedelta(days=1)))
    keys = {key[:400]: limit for key, limit in limits.items()}
    counts = dict(session.execute(
        select(RateLimitHit.key, func.count()).where(RateLimitHit.key.in_(keys), RateLimitHit.at > now - window)
        .group_by(RateLimitHit.key)).all())
    if any(counts.get(key, 0) >= limit for key, limit in keys.items()):
        return False
    session.add_all(RateLimitHit(key=key, at=now) for key in keys)
    return True
