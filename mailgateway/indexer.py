"""The indexing job: reads the body of newly stored messages (text, attachments) and adds
them to the search index, after the commit that answered 250.

Messages not yet indexed are marked by `indexed_at IS NULL`, so a crash loses nothing: the
next run (at start-up too) picks them up. The search index is written before the rows are
marked, and replacing a document is idempotent.
"""

from __future__ import annotations

from mailgateway.body import extract_body
from storage.config import Config
from storage.db import Engine, session_scope
from storage.messages import record_body, unindexed_messages
from storage.models import utcnow
from storage.search_index import MessageDocument, index_documents

BATCH = 200


def index_pending(engine: Engine, config: Config, limit: int = BATCH) -> int:
    """Index up to `limit` pending messages; returns how many were indexed."""
    with session_scope(engine, readonly=True) as db:
        pending = [(m.id, m.message_id, m.topic_id, m.subject, m.raw,
                    m.from_name or m.from_address,
                    m.topic.category.name if m.topic.category else "", m.date)
                   for m in unindexed_messages(db, limit)]
    if not pending:
        return 0
    bodies = {pk: extract_body(raw) for pk, _, _, _, raw, _, _, _ in pending}
    index_documents(config.index_dir, [
        MessageDocument(message_pk=pk, message_id=mid, topic_id=topic_id, subject=subject,
                        text=bodies[pk].text, author=author, category=category, date=date)
        for pk, mid, topic_id, subject, _, author, category, date in pending])
    now = utcnow()
    with session_scope(engine) as db:
        for pk, body in bodies.items():
            record_body(db, pk, body.text, [(a.filename, a.content_type, a.size, a.part_index)
                                            for a in body.attachments], now)
    return len(pending)


def index_all_pending(engine: Engine, config: Config) -> int:
    """Run batches until nothing is pending (at start-up, in tests)."""
    total = 0
    while count := index_pending(engine, config):
        total += count
    return total
