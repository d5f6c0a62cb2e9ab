"""The Whoosh full-text index: its schema (one document per message), where the current
index lives, writing documents in batches, and searchers reused across queries.

The configured index folder holds generations, one sub-folder each, and a file CURRENT
naming the one in use. `relais reindex` builds a new generation while the current one
keeps serving, then replaces CURRENT atomically (os.replace); searchers notice the new
name at their next query and reopen. A generation's name starts with the schema version,
so a Relais whose schema changed builds a new one instead of misreading the old.
"""

from __future__ import annotations

import io
import os
import secrets
import shutil
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from whoosh import index
from whoosh.codec.whoosh3 import W3PerDocReader
from whoosh.filedb.filestore import FileStorage
from whoosh.index import LockError
from whoosh.writing import IndexWriter
from whoosh.fields import BOOLEAN, DATETIME, ID, NUMERIC, TEXT, Schema
from whoosh.query import Query
from whoosh.searching import Searcher

from storage.db import StorageUnavailable
from storage.search_analysis import (
    RESOLUTION_ALIASES,
    STATUS_ALIASES,
    french_analyzer,
    keyword_analyzer,
    name_analyzer,
)

SCHEMA_VERSION = 3


def _cached_lengths_reader(self, fieldname, column):  # type: ignore[no-untyped-def]
    if fieldname not in self._readers:
        self._readers[fieldname] = (self.column_reader(fieldname, column)
                                    if self.has_column(fieldname) else None)
    return self._readers[fieldname]


# Whoosh 2.7.5 caches a field's lengths column only when it exists: for a field without
# one (spelling words, IDs) it asks the file system again for every posting it writes,
# which was a third of the time of building an index. A segment's columns never change,
# so remembering "none" is safe.
W3PerDocReader._cached_reader = _cached_lengths_reader
POINTER = "CURRENT"
WRITE_LOCK_WAIT_SECONDS = 60.0
# Tries at opening a searcher while commits delete the files it is being opened from.
SEARCHER_OPEN_TRIES = 10


def message_schema() -> Schema:
    french, names = french_analyzer(), name_analyzer()
    return Schema(
        message_pk=NUMERIC(stored=True, unique=True, bits=64, signed=False),
        topic_id=NUMERIC(stored=True, sortable=True, bits=64, signed=False),
        # The topic's title, on its first message only: a title search walks one entry per
        # topic, not one per message. Public: the only text an anonymous reader of a
        # members-only archive searches.
        title=TEXT(analyzer=french, field_boost=3.0, spelling=True),
        # The author's own words (with the subject when it is not the topic's, and the
        # attachment names). Quoted text is left out: it is another message of the topic,
        # indexed there; searching it again would double the work of every query.
        body=TEXT(analyzer=french, spelling=True),
        attachments=TEXT(analyzer=french),
        author=TEXT(analyzer=names),
        organisation=TEXT(analyzer=names),
        category=TEXT(analyzer=names),
        category_id=ID,
        status=TEXT(analyzer=keyword_analyzer(STATUS_ALIASES), phrase=False),
        resolution=TEXT(analyzer=keyword_analyzer(RESOLUTION_ALIASES), phrase=False),
        date=DATETIME(sortable=True),
        has_attachment=BOOLEAN,
    )


@dataclass(frozen=True)
class MessageDocument:
    message_pk: int
    topic_id: int
    title: str
    body: str
    attachments: str
    author: str
    organisation: str
    category: str
    category_id: int | None
    status: str
    resolution: str
    date: datetime
    has_attachment: bool

    def fields(self) -> dict[str, object]:
        values = {name: getattr(self, name) for name in self.__dataclass_fields__}
        values["category_id"] = str(self.category_id) if self.category_id is not None else ""
        # Whoosh keeps naive datetimes: ours are UTC.
        values["date"] = self.date.astimezone(timezone.utc).replace(tzinfo=None)
        return {k: v for k, v in values.items() if v != ""}


# ----------------------------------------------------------------- generations on disk

def current_generation(index_dir: Path) -> str | None:
    """The name of the generation in use, or None when there is none (or an old schema's)."""
    try:
        name = (index_dir / POINTER).read_text().strip()
    except FileNotFoundError:
        return None
    if not name.startswith(f"v{SCHEMA_VERSION}-") or not _has_contents(index_dir / name):
        return None
    return name


