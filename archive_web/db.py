"""The request's database sessions: a read-only one opened on first use and closed when the
request ends, and short write transactions for the forms that change something."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import current_app, g
from storage.db import Engine, Session, open_session, session_scope

from storage.config import Config


def db() -> Session:
    if "db" not in g:
        # Pages only read: a deferred SQLite transaction never waits for the gateway's writes.
        g.db = open_session(engine(), readonly=True)
    return g.db


@contextmanager
def write_session() -> Iterator[Session]:
    """One committed transaction for a form's change (sign-in, account settings)."""
    with session_scope(engine()) as session:
        yield session


def engine() -> Engine:
    return current_app.extensions["relais.engine"]


def forum_config() -> Config:
    return current_app.extensions["relais.config"]
