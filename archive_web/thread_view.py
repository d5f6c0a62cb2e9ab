"""A thread's messages as the topic page shows them: each prepared once (author, marks,
dates in the reader's language, body with quotes folded and addresses hidden or obfuscated,
attachments) and rendered to HTML from templates/web/message.html.

A message never changes (its raw bytes are the record), so its HTML is kept in a bounded
cache keyed by everything it shows and the reader's language: a 200-message page is then
mostly a join of cached fragments.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from flask import current_app, request
from flask_babel import gettext as _
from markupsafe import Markup

from archive_web.auth import address_mode
from archive_web.bodies import RenderedBody, address_text, render_body
from archive_web.db import forum_config
from archive_web.i18n import current_language, moment_in
from mailgateway.body import ParsedAttachment, extract_body
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
    if m.indexed_at:
        attachments = tuple(ParsedAttachment(a.filename, a.content_type, a.size, a.part_index)
                            for a in entry.attachments)
    else:  # stored seconds ago: the indexing job has not listed its attachments yet
        attachments = extract_body(m.raw).attachments
    return ShownMessage(
        id=m.id, depth=entry.depth, author=m.from_name or no_name, organisation=entry.organisation,
        kind=entry.organisation_kind.value if entry.organisation_kind else None,
        address=address_text(m.from_address, mode, hidden) if with_address and m.from_address else None,
        iso=m.date.isoformat(), when=when(m.date), parent_id=entry.parent.id if entry.parent else None,
        parent_author=(entry.parent.from_name or earlier) if entry.parent else None,
        subject=m.subject if m.subject and not m.subject.endswith(topic_subject) else None,
        body=render_body(m.raw, m.text, mode, hidden), attachments=attachments,
        unreadable=m.unreadable_reason is not None)


@lru_cache(maxsize=4096)
def _fragment(message: ShownMessage, language: str, script_root: str) -> Markup:
    # language and script_root are part of the key: the labels and links depend on them.
    return Markup(current_app.jinja_env.get_template("message.html").render(m=message))


def thread_html(entries: list[ThreadEntry], topic_subject: str, is_member: bool) -> list[Markup]:
    """The HTML of each message of a thread, in thread order."""
    mode, language, zone, root = address_mode(), current_language(), forum_config().forum.timezone, \
        request.script_root
    labels = (_("(name not given)"), _("(address hidden)"), _("an earlier message"))

    def when(date: datetime) -> str:
        return moment_in(date, language, zone)

    return [_fragment(_shown(e, topic_subject, mode, is_member, labels, when), language, root) for e in entries]
