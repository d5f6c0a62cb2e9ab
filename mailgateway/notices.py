"""Mail that Relais writes itself (notices to senders and moderators), from templates/mail/.

Automatic answers to mail (held-message notices, answers to commands) go to a From address
that proves nothing: `may_answer` bounds them per address and per day, so that a forged
sender cannot turn Relais into a mail cannon, and their templates never echo the sender's
text (subject, body, command lines) — only what Relais itself knows.
"""

from __future__ import annotations

import email.policy
import email.utils
from datetime import date, datetime, timedelta
from email.message import EmailMessage

from babel.dates import format_date, format_time
from babel.numbers import format_decimal
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from storage.db import Session

from mailgateway.addresses import bounces_address, request_address
from storage.config import TEMPLATES_DIR, Config
from storage.languages import SOURCE_LANGUAGE, language_of
from storage.outbound import queue_mail
from storage.people import language_at, normalise_address
from storage.rate_limits import allow

_env = Environment(loader=FileSystemLoader(TEMPLATES_DIR / "mail"), undefined=StrictUndefined,
                   keep_trailing_newline=True, autoescape=select_autoescape(["html"]))


def _date(when: date | datetime, language: str, style: str = "medium") -> str:
    return format_date(when, style, locale=language)


def _moment(when: datetime, language: str) -> str:
    return f"{format_date(when, 'medium', locale=language)}, {format_time(when, 'short', locale=language)}"


def _number(value: float, language: str) -> str:
    return format_decimal(value, locale=language)


_env.filters.update(date=_date, moment=_moment, number=_number)


def render_mail(config: Config, filename: str, **context: object) -> str:
    """templates/mail/<filename> rendered (HTML templates escape what they are given)."""
    return _env.get_template(filename).render(forum=config.forum, **context)


def render_in(config: Config, name: str, language: str, extension: str, **context: object) -> str:
    """templates/mail/<name>.<language>.<extension> rendered, in the forum's language or in
    English when that language has no such template yet; dates and numbers in the
    template are formatted for the language (the `date` and `number` filters)."""
    template = _env.select_template([f"{name}.{code}.{extension}" for code in
                                     dict.fromkeys((language, config.forum.default_language, SOURCE_LANGUAGE))])
    return template.render(forum=config.forum, language=language, **context)


def render_notice(config: Config, name: str, language: str, **context: object) -> tuple[str, str]:
    """(subject, body) of templates/mail/<name>.<language>.txt, whose first line is "Subject: …"."""
    text = render_in(config, name, language, "txt", **context)
    first, _, body = text.partition("\n")
    if not first.startswith("Subject: "):
        raise ValueError(f"templates/mail/{name}.{language}.txt must start with a Subject: line")
    return first.removeprefix("Subject: ").strip(), body.lstrip("\n")


def queue_notice(session: Session, config: Config, *, to: str, name: str, purpose: str,
                 in_reply_to: str | None = None, language: str | None = None,
                 message_id: str | None = None, reply_to: str | None = None, **context: object) -> None:
    """Queue a notice to `to`, in `language` when given (the language a command was written
    in), else in the language of the person at `to`, else in the forum's."""
    language = language_of(language or language_at(session, to), config.forum.default_language)
    subject, body = render_notice(config, name, language, **context)
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = email.utils.formataddr((config.forum.name, request_address(config)))
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = email.utils.formatdate(localtime=False)
    # A given Message-ID lets a reply name what it answers (a held message's notice).
    msg["Message-ID"] = f"<{message_id}>" if message_id else email.utils.make_msgid(domain=config.domain)
    if reply_to:
        msg["Reply-To"] = reply_to
    if in_reply_to:
        msg["In-Reply-To"] = f"<{in_reply_to}>"
        msg["References"] = f"<{in_reply_to}>"
    # RFC 3834: an automatic answer, which vacation responders must not answer in turn.
    msg["Auto-Submitted"] = "auto-replied"
    msg.set_content(body)
    queue_mail(session, envelope_from=bounces_address(config), recipient=to, raw=msg.as_bytes(),
               purpose=purpose)


def may_answer(session: Session, config: Config, address: str, now: datetime) -> bool:
    """Count one automatic answer to `address`; False (count nothing) once today's
    `[moderation] answers_per_address_per_day` are spent."""
    key = f"answer:{normalise_address(address)}"
    return allow(session, {key: config.moderation.answers_per_address_per_day}, timedelta(days=1), now)
