"""What a moderator's command mail acts on — a topic, a held message, the message it answers —
taken only from what the mail's proof covers, so that headers added on top of a genuine
signed mail (an In-Reply-To naming another topic, or a held spam's notice) redirect nothing.

In this order: the In-Reply-To and References instances the signature covers (a stored
message gives its topic, a held-message notice its held message); the per-topic address in a
covered To or Cc; the per-topic address the gateway received the mail for, only when no To
or Cc is covered (Relais signed that address; a `To` the author signed says where they
wrote); the topic the mail's own text opened, for a post that opened one. A `#topic N` line
in the body (covered with the commands themselves) names a topic for the lines after it
(mailgateway.commands_moderation). A mail its moderator confirmed is read whole: the
confirmation request showed what it acts on.
"""

from __future__ import annotations

import email.utils
from collections.abc import Sequence
from dataclasses import dataclass

from mailgateway.addresses import Kind, classify
from mailgateway.authentication import Header
from mailgateway.holding import held_id_in
from mailgateway.parse import MSGID_RE, MAX_REFERENCES, parse_message
from storage.config import Config
from storage.db import Session
from storage.messages import find_message
from storage.models import CommandMail
from storage.moderation import topic_opened_by


@dataclass(frozen=True)
class Targets:
    topic_id: int | None
    held_id: int | None
    answered_id: int | None  # the stored message it replies to


def whole_mail_headers(raw: bytes) -> list[Header]:
    """Every header of a mail, topmost first: what a confirmed mail is read from."""
    parsed = parse_message(raw, "invalid")
    return [(name.lower(), str(value)) for name, value in parsed.headers.raw_items()]


def _message_ids(headers: Sequence[Header], name: str) -> list[str]:
    return [found for n, value in headers if n == name for found in MSGID_RE.findall(value)][:MAX_REFERENCES]


def _topic_of_addresses(config: Config, secret: str, headers: Sequence[Header]) -> int | None:
    values = [value for name, value in headers if name in ("to", "cc")]
    for _name, address in email.utils.getaddresses(values):
        recipient = classify(config, secret, address)
        if recipient is not None and recipient.kind is Kind.POST and recipient.topic_id is not None:
            return recipient.topic_id
    return None


def find_targets(session: Session, config: Config, secret: str, row: CommandMail,
                 covered: Sequence[Header]) -> Targets:
    """What the commands of `row` act on, from the header instances `covered` by its proof."""
    replies_to = _message_ids(covered, "in-reply-to")
    named = [*replies_to, *reversed(_message_ids(covered, "references"))]
    held_id = held_id_in(named, config)
    answered = find_message(session, replies_to[0]) if replies_to else None
    topic_id = next((m.topic_id for mid in named if (m := find_message(session, mid)) is not None), None)
    if topic_id is None:
        topic_id = _topic_of_addresses(config, secret, covered)
    if topic_id is None and not any(name in ("to", "cc") for name, _ in covered):
        topic_id = row.sent_to_topic
    if topic_id is None and row.posted:
        topic_id = topic_opened_by(session, row.message_id)
    return Targets(topic_id, held_id, answered.id if answered is not None else None)
