"""A full disk (issue 10, finding 14), for real: the instance's data (SQLite database and
search index) on a 16 MB tmpfs filled to the last byte. Mail is answered 4xx, never 250
for what was not stored; failed index writes leave nothing behind; `relais serve` starts
degraded saying what is wrong; and once space is freed everything recovers by itself."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import func, select

from conftest import FORUM, free_port
from fault_support import Server, fill, free_bytes, http_get, import_alice, small_disk, smtp_send, wait_until, \
    write_config
from mailfactory import make_mail
from mailgateway.indexer import IndexingJob
from mailgateway.server import start_gateway
from storage.config import config_from_mapping, secret_key
from storage.db import session_scope
from storage.instance import initialise
from storage.models import DeliveryMode, Message, OrganisationKind, Role
from storage.people import MemberRow, upsert_member
from storage.search_index import SearchIndex, current_generation
from storage.search_queue import CLAIMED

pytestmark = pytest.mark.fault

BIG_BODY = "Les travailleurs frontaliers attendent une réponse.\n" + "x" * 76 + "\n"


def big_mail(n: int) -> bytes:
    # Larger than what a full disk has left anywhere (the WAL's spare pages included).
    raw = make_mail(f"Obstacle numéro {n}", body=BIG_BODY * 2000, message_id=f"big-{n}@x")
    return raw.replace(b"\n", b"\r\n")


def stored_ids(engine) -> list[str]:  # type: ignore[no-untyped-def]
    with session_scope(engine) as db:
        return list(db.scalars(select(Message.message_id)))


def waiting(engine) -> int:  # type: ignore[no-untyped-def]
    with session_scope(engine) as db:
        return db.scalar(select(func.count()).select_from(Message).where(
            (Message.indexed_at.is_(None)) | (Message.indexed_at == CLAIMED))) or 0


def index_files(index_dir: Path) -> set[str]:
    found = set()
    for root, dirs, files in os.walk(index_dir):
        found.update(os.path.relpath(os.path.join(root, name), index_dir) for name in dirs + files)
    return found - {"MAIN_WRITELOCK"}  # the writers' (empty) lock file


def test_a_full_disk_answers_451_leaves_nothing_behind_and_recovers_without_restart(tmp_path: Path):
    # The database and the index on two small disks, so that each can be full alone.
    with small_disk(tmp_path / "data", "16m") as data, small_disk(tmp_path / "index", "4m") as index_disk:
        config = config_from_mapping({
            "forum": {"address": FORUM, "name": "Forum Test", "base_url": "http://forum.example.org"},
            "storage": {"database_url": f"sqlite:///{data / 'relais.sqlite3'}", "data_dir": str(data)},
            "search": {"index_dir": str(index_disk / "index")},
            "delivery": {"spool_dir": str(tmp_path / "spool")}}, base_dir=tmp_path)
        engine = initialise(config)
        with session_scope(engine) as db:
            upsert_member(db, MemberRow("alice@example.org", "Alice Martin", "Eurodistrict",
                                        OrganisationKind.MEMBER, Role.MEMBER), DeliveryMode.ALL)
        port = free_port()
        gateway = start_gateway(config, secret_key(config), host="127.0.0.1", port=port)
        search = SearchIndex(config.index_dir)
        job = IndexingJob(engine, config, search)
        try:
            assert smtp_send(port, make_mail("Obstacle : avant", message_id="before@x"))[0] == 250

            # Both disks full: mail is answered 451, and nothing answered so is kept.
            data_filler, index_filler = fill(data), fill(index_disk)
            assert free_bytes(data) == 0 and free_bytes(index_disk) == 0
            replies = {n: smtp_send(port, big_mail(n)) for n in range(3)}
            for n, (code, text) in replies.items():
                assert code == 451 and "4.3.0" in text, (n, code, text)
            assert stored_ids(engine) == ["before@x"]
            assert job() == 0 and job.waiting_on is not None

            # The database has room again, the index not yet: mail is stored, and each failed
            # index commit leaves nothing behind (they used to fill the space freed).
            data_filler.unlink()
            for n in range(3):
                assert smtp_send(port, big_mail(n))[0] == 250
            generation = config.index_dir / str(current_generation(config.index_dir))
            before = index_files(generation)
            for _ in range(5):
                assert job() == 0
            assert job.waiting_on is not None
            assert index_files(generation) == before
            assert waiting(engine) == 4

            # Space comes back for the index too: everything gets indexed, without a restart.
            index_filler.unlink()
            assert job() == 4
            assert job.waiting_on is None
            assert waiting(engine) == 0
            with search.searcher() as searcher:
                assert searcher.doc_count() == 4
            assert sorted(stored_ids(engine)) == sorted(["before@x", "big-0@x", "big-1@x", "big-2@x"])
        finally:
            gateway.stop()
            search.close()
            engine.dispose()


def test_serve_starts_degraded_on_a_full_disk_and_recovers_when_space_returns(tmp_path: Path):
    with small_disk(tmp_path / "disk", "16m") as disk:
        smtp_port, web_port = free_port(), free_port()
        config_file = write_config(tmp_path / "relais.toml", smtp_port=smtp_port, web_port=web_port,
                                   database_url=f"sqlite:///{disk / 'relais.sqlite3'}", data_dir=disk,
                                   index_dir=disk / "index")
        import_alice(config_file)
        filler = fill(disk)

        server = Server(config_file)
        try:
            server.wait_for_line("Relais is running")
            degraded = server.wait_for_line("Relais is degraded")
            assert f"no space left on the disk holding {disk}" in degraded, degraded
            code, text = smtp_send(smtp_port, big_mail(1))
            assert code == 451 and "4.3.0" in text, (code, text)
            status, page = http_get(f"http://127.0.0.1:{web_port}/")
            assert status == 503 and "brièvement indisponibles" in page, (status, page[:500])

            filler.unlink()
            server.wait_for_line("Relais: storage is back", timeout=30)
            wait_until(lambda: smtp_send(smtp_port, big_mail(1))[0] == 250, 30, "the mail is accepted")
            wait_until(lambda: http_get(f"http://127.0.0.1:{web_port}/")[0] == 200, 30, "pages answer")
            wait_until(lambda: "Obstacle numéro 1" in http_get(
                f"http://127.0.0.1:{web_port}/search?q=frontaliers")[1], 30, "the mail is searchable")

        finally:
            assert server.stop() == 0, "".join(server.errors)[-3000:]


def test_a_first_start_on_a_full_disk_leaves_no_empty_signing_key(tmp_path: Path):
    with small_disk(tmp_path / "disk", "1m") as disk:
        config = config_from_mapping({
            "forum": {"address": FORUM, "name": "Forum Test", "base_url": "http://forum.example.org"},
            "storage": {"data_dir": str(disk)}}, base_dir=tmp_path)
        filler = fill(disk)
        with pytest.raises(OSError):
            secret_key(config)
        filler.unlink()
        key = secret_key(config)
        assert len(key) > 40 and secret_key(config) == key
        assert sorted(p.name for p in disk.iterdir()) == ["secret_key"]
