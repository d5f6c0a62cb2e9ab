"""A thread's messages as the topic page shows them: each prepared once (author, marks,
dates in the reader's language, body with quotes folded and addresses hidden or obfuscated,
attachments) and rendered to HTML from templates/web/message.html.

A message never changes (its raw bytes are the record), so its HTML is kept in a bounded
cache keyed by everything it shows and the reader's language: a 200-message page is then
mostly a join of cached fragments.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache

from flask import current_app, request
from flask_babel import gettext as _
from markupsafe import Markup

from archive_web.addresses import reader_masking
from archive_web.bodies import RenderedBody, render_body
from archive_web.db import forum_config
from archive_web.files import shown_filename
from archive_web.i18n import current_language, moment_in
from mailgateway.body import ParsedAttachment, extract_body
from storage.address_masking import mask_addresses_in_text, shown_address
from storage.archive import ThreadEntry


@dataclass(frozen=True)
class ShownMessage:
    id: int
    depth: int
    author: str
    organisation: str | None
    kind: str | None  # "team" and "state" carry a visible mark
    address: str | None  # obfuscated; only for members
    iso: str
    when: str
    parent_id: int | None
    parent_author: str | None
    subject: str | None  # shown when it says more than the topic's title
    body: RenderedBody
    attachments: tuple[ParsedAttachment, ...]
    unreadable: bool = False  # set aside by the indexing job: its content is not shown


def _shown(entry: ThreadEntry, topic_subject: str, mode: str, with_address: bool,
           labels: tuple[str, str, str], when: Callable[[datetime], str]) -> ShownMessage:
    m, (no_name, hidden, earlier) = entry.message, labels

    def masked(text: str) -> str:  # a display name or a subject may be, or hold, an address
        return mask_addresses_in_text(text, mode, hidden)

    if m.indexed_at:
        listed = [ParsedAttachment(a.filename, a.content_type, a.size, a.part_index) for a in entry.attachments]
    else:  # stored seconds ago: the indexing job has not listed its attachments yet
        listed = list(extract_body(m.raw).attachments)
    attachments = tuple(replace(a, filename=masked(shown_filename(a.filename)) or f"attachment-{a.part_index + 1}")
                        for a in listed)
    return ShownMessage(
        id=m.id, depth=entry.depth, author=masked(m.from_name) or no_name,
        organisation=masked(entry.organisation) if entry.organisation else None,
        kind=entry.organisation_kind.value if entry.organisation_kind else None,
        address=shown_address(m.from_address, mode, hidden) if with_address and m.from_address else None,
        iso=m.date.isoformat(), when=when(m.date), parent_id=entry.parent.id if entry.parent else None,
        parent_author=(masked(entry.parent.from_name) or earlier) if entry.parent else None,
        subject=masked(m.subject) if m.subject and not m.subject.endswith(topic_subject) else None,
        body=render_body(m.raw, m.text, mode, hidden), attachments=attachments,
        unreadable=m.unreadable_reason is not None)


@lru_cache(maxsize=4096)
def _fragment(message: ShownMessage, language: str, script_root: str) -> Markup:
    # language and script_root are part of the key: the labels and links depend on them.
    return Markup(current_app.jinja_env.get_template("message.html").render(m=message))


def thread_html(entries: list[ThreadEntry], topic_subject: str, is_member: bool) -> list[Markup]:
    """The HTML of each message of a thread, in thread order."""
    (mode, hidden), language = reader_masking(), current_language()
    zone, root = forum_config().forum.timezone, request.script_root
    labels = (_("(name not given)"), hidden, _("an earlier message"))

    def when(date: datetime) -> str:
        return moment_in(date, language, zone)

    return [_fragment(_shown(e, topic_subject, mode, is_member, labels, when), language, root) for e in entries]
