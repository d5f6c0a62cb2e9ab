"""The outbound worker: sends the queued copies through the relay, or into the Maildir spool.

Runs as a scheduled job after the commits that queued the mail, so a slow relay never
holds an inbound SMTP session, and a restart loses nothing (the queue is in the database).
"""

from __future__ import annotations

import mailbox
import smtplib
from dataclasses import dataclass
from datetime import datetime, timedelta

from storage.db import Engine

from storage.config import Config
from storage.db import session_scope
from storage.models import OutboundMessage, OutboundStatus, utcnow
from storage.outbound import due_mail, mark_failed, mark_sent

@dataclass
class DeliveryRound:
    sent: int = 0
    deferred: int = 0
    failed: int = 0


class _Relay:
    """One SMTP connection to the relay, opened on first use and reused for the round."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.smtp: smtplib.SMTP | None = None

    def send(self, envelope_from: str, recipient: str, raw: bytes) -> None:
        if self.smtp is None:
            self.smtp = smtplib.SMTP(self.config.delivery.relay_host, self.config.delivery.relay_port,
                                     local_hostname=self.config.domain, timeout=60)
            self.smtp.ehlo()
            if self.smtp.has_extn("starttls") and self.config.delivery.relay_starttls:
                self.smtp.starttls()
                self.smtp.ehlo()
        self.smtp.sendmail(envelope_from, [recipient], raw)

    def close(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (smtplib.SMTPException, OSError):
                self.smtp.close()
            self.smtp = None


def _spool(config: Config, raw: bytes, envelope_from: str, recipient: str) -> None:
    for sub in ("tmp", "new", "cur"):
        (config.spool_dir / sub).mkdir(parents=True, exist_ok=True)
    box = mailbox.Maildir(config.spool_dir, create=False)
    # The envelope is written as headers, as a local delivery agent would.
    box.add(f"Return-Path: <{envelope_from}>\nDelivered-To: {recipient}\n".encode() + raw)


@dataclass(frozen=True)
class _Attempt:
    row_id: int
    error: str | None = None
    permanent: bool = False


def _send_one(config: Config, relay: _Relay | None, envelope_from: str, recipient: str,
              raw: bytes) -> tuple[str | None, bool]:
    """Send one copy; returns (error or None, whether the failure is permanent)."""
    try:
        if relay is None:
            _spool(config, raw, envelope_from, recipient)
        else:
            relay.send(envelope_from, recipient, raw)
    except smtplib.SMTPRecipientsRefused as refused:
        code, text = next(iter(refused.recipients.values()))
        return f"{code} {text.decode(errors='replace')}", 500 <= code < 600
    except smtplib.SMTPResponseException as error:
        if relay is not None:
            relay.close()
        return f"{error.smtp_code} {error.smtp_error.decode(errors='replace')}", 500 <= error.smtp_code < 600
    except (OSError, smtplib.SMTPException) as error:
        if relay is not None:
            relay.close()
        return f"{type(error).__name__}: {error}", False
    return None, False


def deliver_due(engine: Engine, config: Config, now: datetime | None = None,
                limit: int = 500) -> DeliveryRound:
    """Send what is due; temporary failures are retried with backoff, permanent ones recorded.

    No transaction stays open while talking to the relay: rows are read, sent, then their
    outcome recorded in short transactions (a crash in between re-sends, never loses).
    """
    now = now or utcnow()
    with session_scope(engine, readonly=True) as db:
        batch = [(r.id, r.envelope_from, r.recipient, r.raw) for r in due_mail(db, now, limit)]
    result = DeliveryRound()
    relay = _Relay(config) if config.delivery.relay_host else None
    attempts: list[_Attempt] = []
    try:
        for row_id, envelope_from, recipient, raw in batch:
            error, permanent = _send_one(config, relay, envelope_from, recipient, raw)
            attempts.append(_Attempt(row_id, error, permanent))
            if error and not permanent and relay is not None and relay.smtp is None:
                break  # the relay is down: the rest of the round waits for the next one
            if len(attempts) >= 100:
                _record(engine, config, attempts, now, result)
                attempts = []
    finally:
        if relay is not None:
            relay.close()
        _record(engine, config, attempts, now, result)
    return result


def _record(engine: Engine, config: Config, attempts: list[_Attempt], now: datetime,
            result: DeliveryRound) -> None:
    if not attempts:
        return
    retry_base = timedelta(seconds=config.delivery.retry_base_seconds)
    give_up = timedelta(hours=config.delivery.give_up_after_hours)
    with session_scope(engine) as db:
        for attempt in attempts:
            row = db.get(OutboundMessage, attempt.row_id)
            if row is None:
                continue
            if attempt.error is None:
                mark_sent(row, now)
                result.sent += 1
                continue
            mark_failed(row, attempt.error, permanent=attempt.permanent, now=now,
                        retry_base=retry_base, give_up_after=give_up)
            if row.status is OutboundStatus.FAILED:
                result.failed += 1
            else:
                result.deferred += 1
