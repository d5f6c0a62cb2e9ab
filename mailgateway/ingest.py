"""The ingest writer: a process of its own that stores incoming mail, many messages per
commit, and answers each with its SMTP reply.

A process, not a thread: parsing, threading and SQL cost as much CPU as the SMTP dialogue
itself, and in one interpreter the two would take turns; apart, each has its core. The
messages that arrive together are stored in one transaction (group commit: one fsync for
all); a batch with a bad message is stored again one message at a time, so that only that
one is refused. A reply is sent back only once the transaction holding the message has
committed. If the process dies, the messages it held are answered 451 (the senders retry)
and a new process is started.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from multiprocessing.connection import Connection
from dataclasses import dataclass, field
from datetime import datetime
from itertools import count

from mailgateway import steps
from mailgateway.addresses import Kind, Recipient
from mailgateway.pipeline import Inbound, Rejected, run
from storage.config import Config
from storage.db import Engine, Session, make_engine, session_scope
from storage.models import ControlMessage, utcnow

log = logging.getLogger(__name__)

MAX_BATCH = 64
TEMPORARY_FAILURE = "451 4.3.0 Temporary storage failure, please try again later"


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


@dataclass(frozen=True)
class Job:
    id: int
    raw: bytes
    envelope_from: str
    recipients: list[Recipient]
    received_at: datetime = field(default_factory=utcnow)


def _receive(db: Session, config: Config, secret: str, job: Job) -> str:
    return receive(db, config, secret, job.raw, job.envelope_from, job.recipients, job.received_at)


def _store_one(engine: Engine, config: Config, secret: str, job: Job) -> str:
    try:
        with session_scope(engine) as db:
            return _receive(db, config, secret, job)
    except Rejected as refused:
        return refused.reply
    except Exception:
        log.exception("storing a message failed; the sender will retry")
        return TEMPORARY_FAILURE


def store_batch(engine: Engine, config: Config, secret: str, batch: list[Job]) -> list[str]:
    """Store a batch, in one transaction if all goes well; the SMTP reply of each message."""
    if len(batch) > 1:
        try:
            with session_scope(engine) as db:
                return [_receive(db, config, secret, job) for job in batch]
        except Exception:  # Rejected too: nothing of the batch is kept, each goes again alone
            pass
    return [_store_one(engine, config, secret, job) for job in batch]


def _writer_main(config: Config, secret: str, conn: Connection) -> None:
    engine = make_engine(config.database_url)
    try:
        while (job := conn.recv()) is not None:
            batch = [job]
            # Whatever else has already arrived goes into the same transaction.
            while len(batch) < MAX_BATCH and conn.poll():
                more = conn.recv()
                if more is None:
                    job = None
                    break
                batch.append(more)
            for done, reply in zip(batch, store_batch(engine, config, secret, batch)):
                conn.send((done.id, reply))
            if job is None:
                break
    except (EOFError, KeyboardInterrupt):
        pass  # the gateway went away
    finally:
        engine.dispose()
        conn.close()


class IngestWriter:
    """Hands messages to the writer process and resolves each one's reply.

    Used from the SMTP server's event loop only: jobs are written to the pipe and replies
    read from it by the loop itself (no thread of ours competes with it).
    """

    def __init__(self, config: Config, secret: str) -> None:
        self.config, self.secret = config, secret
        self._context = multiprocessing.get_context("spawn")
        self._ids = count(1)
        self._pending: dict[int, asyncio.Future[str]] = {}

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start the writer process; `loop` (not running yet, or this thread's) reads replies."""
        self._loop = loop
        self._conn, child = self._context.Pipe(duplex=True)
        self._process = self._context.Process(target=_writer_main, args=(self.config, self.secret, child),
                                              name="relais-ingest", daemon=True)
        self._process.start()
        child.close()
        loop.add_reader(self._conn.fileno(), self._read_replies)

    def submit(self, raw: bytes, envelope_from: str, recipients: list[Recipient]) -> asyncio.Future[str]:
        future = self._loop.create_future()
        job_id = next(self._ids)
        self._pending[job_id] = future
        try:
            self._conn.send(Job(job_id, raw, envelope_from, recipients))
        except (OSError, ValueError):  # the writer died: the reply reader restarts it
            self._pending.pop(job_id)
            future.set_result(TEMPORARY_FAILURE)
        return future

    def stop(self) -> None:
        """Called once the event loop has stopped: let the writer finish, then end it."""
        self._loop.remove_reader(self._conn.fileno())
        try:
            self._conn.send(None)
            while self._conn.poll(30):
                if self._conn.recv() is None:
                    break
        except (EOFError, OSError):
            pass
        self._process.join(timeout=30)
        self._conn.close()

    def _read_replies(self) -> None:
        try:
            while self._conn.poll():
                job_id, reply = self._conn.recv()
                future = self._pending.pop(job_id, None)
                if future is not None and not future.done():
                    future.set_result(reply)
        except (EOFError, OSError):
            self._restart()

    def _restart(self) -> None:
        self._loop.remove_reader(self._conn.fileno())
        self._conn.close()
        self._process.join(timeout=5)
        log.error("the ingest writer process died (exit code %s); restarting it", self._process.exitcode)
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_result(TEMPORARY_FAILURE)
        self.start(self._loop)
