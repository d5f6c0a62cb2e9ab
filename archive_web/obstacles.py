"""Reporting upwards on the web: the unresolved and escalated obstacles as CSV and as an
Atom feed, the public list of good-practice sheets, and the sheets shown on a topic's page.
(The /obstacles page itself is archive_web.topics'; it shows storage.reports' counts.)"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, Response, render_template, url_for
from flask_babel import gettext as _
from markupsafe import Markup

from archive_web.addresses import reader_masking
from archive_web.db import db, forum_config
from archive_web.feeds import atom_feed
from archive_web.i18n import current_language
from mailgateway.reporting import masked_obstacles, obstacles_csv, report_labels
from storage.models import SheetKind, TopicSheet, utcnow
from storage.reports import obstacle_counts, outstanding_obstacles
from storage.sheets import sheet_html, sheets_of_kind, topic_sheets

bp = Blueprint("obstacles", __name__)

FEED_SIZE = 100


def _absolute(endpoint: str, **values: object) -> str:
    return forum_config().forum.base_url.rstrip("/") + url_for(endpoint, **values)


@bp.get("/obstacles.csv")
def csv_list() -> Response:
    text = obstacles_csv(forum_config(), outstanding_obstacles(db()), current_language(), reader_masking()[0])
    name = f"obstacles-{utcnow().date().isoformat()}.csv"
    return Response(text, mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.get("/obstacles.atom")
def feed() -> Response:
    labels = report_labels(current_language())
    rows = masked_obstacles(outstanding_obstacles(db(), limit=FEED_SIZE), *reader_masking())
    entries = []
    for row in rows:
        state = labels[row.status] + (f", {labels[row.resolution]}" if row.resolution else "")
        facts = [_("Status: %(state)s", state=state),
                 _("Category: %(name)s", name=row.category or _("none")),
                 _("Organisations: %(names)s", names=", ".join(row.organisations) or _("none")),
                 _("Opened on %(date)s", date=row.opened.date().isoformat())]
        entries.append({"id": _absolute("topics.topic", topic_id=row.id),
                        "link": _absolute("topics.topic", topic_id=row.id),
                        "title": row.title or _("(no subject)"), "updated": row.last_activity,
                        "author": None, "category": row.category, "content": "\n".join(facts)})
    updated = max((row.last_activity for row in rows), default=datetime(2000, 1, 1).astimezone())
    return atom_feed(_("Unresolved and escalated obstacles") + " — " + forum_config().forum.name,
                     _absolute("obstacles.feed"), _absolute("topics.obstacles"), entries, updated)


@bp.get("/good-practices")
def good_practices() -> str:
    return render_template("good_practices.html", sheets=sheets_of_kind(db(), SheetKind.GOOD_PRACTICE))


@bp.app_context_processor
def sheet_helpers() -> dict[str, object]:
    """For the topic page, `sheets_of(topic_id)`: its sheets with their sanitised HTML; for
    the /obstacles page, the obstacle sheets and the counts by category, status, resolution."""
    def sheets_of(topic_id: int) -> list[tuple[TopicSheet, Markup]]:
        return [(sheet, Markup(sheet_html(sheet.body))) for sheet in topic_sheets(db(), topic_id)]
    return {"sheets_of": sheets_of, "obstacle_sheets": lambda: sheets_of_kind(db(), SheetKind.OBSTACLE),
            "obstacle_report": lambda: obstacle_counts(db())}
