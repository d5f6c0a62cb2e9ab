"""Bringing up an instance's storage: folders, database schema, search index."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from storage.config import Config, secret_key
from storage.db import is_outage, make_engine, session_scope
from storage.schema import upgrade
from storage.search_queue import mark_all_for_reindex
from storage.search_index import ensure_index


def initialise(config: Config) -> Engine:
    """Create or upgrade everything the instance needs; safe to run again."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(config.database_url)
    prepare(engine, config)
    return engine


def prepare(engine: Engine, config: Config) -> None:
    """The schema, the search index and the signing key, created or upgraded as needed."""
    upgrade(engine)
    if ensure_index(config.index_dir):
        # A new, empty index (first start, a deleted folder, a new schema): fill it.
        with session_scope(engine) as db:
            mark_all_for_reindex(db)
    secret_key(config)


def start_instance(config: Config) -> tuple[Engine, str | None]:
    """For `relais serve`: `initialise`, except that a storage outage (a full disk, the
    database unreachable) does not stop it. The engine comes back with what is wrong (None
    when all is well); the caller runs `prepare` again until it succeeds."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(config.database_url)
    try:
        prepare(engine, config)
    except Exception as error:
        if not is_outage(error):
            engine.dispose()
            raise
        full = full_folders(config)
        problem = outage_text(error)
        if full:
            problem += "; no space left on the disk holding " + ", ".join(str(f) for f in full)
        return engine, problem
    return engine, None


# Less than this is a full disk: SQLite and the index need room for a transaction.
FULL_DISK_BYTES = 1 << 20


def full_folders(config: Config) -> list[Path]:
    """The instance's folders (database, index, data) whose disk has (almost) no space left."""
    folders = [config.data_dir, config.index_dir]
    url = make_url(config.database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        folders.insert(0, Path(url.database).parent)
    full = []
    for folder in dict.fromkeys(folders):
        try:
            stats = os.statvfs(folder if folder.exists() else folder.parent)
        except OSError:
            continue
        if stats.f_bavail * stats.f_frsize < FULL_DISK_BYTES:
            full.append(folder)
    return full


def outage_text(error: BaseException) -> str:
    """One line saying what is wrong with the storage, for the operator."""
    if isinstance(error, DBAPIError) and error.orig is not None:
        detail = str(error.orig)
    elif isinstance(error, OSError) and error.strerror:
        detail = f"{error.strerror}: {error.filename}" if error.filename else error.strerror
    else:
        detail = str(error)
    lines = [line.strip() for line in detail.splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__
