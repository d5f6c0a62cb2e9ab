"""The indexing job: reads the body of newly stored messages (text, attachments) and writes
them to the search index in batches, after the commit that answered 250; and the full
rebuild behind `relais reindex`.

The job is the server's one index writer: a scheduled job (one instance at a time) that
takes what waits in the database queue (`indexed_at`, see storage.search_feed) and writes
it in one Whoosh commit. The database, not an in-memory queue, is what it reads from: a
message stored by the gateway's writer process, a topic a moderator changed, what a crash
left half-done and what `relais reindex` hands back are all found the same way, and a
busy minute becomes one large batch instead of many small commits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

from mailgateway.body import extract_body
from storage.config import Config
from storage.db import Engine, session_scope
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
    mark_for_reindex,
    mark_indexed_since,
    release_claims,
)
from storage.search_index import MessageDocument, SearchIndex, build_generation

log = logging.getLogger(__name__)

REBUILD_PAGE = 500


def _documents(engine: Engine, sources: list[IndexSource],
               record: bool) -> tuple[list[MessageDocument], dict[int, tuple[str, list]]]:
    """Documents for these messages; bodies not read yet are read from the raw bytes
    (returned too, so that the caller can record them)."""
    pks = [s.message_pk for s in sources]
    unread = [s.message_pk for s in sources if s.text is None]
    with session_scope(engine, readonly=True) as db:
        names = attachment_names(db, sorted(set(pks) - set(unread)))
        raws = raw_messages(db, unread) if unread else {}
    bodies = {pk: extract_body(raw) for pk, raw in raws.items()}
    read: dict[int, tuple[str, list]] = {}
    documents = []
    for source in sources:
        if source.message_pk in bodies:
            body = bodies[source.message_pk]
            text, files = body.text, [a.filename for a in body.attachments]
            if record:
                read[source.message_pk] = (body.text, [(a.filename, a.content_type, a.size, a.part_index)
                                                       for a in body.attachments])
        else:
            text, files = source.text or "", names.get(source.message_pk, [])
        documents.append(message_document(source, text, files))
    return documents, read


def index_pending(engine: Engine, config: Config, search: SearchIndex) -> int:
    """Index one batch of waiting messages in one commit; returns how many."""
    with session_scope(engine) as db:
        pks = claim_pending(db, config.search.batch_size)
    if not pks:
        return 0
    try:
        with session_scope(engine, readonly=True) as db:
            sources = index_sources(db, pks)
        documents, read = _documents(engine, sources, record=True)
        generation = search.write(documents)
        with session_scope(engine) as db:
            for pk, (text, attachments) in read.items():
                record_body(db, pk, text, attachments, None)
            finish_indexing(db, pks, utcnow())
    except Exception:
        with session_scope(engine) as db:
            release_claims(db, pks)
        raise
    if search.generation() != generation:
        # `relais reindex` swapped in a new index while this batch went to the old one.
        with session_scope(engine) as db:
            mark_for_reindex(db, pks)
    return len(pks)


def index_all_pending(engine: Engine, config: Config, search: SearchIndex | None = None) -> int:
    """Run batches until nothing waits (at start-up, in tests and benchmarks)."""
    own = search is None
    search = search or SearchIndex(config.index_dir, config.search.writer_memory_mb)
    total = 0
    try:
        while count := index_pending(engine, config, search):
            total += count
    finally:
        if own:
            search.close()
    return total


def recover_interrupted(engine: Engine) -> int:
    """At start-up: what a crash left claimed goes back to the queue."""
    with session_scope(engine) as db:
        return release_claims(db)


def _all_documents(engine: Engine) -> Iterator[MessageDocument]:
    after = 0
    while True:
        with session_scope(engine, readonly=True) as db:
            sources = sources_after(db, after, REBUILD_PAGE)
        if not sources:
            return
        documents, _ = _documents(engine, sources, record=False)
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
