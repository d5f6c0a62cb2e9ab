"""The aiosmtpd handler: checks recipients at RCPT time, then hands DATA to the ingest
writer (mailgateway.ingest) and answers with its reply: 250 only once the message is
committed, 451 4.3.0 if storage fails, so that the sending MTA keeps it and retries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiosmtpd.smtp import SMTP, Envelope, Session as SMTPSession

from mailgateway.addresses import classify
from storage.config import Config

if TYPE_CHECKING:
    from mailgateway.ingest import IngestWriter


class GatewayHandler:
    def __init__(self, config: Config, secret: str, writer: IngestWriter) -> None:
        self.config = config
        self.secret = secret
        self.writer = writer

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
        return await self.writer.submit(raw, envelope.mail_from or "", recipients)


def size_reply(config: Config) -> str:
    return (f"552 5.3.4 Message too big: {config.forum.name} accepts messages "
            f"up to {config.smtp.max_message_size} bytes")
