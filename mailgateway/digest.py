"""The daily digest: a scheduled job that sends each digest reader one mail with a table of
contents, then the messages they have not received yet, grouped by topic (plain text and
HTML), through the outgoing queue.

Each reader's progress (the newest message a digest carried) is recorded in the same
transaction that queues the digest, so a digest is never sent twice nor a message skipped.
"""

from __future__ import annotations

import email.policy
import email.utils
from datetime import datetime, timedelta
from email.message import EmailMessage
from zoneinfo import ZoneInfo

from mailgateway.addresses import verp_address
from mailgateway.body import extract_body
from mailgateway.listheaders import account_url, list_headers, list_unsubscribe, topic_url, unsubscribe_url
from mailgateway.notices import render_in
from storage.config import Config, secret_key
from storage.db import Engine, session_scope
from storage.digests import (
    DigestMessage,
    DigestReader,
    digest_messages,
    digest_readers,
    mark_digest_sent,
    muted_topics,
    newest_message_pk,
)
from storage.languages import language_of
from storage.models import utcnow
from storage.outbound import queue_mail

MAX_TEXT = 20000


def _entries(config: Config, messages: list[DigestMessage]) -> list[dict[str, object]]:
    zone = ZoneInfo(config.forum.timezone)
    entries = []
    for number, m in enumerate(messages, 1):
        text = m.text if m.text is not None else extract_body(m.raw).text
        if len(text) > MAX_TEXT:
            text = text[:MAX_TEXT] + " […]"
        entries.append({"number": number, "subject": m.subject or m.topic_subject, "topic": m.topic_subject,
                        "topic_id": m.topic_id, "category": m.category, "author": m.author,
                        "date": m.date.astimezone(zone), "text": text.strip(),
                        "url": topic_url(config, m.topic_id)})
    return entries


def _digest_mail(config: Config, secret: str, reader: DigestReader, rendered: tuple[str, str, str],
                 placeholder: str) -> bytes:
    subject, text, html = rendered
    url = unsubscribe_url(config, secret, reader.subscription_id)
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = email.utils.formataddr((config.forum.name, config.forum.address))
    msg["To"] = reader.address
    msg["Subject"] = subject
    msg["Date"] = email.utils.formatdate(localtime=False)
    msg["Message-ID"] = email.utils.make_msgid(domain=config.domain)
    for name, value in list_headers(config, None):
        msg[name] = value
    msg["List-Unsubscribe"] = list_unsubscribe(config, url)
    msg.set_content(text.replace(placeholder, url))
    msg.add_alternative(html.replace(placeholder, url), subtype="html")
    return msg.as_bytes()


def send_digests(engine: Engine, config: Config, now: datetime | None = None) -> int:
    """Queue today's digest for every digest reader with something new; returns how many."""
    now = now or utcnow()
    secret = secret_key(config)
    placeholder = "RELAISDIGESTUNSUBSCRIBEURL"
    queued = 0
    with session_scope(engine) as db:
        readers = digest_readers(db)
        if not readers:
            return 0
        until_pk = newest_message_pk(db)
        muted = muted_topics(db, [r.person_id for r in readers])
        loaded: dict[int | None, list[DigestMessage]] = {}
        rendered: dict[tuple[int | None, frozenset[int], str], tuple[str, str, str] | None] = {}
        for reader in readers:
            if reader.after_pk not in loaded:
                loaded[reader.after_pk] = digest_messages(db, reader.after_pk, now - timedelta(days=1), until_pk)
            messages = loaded[reader.after_pk]
            hidden = frozenset(muted.get(reader.person_id, set()) & {m.topic_id for m in messages})
            language = language_of(reader.language, config.forum.default_language)
            key = (reader.after_pk, hidden, language)
            if key not in rendered:
                shown = [m for m in messages if m.topic_id not in hidden]
                rendered[key] = _render(config, language, shown, now, placeholder) if shown else None
            if rendered[key] is not None:
                queue_mail(db, envelope_from=verp_address(config, secret, reader.subscription_id),
                           recipient=reader.address, purpose="digest",
                           raw=_digest_mail(config, secret, reader, rendered[key], placeholder))
                queued += 1
        mark_digest_sent(db, [r.subscription_id for r in readers], until_pk)
    return queued


def _render(config: Config, language: str, messages: list[DigestMessage], now: datetime,
            placeholder: str) -> tuple[str, str, str]:
    context = {"entries": _entries(config, messages), "tag": config.delivery.subject_tag,
               "day": now.astimezone(ZoneInfo(config.forum.timezone)).date(),
               "unsubscribe_url": placeholder, "account_url": account_url(config)}
    text = render_in(config, "digest", language, "txt", **context)
    subject, _, body = text.partition("\n")
    html = render_in(config, "digest", language, "html", **context)
    return subject.removeprefix("Subject: ").strip(), body.lstrip("\n"), html
