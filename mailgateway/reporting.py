"""The periodic report upwards (monthly by default): counts of obstacles by status,
resolution and category, and the list of unresolved and escalated obstacles as CSV, mailed
to `[reporting] recipients` (e.g. the national coordination) through the outgoing queue.

The CSV is the one the /obstacles page offers (`obstacles_csv`).
"""

from __future__ import annotations

import csv
import email.policy
import email.utils
import io
from datetime import datetime, timedelta
from email.message import EmailMessage

from mailgateway.addresses import bounces_address, request_address
from mailgateway.notices import render_notice
from storage.config import Config
from storage.db import Engine, session_scope
from storage.models import utcnow
from storage.outbound import queue_mail
from storage.reports import OutstandingObstacle, closed_since, obstacle_counts, outstanding_obstacles

LABELS = {
    "fr": {"open": "ouvert", "closed": "clos", "solution": "solution trouvée", "bat": "BAT",
           "study": "étude", "legal-impossibility": "impossibilité juridique",
           "escalated": "remonté (non résolu)"},
    "en": {"open": "open", "closed": "closed", "solution": "solution found", "bat": "technical-assistance voucher",
           "study": "study", "legal-impossibility": "legal impossibility",
           "escalated": "escalated (unresolved)"},
}
HEADERS = {
    "fr": ("numéro", "titre", "statut", "résolution", "catégorie", "organisations", "ouvert le",
           "dernière activité", "lien"),
    "en": ("number", "title", "status", "resolution", "category", "organisations", "opened",
           "last activity", "link"),
}


def obstacles_csv(config: Config, rows: list[OutstandingObstacle], language: str) -> str:
    """The unresolved and escalated obstacles as CSV (with a byte-order mark, so that
    spreadsheet programs read the accents right)."""
    labels = LABELS.get(language, LABELS["en"])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADERS.get(language, HEADERS["en"]))
    base = config.forum.base_url.rstrip("/")
    for row in rows:
        writer.writerow([row.id, row.title, labels[row.status],
                         labels[row.resolution] if row.resolution else "", row.category or "",
                         "; ".join(row.organisations), row.opened.date().isoformat(),
                         row.last_activity.date().isoformat(), f"{base}/topics/{row.id}"])
    return "\ufeff" + out.getvalue()


def report_period(config: Config, now: datetime) -> datetime:
    """Since when the report counts what is new: one month or one week back."""
    if config.reporting.frequency == "weekly":
        return now - timedelta(days=7)
    return (now.replace(day=1) - timedelta(days=1)).replace(day=min(now.day, 28))


def send_periodic_report(engine: Engine, config: Config, now: datetime | None = None) -> int:
    """Queue the report for each configured recipient; returns how many were queued."""
    if not config.reporting.recipients:
        return 0
    now = now or utcnow()
    since = report_period(config, now)
    language = config.forum.default_language
    with session_scope(engine) as db:
        counts = obstacle_counts(db)
        rows = outstanding_obstacles(db)
        new = obstacle_counts(db, since).total
        closed = closed_since(db, since)
        subject, body = render_notice(config, "report", language, counts=counts, rows=rows, new=new,
                                      closed=closed, since=since, now=now, labels=LABELS[language],
                                      base_url=config.forum.base_url.rstrip("/"))
        attachment = obstacles_csv(config, rows, language).encode("utf-8")
        for recipient in config.reporting.recipients:
            msg = EmailMessage(policy=email.policy.SMTP)
            msg["From"] = email.utils.formataddr((config.forum.name, request_address(config)))
            msg["To"] = recipient
            msg["Subject"] = subject
            msg["Date"] = email.utils.formatdate(localtime=False)
            msg["Message-ID"] = email.utils.make_msgid(domain=config.domain)
            msg["Auto-Submitted"] = "auto-generated"
            msg.set_content(body)
            msg.add_attachment(attachment, maintype="text", subtype="csv",
                               filename=f"obstacles-{now.date().isoformat()}.csv")
            queue_mail(db, envelope_from=bounces_address(config), recipient=recipient, raw=msg.as_bytes(),
                       purpose="report")
    return len(config.reporting.recipients)
