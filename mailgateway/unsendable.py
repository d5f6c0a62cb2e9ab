"""A post whose copies cannot be made valid mail: its pending copies are recorded as failed
at once (not one by one), and the post is held for the moderators with the reason, its
author told. It stays in the archive: it was accepted and stored."""

from __future__ import annotations

import re
from datetime import datetime

from mailgateway.copy_headers import header_text
from mailgateway.holding import held_notice_id
from mailgateway.listheaders import topic_url
from mailgateway.notices import queue_notice
from storage.config import Config
from storage.db import Session
from storage.fanout import PostFacts, fail_copies_of
from storage.held import hold_message
from storage.moderation import moderator_addresses

REASON_PREFIX = "not sent out"
_PLAIN_ID_RE = re.compile(r"[!-;=?-~]{1,900}")


def set_aside(session: Session, config: Config, message_pk: int, post: PostFacts | None,
              reason: str, now: datetime) -> None:
    fail_copies_of(session, message_pk, f"{REASON_PREFIX}: {reason}", now)
    if post is None:
        return
    held, new = hold_message(session, raw=post.raw, message_id=post.message_id, envelope_from="",
                             from_address=post.from_address, subject=post.subject,
                             reason=f"{REASON_PREFIX}: {reason}", topic_hint=post.topic_id)
    if not new:
        return
    subject, url = header_text(post.subject), topic_url(config, post.topic_id)
    if post.from_address:
        replying = post.message_id if _PLAIN_ID_RE.fullmatch(post.message_id) else None
        queue_notice(session, config, to=post.from_address, name="unsendable", purpose="held-notice",
                     in_reply_to=replying, subject=subject, reason=reason, topic_url=url)
    for address in moderator_addresses(session):
        queue_notice(session, config, to=address, name="unsendable-moderator", purpose="held-moderator",
                     message_id=held_notice_id(config, held.id), held_id=held.id, subject=subject,
                     author=header_text(f"{post.from_name} <{post.from_address}>"), reason=reason,
                     topic_url=url, queue_url=f"{config.forum.base_url}/moderation/held")
