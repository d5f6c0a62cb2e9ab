"""Holding a message for the moderators: kept whole, its sender told why (unless a machine
wrote it, and within the address's daily allowance of answers, without echoing its text),
and every moderator notified by mail with the commands that answer it.

The moderators' notice has a Message-ID naming the held message, so that a reply to it
(`#approve`, `#reject reason`) says which message it decides (see `held_id_in`).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable

from mailgateway.automated import is_automated
from mailgateway.notices import may_answer, queue_notice
from mailgateway.pipeline import Inbound
from storage.config import Config
from storage.db import Session
from storage.held import hold_message
from storage.models import HeldMessage, Topic
from storage.moderation import moderator_addresses

_NOTICE_ID_RE = re.compile(r"^relais-held-(\d{1,12})\.[0-9a-f]+@(.+)$")

# Why a message is held: the notices' templates say it in words.
NOT_A_MEMBER = "not a member"
TOPIC_CLOSED = "topic closed"


def held_notice_id(config: Config, held_id: int) -> str:
    return f"relais-held-{held_id}.{secrets.token_hex(4)}@{config.domain}"


def held_id_in(message_ids: Iterable[str], config: Config) -> int | None:
    """The held message whose notice one of these Message-IDs is (the first that is one)."""
    for message_id in message_ids:
        match = _NOTICE_ID_RE.match(message_id)
        if match and match.group(2).lower() == config.domain:
            return int(match.group(1))
    return None


def hold(session: Session, inbound: Inbound, reason: str, topic_id: int | None = None) -> HeldMessage | None:
    """Hold the message; tell its sender and the moderators once (an MTA retry is held once).
    Returns the held row, or None if it was held already."""
    parsed = inbound.parsed
    assert parsed is not None
    held, new = hold_message(session, raw=inbound.raw, message_id=parsed.message_id,
                             envelope_from=inbound.envelope_from, from_address=parsed.from_address,
                             subject=parsed.subject, reason=reason,
                             topic_hint=topic_id if topic_id is not None else inbound.topic_hint)
    if not new:
        return None
    automated = is_automated(parsed, inbound.envelope_from)
    sender = parsed.from_address or inbound.envelope_from
    # The sender proves nothing (From is anybody's to write): the notice says what happened
    # without a word of their text, and an address gets few of them a day.
    if not automated and sender and may_answer(session, inbound.config, sender, inbound.received_at):
        if reason == TOPIC_CLOSED:
            topic = session.get(Topic, topic_id) if topic_id is not None else None
            queue_notice(session, inbound.config, to=sender, name="topic-closed", purpose="held-notice",
                         topic_id=topic_id, topic_subject=topic.subject if topic else "",
                         topic_url=f"{inbound.config.forum.base_url}/topics/{topic_id}")
        else:
            queue_notice(session, inbound.config, to=sender, name="held", purpose="held-notice", sender=sender)
    notify_moderators(session, inbound.config, held, automated=automated)
    return held


def notify_moderators(session: Session, config: Config, held: HeldMessage, automated: bool = False) -> None:
    """Each moderator gets a notice of the held message, with the commands that answer it."""
    for address in moderator_addresses(session):
        queue_notice(session, config, to=address, name="held-moderator", purpose="held-moderator",
                     message_id=held_notice_id(config, held.id), held=held, automated=automated,
                     queue_url=f"{config.forum.base_url}/moderation/held")
