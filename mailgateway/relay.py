"""Handing outgoing mail over: through the configured relay on one reused SMTP connection,
or into the Maildir spool when no relay is set, DKIM-signed when a key is configured.

Used by both delivery workers (pre-composed notices and the copies of posts); each failure
is classified as permanent (5xx: never retry) or temporary (4xx, connection refused: retry).
"""

from __future__ import annotations

import mailbox
import smtplib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import dkim

from storage.config import Config

# Headers the DKIM signature covers (those that say who sent what, and the list headers
# that receivers such as Gmail read for one-click unsubscribe).
SIGNED_HEADERS = [h.encode() for h in (
    "From", "Reply-To", "Subject", "Date", "To", "Cc", "Message-ID", "In-Reply-To", "References",
    "MIME-Version", "Content-Type", "Content-Transfer-Encoding", "List-Id", "List-Post",
    "List-Unsubscribe", "List-Unsubscribe-Post")]


@lru_cache(maxsize=4)
def _private_key(path: Path, mtime: float) -> bytes:
    return path.read_bytes()


def dkim_sign(config: Config, raw: bytes) -> bytes:
    """The message with a DKIM-Signature (d= the forum's domain) prepended, or as it is."""
    key_file = config.dkim_key_file
    if key_file is None:
        return raw
    key = _private_key(key_file, key_file.stat().st_mtime)
    signature = dkim.sign(raw, config.delivery.dkim_selector.encode(), config.domain.encode(), key,
                          include_headers=SIGNED_HEADERS)
    return signature + raw


@dataclass(frozen=True)
class Failure:
    error: str
    permanent: bool
    # The relay itself failed (unreachable, 421, 4xx to MAIL or DATA), not this copy:
    # the round stops and sending pauses with backoff.
    relay_wide: bool = False


class Outbox:
    """Where one round of sending goes; open it, send many, close it."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.smtp: smtplib.SMTP | None = None
        self.relay_down = False

    @property
    def uses_relay(self) -> bool:
        return bool(self.config.delivery.relay_host)

    def send(self, envelope_from: str, recipient: str, raw: bytes) -> Failure | None:
        """Send one copy; None when it was accepted. A failure of the relay itself marks
        the outbox `relay_down`, so that the round stops instead of trying every copy."""
        raw = dkim_sign(self.config, raw)
        try:
            if self.uses_relay:
                self._relay(envelope_from, recipient, raw)
            else:
                self._spool(envelope_from, recipient, raw)
        except smtplib.SMTPRecipientsRefused as refused:
            # This address only (smtplib has reset the transaction): the round goes on.
            code, text = next(iter(refused.recipients.values()))
            return Failure(f"{code} {text.decode(errors='replace')}", 500 <= code < 600)
        except smtplib.SMTPResponseException as error:
            text = f"{error.smtp_code} {error.smtp_error.decode(errors='replace')}"
            if 500 <= error.smtp_code < 600:
                return Failure(text, True)  # this copy refused for good; the connection goes on
            # "Try later" to MAIL or DATA, or 421: the relay is busy or failing, whatever
            # the copy. Stop here rather than open one connection per copy.
            self._drop_connection()
            self.relay_down = True
            return Failure(text, False, relay_wide=True)
        except (OSError, smtplib.SMTPException) as error:
            self._drop_connection()
            self.relay_down = self.uses_relay
            return Failure(f"{type(error).__name__}: {error}", False, relay_wide=self.uses_relay)
        return None

    def _relay(self, envelope_from: str, recipient: str, raw: bytes) -> None:
        if self.smtp is not None and self.smtp.sock is None:
            self.smtp = None  # smtplib closed it (a 421 or a failed reset)
        if self.smtp is None:
            delivery = self.config.delivery
            self.smtp = smtplib.SMTP(delivery.relay_host, delivery.relay_port,
                                     local_hostname=self.config.domain, timeout=60)
            self.smtp.ehlo()
            if self.smtp.has_extn("starttls") and delivery.relay_starttls:
                self.smtp.starttls()
                self.smtp.ehlo()
        # RFC 6152: 8-bit content is announced, where the relay takes it.
        options = ["BODY=8BITMIME"] if not raw.isascii() and self.smtp.has_extn("8bitmime") else []
        self.smtp.sendmail(envelope_from, [recipient], raw, mail_options=options)

    def _spool(self, envelope_from: str, recipient: str, raw: bytes) -> None:
        spool = self.config.spool_dir
        for sub in ("tmp", "new", "cur"):
            (spool / sub).mkdir(parents=True, exist_ok=True)
        # The envelope is written as headers, as a local delivery agent would.
        mailbox.Maildir(spool, create=False).add(
            f"Return-Path: <{envelope_from}>\nDelivered-To: {recipient}\n".encode() + raw)

    def _drop_connection(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.close()
            finally:
                self.smtp = None

    def close(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (smtplib.SMTPException, OSError):
                self.smtp.close()
            self.smtp = None
