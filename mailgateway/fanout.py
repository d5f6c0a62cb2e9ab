"""The fan-out worker: expands each accepted post into one pending copy per recipient, then
builds every copy at send time (footer, List-* headers, VERP envelope, DKIM) and sends it
over one reused relay connection, recording each copy's outcome.

Scheduled job, never on the SMTP path: the gateway only recorded that the post is to be
distributed. Outcomes are recorded every few hundred copies in short transactions, so the
gateway's writer is never kept waiting; a crash between a send and its record re-sends at
most those few copies, and a restart resumes with what is still pending.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

from mailgateway.addresses import verp_address
from mailgateway.copies import CopyTemplate, build_copy_template
from mailgateway.delivery import DeliveryRound, record_failure
from mailgateway.listheaders import unsubscribe_url
from mailgateway.relay import Failure, Outbox
from storage.config import Config, secret_key
from storage.db import Engine, session_scope
from storage.fanout import (
    DueCopy,
    add_deliveries,
    due_copies,
    mark_copies_sent,
    pending_fanouts,
    post_facts,
    recipients_for,
)
from storage.models import Delivery, utcnow

log = logging.getLogger(__name__)

BATCH = 1000
RECORD_EVERY = 250
RECORD_SECONDS = 1.0


def expand_fanouts(engine: Engine, config: Config, now: datetime | None = None, limit: int = 50) -> int:
    """Turn up to `limit` accepted posts into pending copies, one transaction per post."""
    now = now or utcnow()
    expanded = 0
    while expanded < limit:
        with session_scope(engine) as db:
            pending = pending_fanouts(db, 1)
            if not pending:
                break
            fanout_id, message_pk = pending[0]
            recipients = recipients_for(db, message_pk, copy_to_author=config.delivery.copy_to_author)
            add_deliveries(db, fanout_id, message_pk, recipients, now)
        expanded += 1
    return expanded


class _Recorder:
    """Collects outcomes and writes them in short transactions."""

    def __init__(self, engine: Engine, config: Config, now: datetime, result: DeliveryRound) -> None:
        self.engine, self.config, self.now, self.result = engine, config, now, result
        self.sent: list[int] = []
        self.failed: list[tuple[int, Failure]] = []
        self.since = time.monotonic()

    def add(self, copy_id: int, failure: Failure | None) -> None:
        if failure is None:
            self.sent.append(copy_id)
        else:
            self.failed.append((copy_id, failure))
        if len(self.sent) + len(self.failed) >= RECORD_EVERY or time.monotonic() - self.since > RECORD_SECONDS:
            self.flush()

    def flush(self) -> None:
        if self.sent or self.failed:
            with session_scope(self.engine) as db:
                mark_copies_sent(db, self.sent, self.now)
                for copy_id, failure in self.failed:
                    row = db.get(Delivery, copy_id)
                    if row is not None:
                        record_failure(db, self.config, row, failure, self.now, self.result)
            self.result.sent += len(self.sent)
        self.sent, self.failed, self.since = [], [], time.monotonic()


def _templates(engine: Engine, config: Config, secret: str, message_pks: set[int]) -> dict[int, CopyTemplate | Failure]:
    with session_scope(engine, readonly=True) as db:
        posts = {pk: post_facts(db, pk) for pk in message_pks}
    built: dict[int, CopyTemplate | Failure] = {}
    for pk, post in posts.items():
        if post is None:
            built[pk] = Failure("the post is no longer stored", permanent=True)
            continue
        try:
            built[pk] = build_copy_template(config, secret, post)
        except Exception as error:  # one unbuildable post must not block the queue
            log.exception("cannot build the copies of message %s", pk)
            built[pk] = Failure(f"cannot build the copy: {type(error).__name__}: {error}", permanent=True)
    return built


def send_copies(engine: Engine, config: Config, now: datetime | None = None) -> DeliveryRound:
    """Send every copy that is due, until none is left or the relay is down."""
    now = now or utcnow()
    secret = secret_key(config)
    result = DeliveryRound()
    templates: dict[int, CopyTemplate | Failure] = {}
    outbox = Outbox(config)
    recorder = _Recorder(engine, config, now, result)
    try:
        while True:
            with session_scope(engine, readonly=True) as db:
                due: list[DueCopy] = due_copies(db, now, BATCH)
            if not due:
                break
            templates.update(_templates(engine, config, secret, {c.message_pk for c in due} - templates.keys()))
            for copy in due:
                template = templates[copy.message_pk]
                if isinstance(template, Failure):
                    recorder.add(copy.id, template)
                    continue
                raw = template.render(config, unsubscribe_url(config, secret, copy.subscription_id))
                recorder.add(copy.id, outbox.send(verp_address(config, secret, copy.subscription_id),
                                                  copy.recipient, raw))
                if outbox.relay_down:
                    return result  # the rest waits for the next round
            if len(due) < BATCH:
                break
    finally:
        outbox.close()
        recorder.flush()
    return result


def deliver_posts(engine: Engine, config: Config, now: datetime | None = None) -> DeliveryRound:
    """The scheduled job: expand new posts, then send the copies that are due."""
    expand_fanouts(engine, config, now)
    return send_copies(engine, config, now)
