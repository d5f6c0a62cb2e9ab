"""Atom feeds: new topics, one topic's messages, one category's messages. They follow the
archive's visibility: titles for everyone, text and authors only for who may read them;
addresses hidden or obfuscated as on the pages. What mail carries that XML 1.0 cannot
(control characters) is left out, so that a feed is always well-formed."""

from __future__ import annotations

import re
from datetime import datetime

from flask import Blueprint, Response, abort, render_template, url_for
from flask_babel import gettext as _

from archive_web.addresses import for_reader
from archive_web.auth import may_read_bodies
from archive_web.bodies import split_segments
from archive_web.db import db, forum_config
from mailgateway.body import extract_body
from storage.archive import category_by_slug, first_messages, recent_messages, topic_row, topic_rows
from storage.models import Message, utcnow
from storage.personal_links import mask_personal_links

bp = Blueprint("feeds", __name__)

FEED_SIZE = 30
# Characters XML 1.0 does not allow (C0 controls but tab and line breaks, lone surrogates,
# U+FFFE/U+FFFF): one of them makes the whole feed unreadable to every feed reader.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _absolute(endpoint: str, **values: object) -> str:
    # Entry ids must not depend on the host name a reader happened to use.
    return forum_config().forum.base_url.rstrip("/") + url_for(endpoint, **values)


def atom_feed(title: str, self_url: str, page_url: str, entries: list[dict[str, object]],
              updated: datetime | None = None) -> Response:
    """The Atom document (templates/web/feed.xml) of these entries, always well-formed XML."""
    if updated is None:
        updated = max((e["updated"] for e in entries), default=utcnow())  # type: ignore[type-var]
    xml = render_template("feed.xml", title=title, self_url=self_url, page_url=page_url,
                          entries=entries, updated=updated)
    return Response(_NOT_XML.sub("", xml), mimetype="application/atom+xml")


def _title(subject: str | None) -> str:
    return for_reader(subject) or _("(no subject)")


def _author(name: str | None) -> str:
    return for_reader(name) or _("(name not given)")


def _text(message: Message) -> str:
    """The author's own words (quotes and signature left out), addresses hidden."""
    if message.unreadable_reason is not None:  # set aside by the indexing job
        return _("This message could not be read, so its content is not shown. The moderators have been "
                 "told; the original is kept as received.")
    text = message.text if message.text is not None else extract_body(message.raw).text
    own_words = "\n\n".join(part for kind, part in split_segments(text) if kind == "text")
    return for_reader(mask_personal_links(own_words, ""))  # tokens of mail stored before stripping


def _message_entry(message: Message) -> dict[str, object]:
    return {"id": _absolute("topics.message", message_pk=message.id),
            "link": _absolute("topics.topic", topic_id=message.topic_id, _anchor=f"m{message.id}"),
            "title": _title(message.subject), "updated": message.date,
            "author": _author(message.from_name), "content": _text(message)}


@bp.get("/feeds/topics.atom")
def new_topics() -> Response:
    readable = may_read_bodies()
    rows = topic_rows(db(), limit=FEED_SIZE, newest_first=True)
    firsts = first_messages(db(), [t.id for t in rows]) if readable else {}
    entries = []
    for t in rows:
        first = firsts.get(t.id)
        entries.append({"id": _absolute("topics.topic", topic_id=t.id),
                        "link": _absolute("topics.topic", topic_id=t.id),
                        "title": _title(t.subject), "updated": t.created,
                        "category": for_reader(t.category) or None,
                        "author": _author(first.from_name) if first else None,
                        "content": _text(first) if first else None})
    return atom_feed(_("New topics — %(forum)s", forum=forum_config().forum.name),
                     _absolute("feeds.new_topics"), _absolute("topics.index"), entries)


@bp.get("/feeds/topics/<int:topic_id>.atom")
def topic_feed(topic_id: int) -> Response:
    topic = topic_row(db(), topic_id)
    if topic is None:
        abort(404)
    messages = recent_messages(db(), topic_id=topic_id, limit=FEED_SIZE) if may_read_bodies() else []
    return atom_feed(_title(topic.subject), _absolute("feeds.topic_feed", topic_id=topic_id),
                     _absolute("topics.topic", topic_id=topic_id), [_message_entry(m) for m in messages])


@bp.get("/feeds/categories/<slug>.atom")
def category_feed(slug: str) -> Response:
    category = category_by_slug(db(), slug)
    if category is None:
        abort(404)
    if may_read_bodies():
        entries = [_message_entry(m) for m in recent_messages(db(), category_id=category.id, limit=FEED_SIZE)]
    else:  # titles only: the category's topics, newest first
        entries = [{"id": _absolute("topics.topic", topic_id=t.id), "link": _absolute("topics.topic", topic_id=t.id),
                    "title": _title(t.subject), "updated": t.created, "author": None, "content": None}
                   for t in topic_rows(db(), category_id=category.id, limit=FEED_SIZE, newest_first=True)]
    return atom_feed(for_reader(category.name), _absolute("feeds.category_feed", slug=slug),
                     _absolute("topics.category", slug=slug), entries)
