"""The moderators' list of messages set aside because they cannot be read (nested too
deep, unparsable, refused by the database or the index): stored and acknowledged like any
other, shown on their topic's page as unreadable, kept out of the search index's text."""

from __future__ import annotations

from flask import Blueprint, render_template

from archive_web.db import db
from archive_web.moderation import moderators_only
from storage.search_queue import set_aside_messages

bp = Blueprint("moderation_unreadable", __name__, url_prefix="/moderation")

SHOWN = 500


@bp.get("/unreadable")
@moderators_only
def unreadable() -> str:
    return render_template("moderation/unreadable.html", messages=set_aside_messages(db(), SHOWN),
                           shown=SHOWN)
