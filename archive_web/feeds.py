"""Atom feeds: new topics, one topic's messages, one category's messages. They follow the
archive's visibility: titles for everyone, text and authors only for who may read them."""

from __future__ import annotations

from flask import Blueprint, Response, abort, render_template, url_for
from flask_babel import gettext as _

from archive_web.auth import address_mode, may_read_bodies
from archive_web.bodies import shown_addresses, split_segments
from archive_web.db import db, forum_config
from mailgateway.body import extract_body
from storage.archive import category_by_slug, first_messages, recent_messages, topic_row, topic_rows
from storage.models import Message, utcnow

bp = Blueprint("feeds", __name__)

FEED_SIZE = 30


def _absolute(endpoint: str, **values: object) -> str:
    # Entry ids must not depend on the host name a reader happened to use.
    return forum_config().forum.base_url.rstrip("/") + url_for(endpoint, **values)


def _text(message: Message) -> str:
    """The author's own words (quotes and signature left out), addresses hidden."""
    text = message.text if message.text is not None else extract_body(message.raw).text
    own = "\n\n".join(part for kind, part in split_segments(text) if kind == "text")
    return shown_addresses(own, address_mode(), _("(address hidden)"))


def _message_entry(message: Message, readable: bool) -> dict[str, object]:
    return {"id": _absolute("topics.message", message_pk=message.id),
            "link": _absolute("topics.topic", topic_id=message.topic_id, _anchor=f"m{message.id}"),
            "title": message.subject or _("(no subject)"), "updated": message.date,
            "author": (message.from_name or _("(name not given)")) if readable else None,
            "content": _text(message) if readable else None}


def _feed(title: str, self_url: str, page_url: str, entries: list[dict[str, object]]) -> Response:
    updated = max((e["updated"] for e in entries), default=utcnow())
    xml = render_template("feed.xml", title=title, self_url=self_url, page_url=page_url,
                          entries=entries, updated=updated)
    return Response(xml, mimetype="application/atom+xml")


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
                        "title": t.subject or _("(no subject)"), "updated": t.created,
                        "category": t.category,
                        "author": (first.from_name or _("(name not given)")) if first else None,
                        "content": _text(first) if first else None})
    return _feed(_("New topics — %(forum)s", forum=forum_config().forum.name),
                 _absolute("feeds.new_topics"), _absolute("topics.index"), entries)


@bp.get("/feeds/topics/<int:topic_id>.atom")
def topic_feed(topic_id: int) -> Response:
    topic = topic_row(db(), topic_id)
    if topic is None:
        abort(404)
    readable = may_read_bodies()
    messages = recent_messages(db(), topic_id=topic_id, limit=FEED_SIZE) if readable else []
    return _feed(topic.subject or _("(no subject)"), _absolute("feeds.topic_feed", topic_id=topic_id),
                 _absolute("topics.topic", topic_id=topic_id), [_message_entry(m, True) for m in messages])


@bp.get("/feeds/categories/<slug>.atom")
def category_feed(slug: str) -> Response:
    category = category_by_slug(db(), slug)
    if category is None:
        abort(404)
    if may_read_bodies():
        entries = [_message_entry(m, True) for m in recent_messages(db(), category_id=category.id, limit=FEED_SIZE)]
    else:  # titles only: the category's topics, newest first
        entries = [{"id": _absolute("topics.topic", topic_id=t.id), "link": _absolute("topics.topic", topic_id=t.id),
                    "title": t.subject or _("(no subject)"), "updated": t.created, "author": None, "content": None}
                   for t in topic_rows(db(), category_id=category.id, limit=FEED_SIZE, newest_first=True)]
    return _feed(category.name, _absolute("feeds.category_feed", slug=slug),
                 _absolute("topics.category", slug=slug), entries)
