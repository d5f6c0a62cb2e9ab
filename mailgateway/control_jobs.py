"""Running a scheduled job over the mail the gateway kept for the -request and -bounces
addresses (control_messages): each message in its own transaction, and marked processed
even when it cannot be handled, so that one bad message never blocks the others."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from storage.control import mark_processed, pending_control_messages
from storage.db import Engine, Session, session_scope

log = logging.getLogger(__name__)

# handle(session, control message id, recipient, envelope sender, raw bytes), in the
# message's transaction.
Handler = Callable[[Session, int, str, str, bytes], None]


def process_control_messages(engine: Engine, kind: str, handle: Handler, now: datetime, limit: int) -> int:
    """Handle up to `limit` waiting messages of a kind ("request", "bounces"); returns how many."""
    with session_scope(engine, readonly=True) as db:
        pending = pending_control_messages(db, kind, limit)
    for control_id, recipient, envelope_from, raw in pending:
        try:
            with session_scope(engine) as db:
                handle(db, control_id, recipient, envelope_from, raw)
                mark_processed(db, control_id, now)
        except Exception:
            log.exception("%s mail %s could not be handled; it is set aside", kind, control_id)
            with session_scope(engine) as db:
                mark_processed(db, control_id, now)
    return len(pending)
