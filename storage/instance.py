"""Bringing up an instance's storage: folders, database schema, search index."""

from __future__ import annotations

from sqlalchemy import Engine

from storage.config import Config, secret_key
from storage.db import make_engine
from storage.schema import upgrade
from storage.search_index import open_or_create_index


def initialise(config: Config) -> Engine:
    """Create or upgrade everything the instance needs; safe to run again."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(config.database_url)
    upgrade(engine)
    open_or_create_index(config.index_dir)
    secret_key(config)
    return engine