def _has_contents(folder: Path) -> bool:
    """Whether a folder holds a Whoosh index: a table of contents. Looked for by name, not
    by opening it as index.exists_in does, which a concurrent commit makes fail (it deletes
    the previous table of contents) and which costs more than a query."""
    try:
        return any(name.startswith(f"_{index._DEF_INDEX_NAME}_") and name.endswith(".toc")
                   for name in os.listdir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return False


def create_generation(index_dir: Path) -> str:
    """A new, empty generation folder (not yet in use)."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    name = f"v{SCHEMA_VERSION}-{stamp}-{secrets.token_hex(3)}"
    (index_dir / name).mkdir(parents=True)
    index.create_in(str(index_dir / name), message_schema())
    return name


def make_current(index_dir: Path, name: str) -> None:
    """Put a generation in use, atomically, and remove all but it and the one it replaces
    (which a searcher or the indexing job of a running server may still hold)."""
    previous = current_generation(index_dir)
    tmp = index_dir / f".{POINTER}.{secrets.token_hex(4)}"
    tmp.write_text(name + "\n")
    with tmp.open("rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, index_dir / POINTER)
    keep = {name, previous}
    for child in index_dir.iterdir():
        if child.is_dir() and child.name.startswith("v") and child.name not in keep:
            shutil.rmtree(child, ignore_errors=True)


def ensure_index(index_dir: Path) -> bool:
    """Make sure a generation is in use; True if a new, empty one had to be created (the
    caller then has every message indexed again)."""
    index_dir.mkdir(parents=True, exist_ok=True)
    if current_generation(index_dir) is not None:
        return False
    make_current(index_dir, create_generation(index_dir))
    return True


# ----------------------------------------------------------------- writing

def _write(ix: index.Index, documents: Iterable[MessageDocument], memory_mb: int, processes: int,
           progress: Callable[[int], object] | None = None, replace: bool = True) -> int:
    kwargs: dict[str, object] = {"limitmb": memory_mb}
    if processes > 1:
        kwargs["procs"] = processes
    else:
        # Another writer (a second server on the same index) holds the lock: wait for it.
        kwargs.update(timeout=WRITE_LOCK_WAIT_SECONDS, delay=0.05)
    folder = Path(ix.storage.folder)
    before = set(os.listdir(folder))  # a writer creates its files as soon as it opens
    try:
        writer = ix.writer(**kwargs)
    except LockError:
        raise StorageUnavailable("the search index is locked by another writer") from None
    except BaseException:
        _remove_leftovers(folder, before)
        raise
    count = 0
    try:
        for doc in documents:
            if replace:
                writer.update_document(**doc.fields())
            else:
                writer.add_document(**doc.fields())
            count += 1
            if progress is not None:
                progress(1)
        writer.commit()
    except BaseException:
        _abandon(writer, folder, before)
        raise
    return count


def _abandon(writer: IndexWriter, folder: Path, before: set[str]) -> None:
    """After a failed write (a full disk, most often): release the lock and remove every
    file the write left that the index does not use, so that a failing commit every two
    seconds cannot fill the space freed for the database."""
    try:
        writer.cancel()
    except Exception:  # cancelling flushes too and may fail the same way
        _close_files_of(writer)  # a deleted file kept open still holds its space
        lock = getattr(writer, "writelock", None)
        if lock is not None:
            try:
                lock.release()
            except Exception:
                pass
    _remove_leftovers(folder, before)


def _close_files_of(writer: IndexWriter) -> None:
    """Close every file a failed writer still holds, found through its Whoosh objects
    (Whoosh has no way to drop a writer whose buffers cannot be flushed)."""
    seen: set[int] = set()
    stack: list[tuple[object, int]] = [(writer, 0)]
    while stack:
        obj, depth = stack.pop()
        if id(obj) in seen or depth > 10:
            continue
        seen.add(id(obj))
        if isinstance(obj, io.IOBase):
            try:
                obj.close()  # closes the descriptor even when the flush fails
            except Exception:
                pass
        elif isinstance(obj, (list, tuple, set)):
            stack.extend((child, depth + 1) for child in obj)
        elif isinstance(obj, dict):
            stack.extend((child, depth + 1) for child in obj.values())
        elif type(obj).__module__.startswith("whoosh.") and hasattr(obj, "__dict__"):
            stack.extend((child, depth + 1) for child in vars(obj).values())


def _remove_leftovers(folder: Path, before: set[str]) -> None:
    """Remove the files and folders that appeared since `before` and that the index's
    table of contents does not name."""
    storage = FileStorage(str(folder))
    name = index._DEF_INDEX_NAME
    try:
        toc = index.TOC.read(storage, name)
        keep = {f"_{name}_{toc.generation}.toc"} | {seg.segment_id() for seg in toc.segments}
    except Exception:  # no readable table of contents: keep what was there before
        keep = set()
    for leftover in set(os.listdir(folder)) - before:
        if leftover in keep or leftover.split(".")[0] in keep or leftover.endswith("WRITELOCK"):
            continue
        path = folder / leftover
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def build_generation(index_dir: Path, documents: Iterable[MessageDocument], memory_mb: int = 128,
                     processes: int = 1, progress: Callable[[int], object] | None = None) -> str:
    """Write every document into a new generation (one writer, one commit) and put it in
    use; returns its name. Searches keep using the current generation until the swap."""
    index_dir.mkdir(parents=True, exist_ok=True)
    name = create_generation(index_dir)
    try:
        _write(index.open_dir(str(index_dir / name)), documents, memory_mb, processes, progress,
               replace=False)
    except BaseException:
        shutil.rmtree(index_dir / name, ignore_errors=True)
        raise
    make_current(index_dir, name)
    return name


class SearchIndex:
    """One process's handle on the index: searchers kept open and handed out from a pool
    (opening one per query costs more than most queries), and the batch writer."""

    def __init__(self, index_dir: Path, writer_memory_mb: int = 128) -> None:
        self.index_dir = index_dir
        self.writer_memory_mb = writer_memory_mb
        self._lock = threading.Lock()
        self._indexes: dict[str, index.Index] = {}
        self._idle: list[tuple[str, Searcher]] = []
        # Per searcher (so per index state): the documents of each criterion, computed once.
        self._criteria: weakref.WeakKeyDictionary[Searcher, dict[str, set[int]]] = weakref.WeakKeyDictionary()

    def _open(self, name: str) -> index.Index:
        with self._lock:
            if name not in self._indexes:
                self._indexes[name] = index.open_dir(str(self.index_dir / name))
            return self._indexes[name]

    def generation(self) -> str:
        name = current_generation(self.index_dir)
        if name is None:
            ensure_index(self.index_dir)
            name = current_generation(self.index_dir)
            assert name is not None
        return name

    @contextmanager
    def searcher(self) -> Iterator[Searcher]:
        """A searcher of the current generation, up to date with its last commit."""
        name, searcher = self._up_to_date_searcher()
        try:
            yield searcher
        finally:
            with self._lock:
                self._idle.append((name, searcher))

    def _up_to_date_searcher(self) -> tuple[str, Searcher]:
        """Whoosh opens a searcher by listing the index's files, then reading the newest
        table of contents and its segments; a commit in between (the indexing job's, every
        few seconds, or another process's) deletes the previous ones, and the open fails
        with FileNotFoundError. Each try sees a newer commit: try again."""
        for attempt in range(SEARCHER_OPEN_TRIES):
            try:
                return self._open_searcher()
            except FileNotFoundError:
                if attempt == SEARCHER_OPEN_TRIES - 1:
                    raise
        raise AssertionError("unreachable")

    def _open_searcher(self) -> tuple[str, Searcher]:
        name = self.generation()
        found: Searcher | None = None
        stale: list[Searcher] = []
        with self._lock:
            while self._idle:
                idle_name, candidate = self._idle.pop()
                if idle_name == name:
                    found = candidate
                    break
                stale.append(candidate)
        for old in stale:
            old.close()
        if found is None:
            searcher = self._open(name).searcher()
        elif found.up_to_date():
            searcher = found
        elif found.doc_count_all() == 0:
            # Whoosh cannot refresh a searcher of an empty index (its reader has no segments).
            found.close()
            searcher = self._open(name).searcher()
        else:
            try:
                searcher = found.refresh()  # reopens only the segments that changed
            except FileNotFoundError:
                found.close()
                raise
        return name, searcher

    def criterion_docs(self, searcher: Searcher, q: Query) -> set[int]:
        """The documents matching a criterion (a category, a status…): a handful of values
        shared by many searches, so kept until the searcher sees a new commit."""
        with self._lock:
            cache = self._criteria.setdefault(searcher, {})
        key = str(q)
        if key not in cache:
            cache[key] = set(searcher.docs_for_query(q))
        return cache[key]

    def write(self, documents: list[MessageDocument]) -> str:
        """Add or replace documents in one commit (a commit costs tens of milliseconds, more
        when segments merge: callers batch); returns the generation written to."""
        name = self.generation()
        if documents:
            _write(self._open(name), documents, self.writer_memory_mb, processes=1)
        return name

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
            self._indexes.clear()
        for _name, searcher in idle:
            searcher.close()
