"""The Whoosh full-text index: one document per message, fed from the database."""

from __future__ import annotations

from pathlib import Path

from whoosh import index
from whoosh.fields import DATETIME, ID, KEYWORD, NUMERIC, TEXT, Schema


def message_schema() -> Schema:
    return Schema(
        message_pk=NUMERIC(stored=True, unique=True, bits=64, signed=False),
        message_id=ID(stored=True),
        topic_id=NUMERIC(stored=True, bits=64, signed=False),
        subject=TEXT(stored=True),
        text=TEXT,
        author=TEXT(stored=True),
        category=KEYWORD(lowercase=True, commas=True),
        date=DATETIME(stored=True, sortable=True),
    )


def open_or_create_index(index_dir: Path) -> index.Index:
    """Open the index, creating it (and its folder) the first time."""
    index_dir.mkdir(parents=True, exist_ok=True)
    if index.exists_in(str(index_dir)):
        return index.open_dir(str(index_dir))
    return index.create_in(str(index_dir), message_schema())
