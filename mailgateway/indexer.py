"""The indexing job: reads the body of newly stored messages (text, attachments) and writes
them to the search index in batches, after the commit that answered 250; and the full
rebuild behind `relais reindex`.

The job is the server's one index writer: a scheduled job (one instance at a time) that
takes what waits in the database queue (`indexed_at`, see storage.search_feed) and writes
it in one Whoosh commit. The database, not an in-memory queue, is what it reads from: a
message stored by the gateway's writer process, a topic a moderator changed, what a crash
left half-done and what `relais reindex` hands back are all found the same way, and a
busy minute becomes one large batch instead of many small commits.

No message stops the others: a body that cannot be read (see mailgateway.body), a document
the index refuses or a body the database refuses is *set aside* (marked with why, logged,
listed for moderators) and the batch goes on. A failure of the storage itself (database
unreachable, disk full) is not the message's fault: the batch goes back to the queue and
the next run, two seconds later, tries again, so that indexing resumes by itself after an
outage.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime

from mailgateway.body import MessageBody, extract_body
from storage.config import Config
from storage.db import Engine, Session, is_outage, session_scope
from storage.messages import record_body
from storage.models import utcnow
from storage.search_feed import (
    IndexSource,
    attachment_names,
    index_sources,
    message_document,
    raw_messages,
    sources_after,
)
from storage.search_queue import (
    claim_pending,
    finish_indexing,
    lock_claimed,
    mark_for_reindex,
    mark_indexed_since,
    release_claims,
    set_aside,
    unreadable_among,
)
from storage.search_index import MessageDocument, SearchIndex, build_generation

log = logging.getLogger(__name__)

REBUILD_PAGE = 500


Read = dict[int, tuple[str, list[tuple[str, str, int, int]]]]


def _documents(engine: Engine, sources: list[IndexSource]) -> tuple[list[MessageDocument], Read, dict[int, str]]:
    """Documents for these messages; bodies not read yet are read from the raw bytes
    (returned too, so that the caller can record them), and those that cannot be read
    are returned apart with why (their document has no body)."""
    pks = [s.message_pk for s in sources]
    with session_scope(engine, readonly=True) as db:
        known = unreadable_among(db, pks)  # set aside before: never read again
        unread = [s.message_pk for s in sources if s.text is None and s.message_pk not in known]
        names = attachment_names(db, sorted(set(pks) - set(unread)))
        raws = raw_messages(db, unread) if unread else {}
    bodies: dict[int, MessageBody] = {pk: extract_body(raw) for pk, raw in raws.items()}
    read: Read = {}
    unreadable: dict[int, str] = {}
    documents = []
    for source in sources:
        body = bodies.get(source.message_pk)
        if body is not None and body.unreadable:
            unreadable[source.message_pk] = body.unreadable
            text, files = "", []
        elif body is not None:
            text, files = body.text, [a.filename for a in body.attachments]
            read[source.message_pk] = (body.text, [(a.filename, a.content_type, a.size, a.part_index)
                                                   for a in body.attachments])
        else:
            text, files = source.text or "", names.get(source.message_pk, [])
        documents.append(message_document(source, text, files))
    return documents, read, unreadable


def _write(search: SearchIndex, documents: list[MessageDocument], unreadable: dict[int, str]) -> str:
    """Write the batch in one commit; if the index refuses it for a reason other than the
    storage, write each document alone and set aside those it refuses."""
    try:
        return search.write(documents)
    except Exception as error:
        if is_outage(error):
            raise
        log.warning("the search index refused a batch (%r): writing it one message at a time", error)
    generation = search.generation()
    for document in documents:
        try:
            generation = search.write([document])
        except Exception as error:
            if is_outage(error):
                raise
            unreadable[document.message_pk] = f"the search index refused it ({type(error).__name__})"
    return generation


def _record(engine: Engine, pks: list[int], read: Read, unreadable: dict[int, str]) -> None:
    """Record the bodies read, the messages set aside, and that the index has the batch."""
    now = utcnow()
    try:
        with session_scope(engine) as db:
            _record_in(db, pks, read, unreadable, now)
        return
    except Exception as error:
        if is_outage(error):
            raise
        log.warning("the database refused a batch (%r): recording it one message at a time", error)
    # A body the database refuses (PostgreSQL and a NUL byte, a value too long): each
    # message in a transaction of its own, and the one refused is set aside.
    for pk in pks:
        try:
            with session_scope(engine) as db:
                _record_in(db, [pk], read, unreadable, now)
        except Exception as error:
            if is_outage(error):
                raise
            unreadable[pk] = f"its body could not be stored ({type(error).__name__})"
            with session_scope(engine) as db:
                set_aside(db, pk, unreadable[pk], now)


def _record_in(db: Session, pks: list[int], read: Read, unreadable: dict[int, str], now: datetime) -> None:
    # Only the rows locked without waiting (see storage.search_queue): the others stay
    # claimed, and the next run indexes them again.
    locked = lock_claimed(db, pks)
    for pk in locked:
        if pk in read and pk not in unreadable:
            text, attachments = read[pk]
            record_body(db, pk, text, attachments, None)
    finish_indexing(db, locked, now)
    for pk in locked:
        if pk in unreadable:
            set_aside(db, pk, unreadable[pk], now)


def _log_set_aside(unreadable: dict[int, str]) -> None:
    for pk, reason in sorted(unreadable.items()):
        log.warning("message %d set aside, it cannot be read: %s", pk, reason)


def index_pending(engine: Engine, config: Config, search: SearchIndex) -> int:
    """Index one batch of waiting messages in one commit; returns how many."""
    with session_scope(engine) as db:
        pks = claim_pending(db, config.search.batch_size)
    if not pks:
        return 0
    try:
        with session_scope(engine, readonly=True) as db:
            sources = index_sources(db, pks)
        documents, read, unreadable = _documents(engine, sources)
        generation = _write(search, documents, unreadable)
        _record(engine, pks, read, unreadable)
        _log_set_aside(unreadable)
    except Exception:
        try:
            with session_scope(engine) as db:
                release_claims(db, pks)
        except Exception:  # the database is what failed: the next run releases them
            log.debug("could not release claims now", exc_info=True)
        raise
    if search.generation() != generation:
        # `relais reindex` swapped in a new index while this batch went to the old one.
        with session_scope(engine) as db:
            mark_for_reindex(db, pks)
    return len(pks)


def index_all_pending(engine: Engine, config: Config, search: SearchIndex | None = None) -> int:
    """Run batches until nothing waits (the server's job every 2 s, at start-up, in tests
    and benchmarks). What is claimed when it starts was left by a run that failed (this job
    is the only one to claim): it goes back to the queue first."""
    own = search is None
    search = search or SearchIndex(config.index_dir, config.search.writer_memory_mb)
    total = 0
    try:
        recover_interrupted(engine)
        while count := index_pending(engine, config, search):
            total += count
    finally:
        if own:
            search.close()
    return total


def recover_interrupted(engine: Engine) -> int:
    """What a crash or a run cut by an outage left claimed goes back to the queue."""
    with session_scope(engine) as db:
        return release_claims(db)


class IndexingJob:
    """The server's scheduled indexing run: during a storage outage it logs once that
    indexing waits, and once that it resumed, instead of a traceback every 2 seconds."""

    def __init__(self, engine: Engine, config: Config, search: SearchIndex) -> None:
        self.engine, self.config, self.search = engine, config, search
        self.waiting_on: str | None = None  # the storage error indexing waits on, if any

    def __call__(self) -> int:
        try:
            count = index_all_pending(self.engine, self.config, self.search)
        except Exception as error:
            if not is_outage(error):
                raise
            if self.waiting_on is None:
                log.error("indexing waits for the storage to come back: %s", error)
            self.waiting_on = str(error)
            return 0
        if self.waiting_on is not None:
            log.warning("storage is back: indexing resumed")
            self.waiting_on = None
        return count


def _all_documents(engine: Engine) -> Iterator[MessageDocument]:
    after = 0
    while True:
        with session_scope(engine, readonly=True) as db:
            sources = sources_after(db, after, REBUILD_PAGE)
        if not sources:
            return
        documents, _, _ = _documents(engine, sources)
        yield from documents
        after = sources[-1].message_pk


def rebuild_index(engine: Engine, config: Config, processes: int | None = None,
                  progress: Callable[[int], object] | None = None) -> str:
    """Build the whole index again from the database into a new generation while the
    current one keeps serving, swap it in, and hand back to the running server's job
    what it wrote into the old index meanwhile. Returns the new generation's name."""
    started = utcnow()
    name = build_generation(config.index_dir, _all_documents(engine), config.search.writer_memory_mb,
                            processes or config.search.reindex_processes, progress)
    with session_scope(engine) as db:
        again = mark_indexed_since(db, started)
    log.info("index %s in use; %d messages indexed meanwhile go to it too", name, again)
    return name
