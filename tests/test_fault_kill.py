"""kill -9 during ingest (issue 10's fault tests): `relais serve` runs as a real process and
a client sends mail like an MTA (a 4xx or a cut connection is tried again); the gateway's
writer process is killed with SIGKILL mid-stream, then the whole server, which is started
again. Every message answered 250 is stored, exactly once, and gets indexed."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select

from conftest import free_port
from fault_support import Server, import_alice, smtp_send, wait_until, write_config
from mailfactory import make_mail
from storage.db import make_engine, session_scope
from storage.models import Message, Topic
from storage.search_queue import CLAIMED

pytestmark = pytest.mark.fault

COUNT = 80


def mail(n: int) -> bytes:
    return make_mail(f"Obstacle numéro {n}", body=f"Les frontaliers attendent, cas {n}.\n",
                     message_id=f"k-{n}@x").replace(b"\n", b"\r\n")


class Sender(threading.Thread):
    """Sends mail 0..COUNT-1 in order, each until it is answered 250, as an MTA retries."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.acknowledged: list[int] = []
        self.refusals: list[tuple[int, int, str]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        for n in range(COUNT):
            while not self.stop.is_set():
                code, reply = smtp_send(self.port, mail(n))
                if code == 250:
                    self.acknowledged.append(n)
                    break
                if code not in (0, 421, 451):
                    self.refusals.append((n, code, reply))
                    break
                self.stop.wait(0.2)  # the MTA's retry delay


def test_kill_9_of_the_writer_then_of_the_server_loses_nothing_and_stores_nothing_twice(
        database_url: str, tmp_path: Path):
    smtp_port, web_port = free_port(), free_port()
    config_file = write_config(tmp_path / "relais.toml", smtp_port=smtp_port, web_port=web_port,
                               database_url=database_url, data_dir=tmp_path / "var",
                               index_dir=tmp_path / "var" / "index")
    import_alice(config_file)
    server = Server(config_file)
    sender = Sender(smtp_port)
    try:
        server.wait_for_line("Relais is running")
        sender.start()
        wait_until(lambda: len(sender.acknowledged) >= 15, 60, "15 messages are acknowledged")
        writers = server.writer_pids()
        assert len(writers) == 1, writers
        os.kill(writers[0], signal.SIGKILL)
        acknowledged = len(sender.acknowledged)
        wait_until(lambda: len(sender.acknowledged) >= acknowledged + 15, 60, "the writer is back")
        assert server.writer_pids() != writers

        server.kill9()
        server = Server(config_file)
        server.wait_for_line("Relais is running")
        sender.join(timeout=120)
        assert not sender.is_alive(), f"only {len(sender.acknowledged)} of {COUNT} acknowledged"
        assert sender.refusals == []
        assert sender.acknowledged == list(range(COUNT))

        engine = make_engine(database_url)
        try:
            with session_scope(engine) as db:
                counts = dict(db.execute(select(Message.message_id, func.count()).group_by(Message.message_id)).all())
                topics = db.scalar(select(func.count()).select_from(Topic))
            assert counts == {f"k-{n}@x": 1 for n in range(COUNT)}
            assert topics == COUNT

            def all_indexed() -> bool:
                with session_scope(engine) as db:
                    return db.scalar(select(func.count()).select_from(Message).where(
                        Message.indexed_at.is_(None) | (Message.indexed_at == CLAIMED))) == 0
            wait_until(all_indexed, 60, "every message is indexed", every=0.5)
        finally:
            engine.dispose()
    finally:
        sender.stop.set()
        code = server.stop()
    assert code == 0, "".join(server.errors)[-3000:]
