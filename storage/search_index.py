"""The Whoosh full-text index: one document per message, fed from the database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
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


@dataclass(frozen=True)
class MessageDocument:
    message_pk: int
    message_id: str
    topic_id: int
    subject: str
    text: str
    author: str
    category: str
    date: datetime


def index_documents(index_dir: Path, documents: list[MessageDocument]) -> None:
    """Add or replace documents in one writer commit (a Whoosh commit is expensive: batch)."""
    if not documents:
        return
    ix = open_or_create_index(index_dir)
    writer = ix.writer()
    try:
        for doc in documents:
            writer.update_document(
                message_pk=doc.message_pk, message_id=doc.message_id, topic_id=doc.topic_id,
                subject=doc.subject, text=doc.text, author=doc.author, category=doc.category,
                date=doc.date.replace(tzinfo=None))
    except BaseException:
        writer.cancel()
        raise
    writer.commit()
