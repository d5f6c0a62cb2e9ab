"""Topic list and thread pages."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request

from archive_web.auth import may_read_bodies
from archive_web.db import db
from mailgateway.body import extract_body
from storage.messages import topic_messages
from storage.topics import recent_topics, topic_summary

bp = Blueprint("topics", __name__)

PAGE_SIZE = 30


@bp.get("/")
def index() -> str:
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    topics = recent_topics(db(), limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE)
    return render_template("index.html", topics=topics[:PAGE_SIZE], page=page,
                           has_next=len(topics) > PAGE_SIZE)


@bp.get("/topics/<int:topic_id>")
def topic(topic_id: int) -> str:
    summary = topic_summary(db(), topic_id)
    if summary is None:
        abort(404)
    messages = topic_messages(db(), topic_id) if may_read_bodies() else []
    # A message stored seconds ago may not have had its body read by the indexing job yet.
    texts = {m.id: m.text if m.text is not None else extract_body(m.raw).text for m in messages}
    return render_template("topic.html", topic=summary, messages=messages, texts=texts,
                           may_read=may_read_bodies())
