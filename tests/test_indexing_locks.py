"""On PostgreSQL the indexing job never waits for a row lock (issue 10, finding 13: it
deadlocked now and then with the ingest writer). A transaction that never waits cannot be
part of a deadlock: a message another transaction holds is left for the next run."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select, text

from mailfactory import make_mail
from mailgateway.indexer import index_all_pending
from storage.db import session_scope
from storage.models import Message


def indexed(instance) -> dict[str, bool]:  # type: ignore[no-untyped-def]
    with session_scope(instance.engine) as db:
        return {mid: at is not None and at.year > 1970
                for mid, at in db.execute(select(Message.message_id, Message.indexed_at))}


def test_the_indexing_job_skips_a_message_another_transaction_holds(gateway):
    instance = gateway.instance
    if instance.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no row locks: one writer at a time, taken at BEGIN")
    instance.add_member("alice@example.org", "Alice Martin")
    for n in range(3):
        assert gateway.send(make_mail(f"Obstacle {n}", message_id=f"m{n}@x"))[0] == 250

    # What the ingest writer does when a late message merges topics: it updates the rows.
    holder = instance.engine.connect()
    transaction = holder.begin()
    holder.execute(text("UPDATE messages SET topic_id = topic_id WHERE message_id = 'm1@x'"))
    try:
        job = threading.Thread(target=index_all_pending, args=(instance.engine, instance.config), daemon=True)
        job.start()
        job.join(timeout=20)
        assert not job.is_alive(), "the indexing job waited for the writer's row lock"
        assert indexed(instance) == {"m0@x": True, "m1@x": False, "m2@x": True}
    finally:
        transaction.rollback()
        holder.close()
    job.join(timeout=30)
    index_all_pending(instance.engine, instance.config)
    assert indexed(instance) == {"m0@x": True, "m1@x": True, "m2@x": True}
