"""The aiosmtpd handler: checks recipients at RCPT time, then hands DATA to the ingest
writer (mailgateway.ingest) and answers with its reply: 250 only once the message is
committed, 451 4.3.0 if storage fails, so that the sending MTA keeps it and retries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiosmtpd.smtp import SMTP, Envelope, Session as SMTPSession

from mailgateway.addresses import classify
from storage.config import Config
from storage.identifiers import MAX_ADDRESS_LENGTH, stored_address

if TYPE_CHECKING:
    from mailgateway.ingest import IngestWriter


class GatewayHandler:
    def __init__(self, config: Config, secret: str, writer: IngestWriter) -> None:
        self.config = config
        self.secret = secret
        self.writer = writer

    async def handle_RCPT(self, server: SMTP, session: SMTPSession, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if len(address) > MAX_ADDRESS_LENGTH:
            return "550 5.1.1 No such address here: the address is too long"
        if classify(self.config, self.secret, address) is None:
            return f"550 5.1.1 <{address}>: no such address here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: SMTPSession, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        if len(raw) > self.config.smtp.max_message_size:
            return size_reply(self.config)
        recipients = [r for a in envelope.rcpt_tos if (r := classify(self.config, self.secret, a))]
        # A reverse path no SMTP server could answer is taken as the null sender: nobody is
        # answered at it, and no column is asked to hold it.
        return await self.writer.submit(raw, stored_address(envelope.mail_from or ""), recipients)


def size_reply(config: Config) -> str:
    return (f"552 5.3.4 Message too big: {config.forum.name} accepts messages "
            f"up to {config.smtp.max_message_size} bytes")
