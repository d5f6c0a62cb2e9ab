"""The fan-out worker: expands each accepted post into one pending copy per recipient, then
builds every copy at send time (footer, List-* headers, VERP envelope, DKIM) and sends it
over one reused relay connection, recording each copy's outcome.

Scheduled job, never on the SMTP path: the gateway only recorded that the post is to be
distributed. Outcomes are recorded every RECORD_EVERY copies in short transactions (while
the next copies are sent), and always before the next copies are chosen, so that no copy is
sent twice without a crash; a crash (or a database outage that outlasts the recorder's
retries) re-sends at most the UNRECORDED copies sent and not yet recorded, whatever the
list size. A failure of the
relay itself stops the round and pauses sending with backoff (mailgateway.delivery).
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime

from mailgateway.addresses import verp_address
from mailgateway.copies import CopyTemplate, build_copy_template
from mailgateway.copy_parts import CopyError
from mailgateway.delivery import DeliveryRound, record_failure, record_relay_state, relay_paused
from mailgateway.listheaders import unsubscribe_url
from mailgateway.relay import Failure, Outbox
from mailgateway.unsendable import set_aside
from storage.config import Config, secret_key
from storage.db import Engine, session_scope
from storage.fanout import (
    DueCopy,
    PostFacts,
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
# Outcomes are recorded by batches of RECORD_EVERY copies, one batch written while the next
# is sent: at most UNRECORDED copies are sent and not recorded, what a crash sends twice.
RECORD_EVERY = 20
UNRECORDED = 2 * RECORD_EVERY
RECORD_SECONDS = 1.0
# A failed record (the database briefly away) is tried again after these waits before the
# round gives up: a short outage costs no duplicate.
RECORD_RETRIES = (0.5, 1, 2, 4, 8, 16)


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
    """Collects outcomes and writes them in short transactions, in a thread of its own so
    that sending goes on while a batch commits; at most one batch is being written while the
    next fills (so at most UNRECORDED copies are sent and not yet recorded)."""

    def __init__(self, engine: Engine, config: Config, now: datetime, result: DeliveryRound) -> None:
        self.engine, self.config, self.now, self.result = engine, config, now, result
        self.sent: list[int] = []
        self.failed: list[tuple[int, Failure]] = []
        self.relay_failure: Failure | None = None
        self.since = time.monotonic()
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="relais-fanout-record")
        self.writing: Future[None] | None = None

    def add(self, copy_id: int, failure: Failure | None) -> None:
        if failure is None:
            self.sent.append(copy_id)
        else:
            self.failed.append((copy_id, failure))
            if failure.relay_wide:
                self.relay_failure = failure
        if len(self.sent) + len(self.failed) >= RECORD_EVERY or time.monotonic() - self.since > RECORD_SECONDS:
            self.flush(wait=False)

    def flush(self, *, wait: bool = True, last: bool = False) -> None:
        """Hand the outcomes collected to the writer (after the previous batch is written);
        with `wait`, return once everything is recorded."""
        self._written()
        if self.sent or self.failed or (last and (self.relay_failure or self.result.sent)):
            self.writing = self.writer.submit(self._write, self.sent, self.failed, last)
        self.sent, self.failed, self.since = [], [], time.monotonic()
        if wait:
            self._written()

    def close(self) -> None:
        try:
            self.flush(last=True)
        finally:
            self.writer.shutdown(wait=True)

    def _written(self) -> None:
        if self.writing is not None:
            writing, self.writing = self.writing, None
            writing.result()  # raises what the writer could not recover from

    def _write(self, sent: list[int], failed: list[tuple[int, Failure]], last: bool) -> None:
        for wait in (*RECORD_RETRIES, None):
            try:
                counted = self._record(sent, failed, last)
                break
            except Exception:
                if wait is None:
                    raise
                log.warning("cannot record the copies sent; trying again in %s s", wait, exc_info=True)
                threading.Event().wait(wait)
        self.result.sent += len(sent)
        self.result.deferred += counted.deferred
        self.result.failed += counted.failed

    def _record(self, sent: list[int], failed: list[tuple[int, Failure]], last: bool) -> DeliveryRound:
        counted = DeliveryRound()  # added to the round's only once the transaction commits
        with session_scope(self.engine) as db:
            mark_copies_sent(db, sent, self.now)
            for copy_id, failure in failed:
                row = db.get(Delivery, copy_id)
                if row is not None:
                    record_failure(db, self.config, row, failure, self.now, counted)
            if last:
                record_relay_state(db, self.config, self.relay_failure,
                                   accepted=self.result.sent + len(sent) > 0, now=self.now)
        return counted


def _templates(engine: Engine, config: Config, secret: str, message_pks: set[int],
               now: datetime) -> dict[int, CopyTemplate | None]:
    """Each post's copy template; None for a post that cannot be sent, set aside at once
    (its copies failed together, the post held for the moderators, its author told)."""
    with session_scope(engine, readonly=True) as db:
        posts = {pk: post_facts(db, pk) for pk in message_pks}
    built: dict[int, CopyTemplate | None] = {}
    for pk, post in posts.items():
        reason = _unbuildable(config, secret, post, built, pk)
        if reason is not None:
            with session_scope(engine) as db:
                set_aside(db, config, pk, post, reason, now)
            built[pk] = None
    return built


def _unbuildable(config: Config, secret: str, post: PostFacts | None, built: dict[int, CopyTemplate | None],
                 pk: int) -> str | None:
    if post is None:
        return "the post is no longer stored"
    try:
        built[pk] = build_copy_template(config, secret, post)
    except CopyError as error:
        return str(error)
    except Exception as error:  # one unbuildable post must not block the queue
        log.exception("cannot build the copies of message %s", pk)
        return f"its copies cannot be built ({type(error).__name__})"
    return None


def send_copies(engine: Engine, config: Config, now: datetime | None = None) -> DeliveryRound:
    """Send every copy that is due, until none is left or the relay fails (then sending
    pauses with backoff: nothing is tried again before the pause ends)."""
    now = now or utcnow()
    result = DeliveryRound()
    if relay_paused(engine, config, now):
        return result
    secret = secret_key(config)
    templates: dict[int, CopyTemplate | None] = {}
    outbox = Outbox(config)
    recorder = _Recorder(engine, config, now, result)
    try:
        while True:
            recorder.flush()  # what was sent is recorded before the next copies are chosen
            with session_scope(engine, readonly=True) as db:
                due: list[DueCopy] = due_copies(db, now, BATCH)
            if not due:
                break
            templates.update(_templates(engine, config, secret, {c.message_pk for c in due} - templates.keys(),
                                        now))
            for copy in due:
                template = templates[copy.message_pk]
                if template is None:
                    continue  # set aside: its copies are recorded as failed
                raw = template.render(config, unsubscribe_url(config, secret, copy.subscription_id), copy.language)
                recorder.add(copy.id, outbox.send(verp_address(config, secret, copy.subscription_id),
                                                  copy.recipient, raw))
                if outbox.relay_down:
                    return result  # the rest waits for the end of the pause
            if len(due) < BATCH:
                break
    finally:
        outbox.close()
        recorder.close()
    return result


def deliver_posts(engine: Engine, config: Config, now: datetime | None = None) -> DeliveryRound:
    """The scheduled job: expand new posts, then send the copies that are due."""
    expand_fanouts(engine, config, now)
    return send_copies(engine, config, now)
