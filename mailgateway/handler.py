"""The aiosmtpd handler: checks recipients, then hands DATA to the pipeline off the event loop.

It answers 250 only once the transaction holding the message has committed; if storage
fails the answer is 451 4.3.0, so the sending MTA keeps the message and retries.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from aiosmtpd.smtp import SMTP, Envelope, Session as SMTPSession
from storage.db import Engine
from storage.db import Session

from mailgateway import steps
from mailgateway.addresses import Kind, Recipient, classify
from mailgateway.pipeline import Inbound, Rejected, run
from storage.config import Config
from storage.db import session_scope
from storage.models import ControlMessage, utcnow

log = logging.getLogger(__name__)


class GatewayHandler:
    def __init__(self, config: Config, engine: Engine, secret: str) -> None:
        self.config = config
        self.engine = engine
        self.secret = secret

    async def handle_RCPT(self, server: SMTP, session: SMTPSession, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if classify(self.config, self.secret, address) is None:
            return f"550 5.1.1 <{address}>: no such address here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: SMTPSession, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        if len(raw) > self.config.smtp.max_message_size:
            return size_reply(self.config)
        recipients = [r for a in envelope.rcpt_tos if (r := classify(self.config, self.secret, a))]
        # The pipeline blocks (parsing, database): run it off the loop so that one slow
        # commit does not stall every other SMTP session.
        return await asyncio.to_thread(self.receive, raw, envelope.mail_from or "", recipients)

    def receive(self, raw: bytes, envelope_from: str, recipients: list[Recipient]) -> str:
        try:
            with session_scope(self.engine) as db:
                return receive(db, self.config, self.secret, raw, envelope_from, recipients, utcnow())
        except Rejected as refused:
            return refused.reply
        except Exception:
            log.exception("storing a message failed; the sender will retry")
            return "451 4.3.0 Temporary storage failure, please try again later"


def receive(db: Session, config: Config, secret: str, raw: bytes, envelope_from: str,
            recipients: list[Recipient], received_at: datetime) -> str:
    """Everything one accepted DATA does, in the caller's transaction; returns the SMTP reply."""
    reply = "250 2.0.0 OK"
    for r in recipients:
        if r.kind in (Kind.REQUEST, Kind.BOUNCES):
            # Kept whole and processed after the commit (commands, bounce scores).
            db.add(ControlMessage(kind=r.kind.value, recipient=r.address, envelope_from=envelope_from,
                                  raw=raw, received_at=received_at))
    posts = [r for r in recipients if r.kind is Kind.POST]
    if posts:
        topic_hint = next((r.topic_id for r in posts if r.topic_id is not None), None)
        inbound = Inbound(raw=raw, config=config, secret=secret, envelope_from=envelope_from,
                          topic_hint=topic_hint, received_at=received_at)
        reply = run(db, inbound, steps.POST).reply
    return reply


def size_reply(config: Config) -> str:
    return (f"552 5.3.4 Message too big: {config.forum.name} accepts messages "
            f"up to {config.smtp.max_message_size} bytes")
