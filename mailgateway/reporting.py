"""The periodic report upwards (monthly by default): counts of obstacles by status,
resolution and category, and the list of unresolved and escalated obstacles as CSV, mailed
to `[reporting] recipients` (e.g. the national coordination) through the outgoing queue.

The CSV is the one the /obstacles page offers (`obstacles_csv`). Its cells are safe to open
in a spreadsheet (no formula runs), and addresses in titles, categories and organisations are
hidden from the report (its recipients are not signed-in members) as from visitors.
"""

from __future__ import annotations

import csv
import email.policy
import email.utils
import io
from dataclasses import replace
from datetime import datetime, timedelta
from email.message import EmailMessage

from mailgateway.addresses import bounces_address, request_address
from mailgateway.notices import render_notice
from storage.address_masking import HIDE, mask_addresses_in_text
from storage.config import Config
from storage.db import Engine, session_scope
from storage.languages import language_of, translations
from storage.models import utcnow
from storage.outbound import queue_mail
from storage.reports import OutstandingObstacle, closed_since, obstacle_counts, outstanding_obstacles

def report_labels(language: str) -> dict[str, str]:
    """Statuses and resolutions in words, in `language` (the catalogues of translations/)."""
    _ = translations(language).gettext
    return {"open": _("open"), "closed": _("closed"), "solution": _("solution found"),
            "bat": _("technical-assistance voucher"), "study": _("study"),
            "legal-impossibility": _("legal impossibility"), "escalated": _("escalated (unresolved)"),
            "address-hidden": _("(address hidden)")}


def csv_headers(language: str) -> tuple[str, ...]:
    _ = translations(language).gettext
    return (_("number"), _("title"), _("status"), _("resolution"), _("category"), _("organisations"),
            _("opened"), _("last activity"), _("link"))


# A cell starting so is a formula to spreadsheet programs (OWASP, "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_cell(value: object) -> object:
    """A text cell that a spreadsheet shows as text, never runs: a leading quote if needed."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def masked_obstacles(rows: list[OutstandingObstacle], mode: str, hidden_label: str) -> list[OutstandingObstacle]:
    """The rows with addresses hidden or obfuscated in their titles, categories and organisations."""
    def mask(text: str) -> str:
        return mask_addresses_in_text(text, mode, hidden_label)
    return [replace(row, title=mask(row.title), category=mask(row.category) if row.category else row.category,
                    organisations=[mask(name) for name in row.organisations]) for row in rows]


def obstacles_csv(config: Config, rows: list[OutstandingObstacle], language: str, address_mode: str = HIDE) -> str:
    """The unresolved and escalated obstacles as CSV (with a byte-order mark, so that
    spreadsheet programs read the accents right), addresses hidden or obfuscated."""
    labels = report_labels(language)
    rows = masked_obstacles(rows, address_mode, labels["address-hidden"])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(csv_headers(language))
    base = config.forum.base_url.rstrip("/")
    for row in rows:
        writer.writerow([spreadsheet_cell(cell) for cell in (
            row.id, row.title, labels[row.status], labels[row.resolution] if row.resolution else "",
            row.category or "", "; ".join(row.organisations), row.opened.date().isoformat(),
            row.last_activity.date().isoformat(), f"{base}/topics/{row.id}")])
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
    # One mail to several people (the report): in the forum's language.
    language = language_of(None, config.forum.default_language)
    labels = report_labels(language)
    with session_scope(engine) as db:
        counts = obstacle_counts(db)
        counts = replace(counts, by_category=[(mask_addresses_in_text(name, HIDE, labels["address-hidden"]), slug, n)
                                              for name, slug, n in counts.by_category])
        rows = masked_obstacles(outstanding_obstacles(db), HIDE, labels["address-hidden"])  # in the text too
        new = obstacle_counts(db, since).total
        closed = closed_since(db, since)
        subject, body = render_notice(config, "report", language, counts=counts, rows=rows, new=new,
                                      closed=closed, since=since, now=now, labels=labels,
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
            msg.add_attachment(attachment, maintype="text", subtype="csv", params={"charset": "utf-8"},
                               filename=f"obstacles-{now.date().isoformat()}.csv")
            queue_mail(db, envelope_from=bounces_address(config), recipient=recipient, raw=msg.as_bytes(),
                       purpose="report")
    return len(config.reporting.recipients)
