"""The aiosmtpd handler: checks recipients, then hands DATA to the ingest writer.

The writer is one thread that stores messages off the event loop, several per transaction
when they arrive together (group commit: one fsync for all); a batch with a bad message is
stored again one message at a time, so that one bad message spoils no other. A message is answered 250 only once the transaction
holding it has committed; if storage fails the answer is 451 4.3.0, so the sending MTA
keeps the message and retries.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime

from aiosmtpd.smtp import SMTP, Envelope, Session as SMTPSession

from mailgateway import steps
from mailgateway.addresses import Kind, Recipient, classify
from mailgateway.pipeline import Inbound, Rejected, run
from storage.config import Config
from storage.db import Engine, Session, session_scope
from storage.models import ControlMessage, utcnow

log = logging.getLogger(__name__)

TEMPORARY_FAILURE = "451 4.3.0 Temporary storage failure, please try again later"
MAX_BATCH = 64


def receive(db: Session, config: Config, secret: str, raw: bytes, envelope_from: str,
            recipients: list[Recipient], received_at: datetime) -> str:
    """Everything one accepted DATA does, in the caller's transaction; returns the SMTP reply."""
    reply = "250 2.0.0 OK"
    for r in recipients:
        if r.kind in (Kind.REQUEST, Kind.BOUNCES):
            # Kept whole and processed after the commit (commands, bounce scores).
            db.add(ControlMessage(kind=r.kind.value, recipient=r.address, envelope_from=envelope_from,
                                  raw=raw, received_at=received_at))
    posts = [r for r in recipients if r.kind is Kind.POST]
    if posts:
        topic_hint = next((r.topic_id for r in posts if r.topic_id is not None), None)
        inbound = Inbound(raw=raw, config=config, secret=secret, envelope_from=envelope_from,
                          topic_hint=topic_hint, received_at=received_at)
        reply = run(db, inbound, steps.POST).reply
    return reply


@dataclass(eq=False)
class _Job:
    raw: bytes
    envelope_from: str
    recipients: list[Recipient]
    received_at: datetime = field(default_factory=utcnow)
    reply: Future[str] = field(default_factory=Future)


class IngestWriter:
    """The one thread that stores incoming mail, many messages per commit."""

    def __init__(self, config: Config, engine: Engine, secret: str) -> None:
        self.config, self.engine, self.secret = config, engine, secret
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="relais-ingest", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._jobs.put(None)
        self._thread.join(timeout=30)

    def submit(self, raw: bytes, envelope_from: str, recipients: list[Recipient]) -> Future[str]:
        job = _Job(raw, envelope_from, recipients)
        self._jobs.put(job)
        return job.reply

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            batch = [job]
            while len(batch) < MAX_BATCH:
                try:
                    more = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._jobs.put(None)  # finish this batch, then stop
                    break
                batch.append(more)
            self._store(batch)

    def _store(self, batch: list[_Job]) -> None:
        if len(batch) > 1:
            # Optimistic: the whole batch in one transaction, one fsync. Should any message
            # fail or be refused, nothing of the batch is kept and each message is stored
            # again on its own, so that only that one is refused.
            try:
                with session_scope(self.engine) as db:
                    replies = [self._receive(db, job) for job in batch]
            except Exception:
                pass
            else:
                for job, reply in zip(batch, replies):
                    job.reply.set_result(reply)
                return
        for job in batch:
            job.reply.set_result(self._store_one(job))

    def _store_one(self, job: _Job) -> str:
        try:
            with session_scope(self.engine) as db:
                return self._receive(db, job)
        except Rejected as refused:
            return refused.reply
        except Exception:
            log.exception("storing a message failed; the sender will retry")
            return TEMPORARY_FAILURE

    def _receive(self, db: Session, job: _Job) -> str:
        return receive(db, self.config, self.secret, job.raw, job.envelope_from, job.recipients,
                       job.received_at)


class GatewayHandler:
    def __init__(self, config: Config, secret: str, writer: IngestWriter) -> None:
        self.config = config
        self.secret = secret
        self.writer = writer

    async def handle_RCPT(self, server: SMTP, session: SMTPSession, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if classify(self.config, self.secret, address) is None:
            return f"550 5.1.1 <{address}>: no such address here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: SMTPSession, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        if len(raw) > self.config.smtp.max_message_size:
            return size_reply(self.config)
        recipients = [r for a in envelope.rcpt_tos if (r := classify(self.config, self.secret, a))]
        return await asyncio.wrap_future(self.writer.submit(raw, envelope.mail_from or "", recipients))


def size_reply(config: Config) -> str:
    return (f"552 5.3.4 Message too big: {config.forum.name} accepts messages "
            f"up to {config.smtp.max_message_size} bytes")
