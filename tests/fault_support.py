"""Real faults for the fault tests: a small file system that fills up (a tmpfs, as root), a
TCP proxy in front of PostgreSQL that can refuse and cut connections, `relais serve` as a
real process (test_serve's too), and an SMTP client that behaves like a sending MTA (it
retries a 4xx)."""

from __future__ import annotations

import os
import select
import signal
import smtplib
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def wait_until(condition: Callable[[], object], timeout: float, what: str, every: float = 0.1) -> object:
    """Poll `condition` until it returns something true; fail the test after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting until {what}")
        time.sleep(every)


# ----------------------------------------------------------------- a disk that fills up

@contextmanager
def small_disk(folder: Path, size: str = "4m") -> Iterator[Path]:
    """A tmpfs of `size` mounted on `folder` (needs root: skipped otherwise)."""
    if os.geteuid() != 0:
        pytest.skip("a full disk is simulated with a tmpfs, which only root may mount")
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path) -> Path:
    """Fill the file system holding `folder` to the last byte; returns the filler file."""
    filler = folder / "filler"
    with filler.open("ab", buffering=0) as f:
        for chunk in (1 << 16, 1 << 10, 1):
            try:
                while True:
                    f.write(b"\0" * chunk)
            except OSError:
                continue
    return filler


def free_bytes(folder: Path) -> int:
    stats = os.statvfs(folder)
    return stats.f_bavail * stats.f_frsize


# ----------------------------------------------------------------- a proxy in front of PostgreSQL

class TcpProxy:
    """Forwards 127.0.0.1:port to a target. `refuse()` closes the listening socket (new
    connections are refused) and cuts every open one; `restore()` listens again."""

    def __init__(self, target: tuple[str, int], port: int) -> None:
        self.target, self.port = target, port
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self.restore()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def refuse(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
            except OSError:
                pass
            listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for s in sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    close = refuse

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # refused: the listener was closed
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets.update((client, upstream))
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        peers = {a: b, b: a}
        try:
            while True:
                readable, _, _ = select.select([a, b], [], [], 1.0)
                for s in readable:
                    data = s.recv(65536)
                    if not data:
                        return
                    peers[s].sendall(data)
        except (OSError, ValueError):
            return
        finally:
            with self._lock:
                self._sockets.discard(a)
                self._sockets.discard(b)
            a.close()
            b.close()


# ----------------------------------------------------------------- relais serve, and an MTA

def write_config(path: Path, *, smtp_port: int, web_port: int, database_url: str,
                 data_dir: Path | None = None, index_dir: Path | None = None, relay_port: int | None = None) -> Path:
    """A config file for `relais serve`; with `relay_port`, mail goes out to that port (an SMTP sink)."""
    lines = [f"""
[forum]
address = "forum@example.org"
base_url = "http://127.0.0.1:{web_port}"
[smtp]
port = {smtp_port}
[web]
port = {web_port}
[storage]
database_url = "{database_url}"
"""]
    if data_dir is not None:
        lines.append(f'data_dir = "{data_dir}"\n')
    lines.append('[archive]\nvisibility = "public"\n[delivery]\ninterval_seconds = 1\n'
                 f'spool_dir = "{path.parent / "spool"}"\n')
    if relay_port is not None:
        lines.append(f'relay_host = "127.0.0.1"\nrelay_port = {relay_port}\nrelay_starttls = false\n')
    if index_dir is not None:
        lines.append(f'[search]\nindex_dir = "{index_dir}"\n')
    path.write_text("".join(lines))
    return path


def relais_command(config_file: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "relais.cli", "--config", str(config_file), *args]


def import_alice(config_file: Path) -> None:
    """Alice Martin becomes a member as an operator makes one: `relais members import` of a CSV file."""
    members = config_file.parent / "members.csv"
    members.write_text("email,name,organisation,organisation_kind,role\n"
                       "alice@example.org,Alice Martin,Eurodistrict,member,member\n")
    subprocess.run(relais_command(config_file, "members", "import", str(members)), check=True, capture_output=True)


class Server:
    """`relais serve` as a real process; `lines` collects what it prints."""

    def __init__(self, config_file: Path) -> None:
        self.process = subprocess.Popen(relais_command(config_file, "serve"), stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True,
                                        env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.lines: list[str] = []
        self.errors: list[str] = []
        self._readers = [threading.Thread(target=self._read, args=(self.process.stdout, self.lines), daemon=True),
                         threading.Thread(target=self._read, args=(self.process.stderr, self.errors), daemon=True)]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream, into: list[str]) -> None:  # type: ignore[no-untyped-def]
        for line in stream:
            into.append(line)

    def wait_for_line(self, start: str, timeout: float = 60) -> str:
        def seen() -> str | None:
            if self.process.poll() is not None:
                pytest.fail(f"relais serve exited ({self.process.returncode}): {''.join(self.errors)[-3000:]}")
            return next((line for line in self.lines if line.startswith(start)), None)
        return str(wait_until(seen, timeout, f"relais serve printed {start!r}"))

    def writer_pids(self) -> list[int]:
        """The ingest writer process(es): children of the server."""
        pids = []
        for task in Path(f"/proc/{self.process.pid}/task").iterdir():
            children = (task / "children").read_text().split()
            pids.extend(int(pid) for pid in children)
        return [pid for pid in pids if "spawn_main" in _cmdline(pid)]  # not the resource tracker

    def kill9(self) -> None:
        self.process.kill()
        self.process.wait(timeout=30)
        self._close()

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._close()
        return self.process.returncode

    def _close(self) -> None:
        for reader in self._readers:
            reader.join(timeout=30)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def smtp_send(port: int, raw: bytes, mail_from: str = "alice@example.org",
              to: str = "forum@example.org") -> tuple[int, str]:
    """One delivery attempt; (code, text), code 0 when the connection failed."""
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            client.sendmail(mail_from, [to], raw)
            return 250, ""
    except smtplib.SMTPResponseException as error:
        return error.smtp_code, error.smtp_error.decode(errors="replace")
    except smtplib.SMTPRecipientsRefused as error:
        code, text = next(iter(error.recipients.values()))
        return code, text.decode(errors="replace")
    except (OSError, smtplib.SMTPException) as error:
        return 0, str(error)


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as page:
            return page.status, page.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError as error:
        return 0, str(error)
