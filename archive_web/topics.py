"""Topic lists (home, categories, obstacles) and the thread page.

Titles, categories, statuses and resolutions are public; bodies, authors and attachments
only for those who may read them (archive_web.auth).
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for

from archive_web.addresses import masked
from archive_web.auth import current_reader, may_read_bodies
from archive_web.db import db
from archive_web.thread_view import thread_html
from storage.accounts import topic_follow_level
from storage.archive import (
    category_by_slug,
    category_choices,
    categories_with_counts,
    status_counts,
    thread,
    topic_row,
    topic_rows,
)
from storage.models import Category, Message, TopicStatus

bp = Blueprint("topics", __name__)
# Every name, title and subject a template prints goes through it.
bp.add_app_template_filter(masked, "masked")

PAGE_SIZE = 30


def _page() -> int:
    page = request.args.get("page", 1, type=int) or 1
    return min(max(page, 1), 10_000)


def _status_filter() -> TopicStatus | None:
    value = request.args.get("status", "")
    return TopicStatus(value) if value in {s.value for s in TopicStatus} else None


def _listing(category: Category | None, status: TopicStatus | None, newest_first: bool = False) -> dict:
    page = _page()
    rows = topic_rows(db(), category_id=category.id if category else None, status=status,
                      limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE, newest_first=newest_first)
    return {"topics": rows[:PAGE_SIZE], "page": page, "has_next": len(rows) > PAGE_SIZE,
            "status": status.value if status else ""}


@bp.get("/")
def index() -> str:
    slug = request.args.get("category", "")
    category = category_by_slug(db(), slug) if slug else None
    unknown_category = bool(slug) and category is None
    listing = _listing(category, _status_filter()) if not unknown_category else \
        {"topics": [], "page": 1, "has_next": False, "status": request.args.get("status", "")}
    return render_template("index.html", **listing, categories=category_choices(db()),
                           category=slug, unknown_category=unknown_category)


@bp.get("/topics/<int:topic_id>")
def topic(topic_id: int) -> str:
    summary = topic_row(db(), topic_id)
    if summary is None:
        abort(404)
    reader = current_reader()
    messages = thread_html(thread(db(), topic_id), summary.subject, reader.is_member) if may_read_bodies() else []
    follow = topic_follow_level(db(), reader.person_id, topic_id) if reader.is_member else None
    return render_template("topic.html", topic=summary, messages=messages, follow=follow,
                           may_download_mbox=reader.is_member)


@bp.get("/messages/<int:message_pk>")
def message(message_pk: int) -> Response:
    """A message's permanent address: its place in its topic's page (after topic merges too)."""
    found = db().get(Message, message_pk)
    if found is None:
        abort(404)
    return redirect(url_for("topics.topic", topic_id=found.topic_id, _anchor=f"m{found.id}"))


@bp.get("/categories")
def categories() -> str:
    return render_template("categories.html", categories=categories_with_counts(db()))


@bp.get("/categories/<slug>")
def category(slug: str) -> str:
    found = category_by_slug(db(), slug)
    if found is None:
        abort(404)
    return render_template("category.html", category=found, **_listing(found, _status_filter()))


@bp.get("/obstacles")
def obstacles() -> str:
    """Every obstacle raised on the forum, titles only, with where each one stands."""
    counts = sorted(status_counts(db()).items(), key=lambda kv: (kv[0][0], kv[0][1] or ""))
    return render_template("obstacles.html", counts=counts, total=sum(n for _key, n in counts),
                           **_listing(None, _status_filter(), newest_first=True))
