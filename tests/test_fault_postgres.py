"""A PostgreSQL outage without a restart (issue 10, finding 13): `relais serve` reaches the
database through a TCP proxy of the test's own, which first refuses connections (and cuts
the open ones), then lets them through again while the test terminates the server's
backends. Nothing acknowledged is lost, mail is answered 451 meanwhile, pages 503 with the
"briefly unavailable" page (never 500), and the indexing job picks up by itself what the
outage left claimed."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, make_url, select, text

from conftest import POSTGRES_URL, _reset_postgres, free_port
from fault_support import Server, TcpProxy, http_get, import_alice, smtp_send, wait_until, write_config
from mailfactory import make_mail
from storage.db import session_scope
from storage.models import Message
from storage.search_queue import CLAIMED, claim_pending, mark_all_for_reindex

pytestmark = [pytest.mark.fault, pytest.mark.postgres,
              pytest.mark.skipif(not POSTGRES_URL, reason="needs RELAIS_TEST_DATABASE_URL (PostgreSQL)")]


def mail(n: int) -> bytes:
    return make_mail(f"Obstacle numéro {n}", body=f"Les frontaliers attendent, cas {n}.\n",
                     message_id=f"pg-{n}@x").replace(b"\n", b"\r\n")


def deliver(port: int, n: int, timeout: float = 60) -> None:
    """As a sending MTA does: try again after a 4xx or a cut connection, until 250."""
    def accepted() -> bool:
        code, reply = smtp_send(port, mail(n))
        assert code in (0, 250, 421, 451), (n, code, reply)
        return code == 250
    wait_until(accepted, timeout, f"message {n} is accepted", every=0.5)


def test_a_postgresql_outage_loses_nothing_and_needs_no_restart(postgres_url: str, tmp_path: Path):
    _reset_postgres(postgres_url)
    direct = create_engine(postgres_url)
    upstream = make_url(postgres_url)
    proxy_port = free_port()
    proxy = TcpProxy((upstream.host or "127.0.0.1", upstream.port or 5432), proxy_port)
    through_proxy = upstream.set(host="127.0.0.1", port=proxy_port).render_as_string(hide_password=False)
    smtp_port, web_port = free_port(), free_port()
    web = f"http://127.0.0.1:{web_port}"
    config_file = write_config(tmp_path / "relais.toml", smtp_port=smtp_port, web_port=web_port,
                               database_url=through_proxy)
    import_alice(config_file)
    server = Server(config_file)
    try:
        server.wait_for_line("Relais is running")
        for n in range(5):
            assert smtp_send(smtp_port, mail(n))[0] == 250

        # Connections refused, and the open ones cut.
        proxy.refuse()
        for n in range(5, 8):
            code, reply = smtp_send(smtp_port, mail(n))
            assert code == 451 and "4.3.0" in reply, (n, code, reply)
        status, page = http_get(f"{web}/")
        assert status == 503 and "brièvement indisponibles" in page, (status, page[:300])
        assert http_get(f"{web}/topics/1")[0] == 503
        # What an indexing run cut by the outage leaves: every message claimed, never finished.
        with session_scope(direct) as db:
            mark_all_for_reindex(db)
            claim_pending(db, 1000)

        # PostgreSQL is reachable again; then its backends are terminated under the server.
        proxy.restore()
        wait_until(lambda: http_get(f"{web}/")[0] == 200, 30, "pages answer again")
        with direct.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
            conn.commit()
        assert http_get(f"{web}/")[0] == 200
        for n in range(5, 10):  # the senders' retries, and new mail
            deliver(smtp_port, n)

        def all_indexed() -> bool:
            with session_scope(direct) as db:
                return db.scalar(select(func.count()).select_from(Message).where(
                    Message.indexed_at.is_(None) | (Message.indexed_at == CLAIMED))) == 0
        wait_until(all_indexed, 30, "the indexing job has picked everything up", every=0.5)
        with session_scope(direct) as db:
            stored = sorted(db.scalars(select(Message.message_id)))
        assert stored == sorted(f"pg-{n}@x" for n in range(10))  # each once, none lost
        wait_until(lambda: "Obstacle numéro 6" in http_get(f"{web}/search?q=frontaliers")[1], 30,
                   "a message stored after the outage is searchable")
        assert "Obstacle numéro 0" in http_get(f"{web}/search?q=frontaliers")[1]
    finally:
        code = server.stop()
        proxy.refuse()
        direct.dispose()
    assert code == 0, "".join(server.errors)[-3000:]
