"""Bringing up an instance's storage: folders, database schema, search index."""

from __future__ import annotations

from sqlalchemy import Engine

from storage.config import Config, secret_key
from storage.db import make_engine, session_scope
from storage.schema import upgrade
from storage.search_queue import mark_all_for_reindex
from storage.search_index import ensure_index


def initialise(config: Config) -> Engine:
    """Create or upgrade everything the instance needs; safe to run again."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(config.database_url)
    upgrade(engine)
    if ensure_index(config.index_dir):
        # A new, empty index (first start, a deleted folder, a new schema): fill it.
        with session_scope(engine) as db:
            mark_all_for_reindex(db)
    secret_key(config)
    return engine
