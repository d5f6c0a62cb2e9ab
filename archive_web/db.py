"""The request's database session, opened on first use and closed when the request ends."""

from __future__ import annotations

from flask import current_app, g
from storage.db import Session, open_session

from storage.config import Config


def db() -> Session:
    if "db" not in g:
        # Pages only read: a deferred SQLite transaction never waits for the gateway's writes.
        g.db = open_session(current_app.extensions["relais.engine"], readonly=True)
    return g.db


def forum_config() -> Config:
    return current_app.extensions["relais.config"]
