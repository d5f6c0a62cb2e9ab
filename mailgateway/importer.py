"""Importing an existing archive (an mbox, a Maildir, a folder of messages) into the forum.

Messages go through the same pipeline steps as the gateway's (so they are threaded
exactly alike), without authorisation or redistribution: authors who are not members
are kept as archive authors with no rights. Idempotent by Message-ID.
"""

from __future__ import annotations

import gzip
import mailbox
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from storage.db import Engine
from storage.db import Session

from mailgateway import steps
from mailgateway.pipeline import Inbound, Rejected, run
from storage.config import Config
from storage.db import session_scope
from storage.models import utcnow

BATCH = 200


@dataclass
class ImportSummary:
    imported: int = 0
    duplicates: int = 0
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (label, why)
    stored_ids: dict[str, str] = field(default_factory=dict)  # label -> stored Message-ID


def _is_mbox(path: Path) -> bool:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            return f.read(5) == b"From "
    except OSError:
        return False


def _mbox_messages(path: Path) -> Iterator[tuple[str, bytes]]:
    if path.suffix == ".gz":
        with gzip.open(path, "rb") as src, tempfile.NamedTemporaryFile(suffix=".mbox") as tmp:
            tmp.write(src.read())
            tmp.flush()
            yield from _mbox_messages_plain(Path(tmp.name), label=str(path))
    else:
        yield from _mbox_messages_plain(path, label=str(path))


def _mbox_messages_plain(path: Path, label: str) -> Iterator[tuple[str, bytes]]:
    box = mailbox.mbox(path, create=False)
    try:
        for position, key in enumerate(box.iterkeys()):
            yield f"{label}#{position}", box.get_bytes(key)
    finally:
        box.close()


def archive_messages(path: Path) -> Iterator[tuple[str, bytes]]:
    """(label, raw bytes) of every message in an mbox file, a Maildir or a folder of files."""
    if path.is_file():
        if _is_mbox(path):
            yield from _mbox_messages(path)
        else:
            yield str(path), path.read_bytes()
        return
    if not path.is_dir():
        raise FileNotFoundError(f"no such file or folder: {path}")
    files = sorted(p for p in path.rglob("*") if p.is_file() and not any(
        part.startswith(".") for part in p.relative_to(path).parts))
    for file in files:
        if _is_mbox(file):
            yield from _mbox_messages(file)
        else:
            yield str(file), file.read_bytes()


def import_messages(engine: Engine, config: Config, secret: str,
                    messages: Iterable[tuple[str, bytes]],
                    progress: Callable[[int], None] = lambda n: None) -> ImportSummary:
    """Store each message, in batches of transactions; one bad message spoils no other."""
    summary = ImportSummary()
    messages = iter(messages)
    while batch := list(islice(messages, BATCH)):
        with session_scope(engine) as db:
            for label, raw in batch:
                _import_one(db, config, secret, label, raw, summary)
                progress(1)
    return summary


def _import_one(db: Session, config: Config, secret: str, label: str, raw: bytes,
                summary: ImportSummary) -> None:
    inbound = Inbound(raw=raw, config=config, secret=secret, received_at=utcnow())
    try:
        with db.begin_nested():
            outcome = run(db, inbound, steps.IMPORT)
    except Rejected as refused:
        summary.unreadable.append((label, refused.reply))
        return
    except Exception as error:  # a message the parser or database cannot take
        summary.unreadable.append((label, f"{type(error).__name__}: {error}"))
        return
    assert inbound.parsed is not None
    summary.stored_ids[label] = inbound.parsed.message_id
    if outcome.outcome == "duplicate":
        summary.duplicates += 1
    else:
        summary.imported += 1
