"""Fixtures that build real Relais parts from a temporary folder: a database (SQLite file,
and PostgreSQL too when RELAIS_TEST_DATABASE_URL is set), the SMTP gateway on a free
port, smtplib clients and an SMTP sink standing for the upstream relay."""

from __future__ import annotations

import os
import smtplib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import create_engine, make_url, text

from mailgateway.server import GatewayController, start_gateway
from storage.config import Config, config_from_mapping, secret_key
from storage.db import Engine, session_scope
from storage.instance import initialise
from storage.models import DeliveryMode, OrganisationKind, Role
from storage.people import MemberRow, upsert_member

POSTGRES_URL = os.environ.get("RELAIS_TEST_DATABASE_URL", "")
FORUM = "forum@example.org"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _own_postgres_database(url: str) -> str:
    """A database of this test process's own, beside RELAIS_TEST_DATABASE_URL's, so that
    several test runs on one PostgreSQL server (a developer's and a helper's) never meet."""
    base = make_url(url)
    name = f"{base.database}_relais_{os.getpid()}"
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        if conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first() is None:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def _reset_postgres(url: str) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    url = _own_postgres_database(POSTGRES_URL)
    yield url
    engine = create_engine(make_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    engine.dispose()


def _backends() -> list[Any]:
    backends: list[Any] = ["sqlite"]
    if POSTGRES_URL:
        backends.append(pytest.param("postgresql", marks=pytest.mark.postgres))
    return backends


@pytest.fixture(params=_backends())
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database: a SQLite file, or the PostgreSQL test database emptied."""
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_url")
        _reset_postgres(url)
        return url
    return f"sqlite:///{tmp_path / 'relais.sqlite3'}"


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = {k: dict(v) for k, v in base.items()}
    for section, values in extra.items():
        out.setdefault(section, {}).update(values)
    return out


@pytest.fixture
def make_config(tmp_path: Path, database_url: str):  # type: ignore[no-untyped-def]
    def make(**sections: dict[str, Any]) -> Config:
        base = {"forum": {"address": FORUM, "name": "Forum Test", "base_url": "http://forum.example.org"},
                "storage": {"database_url": database_url}}
        return config_from_mapping(_merge(base, sections), base_dir=tmp_path)
    return make


@dataclass
class Instance:
    config: Config
    engine: Engine

    @property
    def secret(self) -> str:
        return secret_key(self.config)

    def add_member(self, email: str, name: str = "", organisation: str = "Eurométropole",
                   role: Role = Role.MEMBER, kind: OrganisationKind = OrganisationKind.MEMBER) -> None:
        with session_scope(self.engine) as db:
            upsert_member(db, MemberRow(email, name or email.split("@")[0].title(), organisation, kind, role),
                          DeliveryMode.ALL)


@pytest.fixture
def instance(make_config) -> Iterator[Instance]:  # type: ignore[no-untyped-def]
    config = make_config()
    engine = initialise(config)
    yield Instance(config, engine)
    engine.dispose()


class ReplyKeepingSMTP(smtplib.SMTP):
    """smtplib.SMTP that remembers the text of the reply to DATA (which sendmail drops)."""

    last_data_reply = ""

    def data(self, msg):  # type: ignore[no-untyped-def]
        code, reply = super().data(msg)
        self.last_data_reply = reply.decode(errors="replace")
        return code, reply


@dataclass
class Gateway:
    instance: Instance
    controller: GatewayController
    port: int

    def send(self, raw: bytes | str, *, mail_from: str = "alice@example.org",
             to: str | list[str] = FORUM, options: list[str] | None = None) -> tuple[int, str]:
        """Send one message over a new SMTP connection; (code, text) of the final reply."""
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        recipients = [to] if isinstance(to, str) else to
        with ReplyKeepingSMTP("127.0.0.1", self.port, timeout=30) as client:
            try:
                refused = client.sendmail(mail_from, recipients, raw, mail_options=options or [])
            except smtplib.SMTPRecipientsRefused as error:
                code, reply = next(iter(error.recipients.values()))
                return code, reply.decode()
            except smtplib.SMTPResponseException as error:
                return error.smtp_code, error.smtp_error.decode()
            assert not refused, refused
            return 250, client.last_data_reply



@pytest.fixture
def gateway(instance: Instance) -> Iterator[Gateway]:
    port = free_port()
    controller = start_gateway(instance.config, instance.secret, host="127.0.0.1", port=port)
    yield Gateway(instance, controller, port)
    controller.stop()


@dataclass
class Sink:
    """An SMTP server standing for the upstream relay: it keeps every envelope it accepts."""

    port: int
    received: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    arrived: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self.arrived = threading.Condition(self.lock)

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        with self.arrived:
            self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
            self.arrived.notify_all()
        return "250 2.0.0 OK"

    def wait_for(self, count: int, timeout: float = 10) -> list[tuple[str, list[str], bytes]]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.received) >= count, timeout=timeout)
            return list(self.received)


@pytest.fixture
def sink() -> Iterator[Sink]:
    sink = Sink(free_port())
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port, decode_data=False)
    controller.start()
    yield sink
    controller.stop()
