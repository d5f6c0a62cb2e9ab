"""Database engine and sessions: SQLite tuned for one busy process, or PostgreSQL by URL.

Sessions are opened at the edges (SMTP handler, web request, CLI command, scheduled job)
with `with session_scope(engine) as s:` and passed in to data functions, which never commit.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

__all__ = ["Engine", "Session", "make_engine", "open_session", "session_scope"]


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        # WAL lets the web app read while the gateway writes; synchronous=FULL makes a
        # commit durable before we answer 250; busy_timeout waits for the writer lock.
        dbapi_conn.isolation_level = None  # let SQLAlchemy's "begin" event issue BEGIN
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin_immediate(conn):  # type: ignore[no-untyped-def]
        # Take the write lock at BEGIN: a deferred transaction that later wants to write
        # fails with "database is locked" instead of waiting, under concurrent sessions.
        conn.exec_driver_sql("BEGIN " + conn.get_execution_options().get("sqlite_begin", "IMMEDIATE"))

    return engine


def open_session(engine: Engine, readonly: bool = False) -> Session:
    """A session the caller closes (a web request's); see session_scope for `readonly`."""
    bind = engine.execution_options(sqlite_begin="DEFERRED") if readonly else engine
    return Session(bind, expire_on_commit=False)


@contextmanager
def session_scope(engine: Engine, readonly: bool = False) -> Iterator[Session]:
    """One transaction: committed when the block ends, rolled back if it raises.

    `readonly` sessions (web pages) start a deferred SQLite transaction, which in WAL mode
    never waits for the writer.
    """
    with open_session(engine, readonly) as session, session.begin():
        yield session
