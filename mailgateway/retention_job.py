"""The scheduled retention job: once an hour, what is past its [retention] period goes
(storage.retention says what)."""

from __future__ import annotations

import logging

from storage.config import Config
from storage.db import Engine, is_outage, session_scope
from storage.models import utcnow
from storage.retention import apply_retention

log = logging.getLogger(__name__)


def apply_retention_periods(engine: Engine, config: Config) -> dict[str, int]:
    try:
        with session_scope(engine) as db:
            removed = apply_retention(db, config.retention, config.web.session_days, utcnow())
    except Exception as error:
        if not is_outage(error):
            raise
        log.debug("retention waits for the storage: %s", error)  # the next hour's run does it
        return {}
    if any(removed.values()):
        log.info("retention: removed %s", ", ".join(f"{n} {k}" for k, n in removed.items() if n))
    return removed
