"""Obstacle and good-practice sheets: short Markdown texts moderators attach to topics.

The Markdown is kept as written; it is turned into HTML (markdown-it-py, CommonMark, raw
HTML off) and sanitised with nh3 each time it is shown, so a sheet can never carry script.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import nh3
from markdown_it import MarkdownIt
from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import SheetKind, Topic, TopicSheet, utcnow

# "js-default": CommonMark without raw HTML, and links limited to safe schemes.
_MARKDOWN = MarkdownIt("js-default").enable("table")
_TAGS = {"p", "br", "strong", "em", "code", "pre", "blockquote", "ul", "ol", "li", "a", "h2", "h3",
         "h4", "hr", "table", "thead", "tbody", "tr", "th", "td"}
MAX_BODY = 20_000


class SheetError(Exception):
    """A sheet that cannot be saved; the message says why."""


def sheet_html(markdown: str) -> str:
    """The sheet's Markdown as sanitised HTML (headings start at h2: the page has the h1)."""
    html = _MARKDOWN.render(markdown)
    html = html.replace("<h1>", "<h2>").replace("</h1>", "</h2>")
    return nh3.clean(html, tags=_TAGS, attributes={"a": {"href", "title"}},
                     url_schemes={"http", "https", "mailto"}, link_rel="nofollow noopener")


@dataclass(frozen=True)
class SheetRow:
    id: int
    topic_id: int
    topic_subject: str
    kind: SheetKind
    title: str
    updated: datetime


def save_sheet(session: Session, *, topic_id: int, kind: SheetKind, title: str, body: str,
               author_id: int | None, sheet_id: int | None = None) -> tuple[TopicSheet, bool]:
    """Create a sheet on a topic, or update one; (sheet, created)."""
    title = " ".join(title.split())
    if not title:
        raise SheetError("a sheet needs a title")
    if len(title) > 300 or len(body) > MAX_BODY:
        raise SheetError(f"a sheet has at most 300 characters of title and {MAX_BODY} of text")
    if session.get(Topic, topic_id) is None:
        raise SheetError(f"unknown topic #{topic_id}")
    sheet = session.get(TopicSheet, sheet_id) if sheet_id is not None else None
    if sheet_id is not None and (sheet is None or sheet.topic_id != topic_id):
        raise SheetError(f"unknown sheet #{sheet_id}")
    created = sheet is None
    if sheet is None:
        sheet = TopicSheet(topic_id=topic_id, author_id=author_id)
        session.add(sheet)
    sheet.kind, sheet.title, sheet.body, sheet.updated_at = kind, title, body.strip(), utcnow()
    session.flush()
    return sheet, created


def delete_sheet(session: Session, sheet_id: int) -> TopicSheet:
    sheet = session.get(TopicSheet, sheet_id)
    if sheet is None:
        raise SheetError(f"unknown sheet #{sheet_id}")
    session.delete(sheet)
    return sheet


def topic_sheets(session: Session, topic_id: int) -> list[TopicSheet]:
    return list(session.scalars(select(TopicSheet).where(TopicSheet.topic_id == topic_id)
                                .order_by(TopicSheet.kind, TopicSheet.id)))


def sheets_of_kind(session: Session, kind: SheetKind) -> list[SheetRow]:
    """The sheets of a kind, by title, with their topic's subject: the public lists."""
    rows = session.execute(
        select(TopicSheet.id, TopicSheet.topic_id, Topic.subject, TopicSheet.kind, TopicSheet.title,
               TopicSheet.updated_at)
        .join(Topic, Topic.id == TopicSheet.topic_id)
        .where(TopicSheet.kind == kind).order_by(TopicSheet.title, TopicSheet.id))
    return [SheetRow(*row) for row in rows]
