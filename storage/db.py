"""Database engine and sessions: SQLite tuned for one busy process, or PostgreSQL by URL.

Sessions are opened at the edges (SMTP handler, web request, CLI command, scheduled job)
with `with session_scope(engine) as s:` and passed in to data functions, which never commit.

An outage (the database unreachable or restarting, the disk full) is told apart from an
error of one message or one request by `is_outage`: the edges answer "try again later"
(SMTP 451, HTTP 503) and the jobs simply run again; nothing needs a restart, since the
pool checks a connection before handing it out and drops the broken ones.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

__all__ = ["Engine", "OUTAGE_ERRORS", "Session", "StorageUnavailable", "is_outage", "make_engine",
           "open_session", "session_scope"]


class StorageUnavailable(Exception):
    """The storage cannot be used right now (the search index locked or its disk full)."""


# What "the storage is down, try again later" looks like: a connection refused, cut or timed
# out (OperationalError, InterfaceError, the pool's TimeoutError), SQLite's "database or disk
# is full" and "database is locked" (OperationalError), and the file system (OSError).
OUTAGE_ERRORS: tuple[type[BaseException], ...] = (
    sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DisconnectionError, sa_exc.TimeoutError,
    OSError, StorageUnavailable)


def is_outage(error: BaseException) -> bool:
    """Whether an error says the storage is unavailable (retry later) rather than that this
    message or request is at fault."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, OUTAGE_ERRORS):
            return True
        seen.add(id(current))
        current = current.__cause__
    return False


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # pre_ping: after PostgreSQL restarts or cuts a backend, the next checkout reconnects.
        timeout = {"connect_timeout": 10} if parsed.get_backend_name() == "postgresql" else {}
        return create_engine(url, pool_pre_ping=True, connect_args=timeout)
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
