"""The bounce job: reads the mail the gateway kept for <local>-bounces@ (control_messages of
kind "bounces"), scores each permanent failure against the subscription it belongs to, and
disables a subscription past the threshold, telling the member how to re-enable it.

Only a bounce to the VERP envelope of a subscriber's copies (<local>-bounces+s<id>.<sig>@,
signed with the forum's secret) counts, and only against the subscription it names: anyone
can write a DSN naming a member's address, nobody can guess a signature. A bounce to the
plain address, or to a VERP address whose signature or subscription is wrong, is never acted
on; when it names a member's address it is kept, with why, for moderators to see
(/moderation/bounces). Failures are read from RFC 3464 delivery status notifications, and
by flufl.bounce's detectors for the other formats MTAs use. Delays and temporary failures do not count, nor do rejections
caused by the author's domain's DMARC policy: the member's address is fine, the receiving
system refused the author's domain (Mailman learnt to ignore these).
"""

from __future__ import annotations

import email
import email.policy
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import Message

from flufl.bounce import all_failures

from mailgateway.addresses import verp_subscription
from mailgateway.control_jobs import process_control_messages
from mailgateway.listheaders import reenable_url
from mailgateway.notices import queue_notice
from storage.config import Config, secret_key
from storage.control import keep_for_moderators
from storage.db import Engine, Session
from storage.models import Subscription, utcnow
from storage.subscriptions import delivery_address, member_by_address, record_bounce

logging.getLogger("flufl.bounce").setLevel(logging.WARNING)

# Receivers refusing the author's domain, not the member's address: DMARC policy, and the
# enhanced codes for failed sender authentication (RFC 7372 5.7.26; Microsoft's 5.7.509).
_DMARC_RE = re.compile(r"\bdmarc\b|\b5\.7\.(?:26|509)\b|unauthenticated (?:email|mail) .*polic",
                       re.IGNORECASE)


@dataclass
class BounceReport:
    permanent: set[str] = field(default_factory=set)  # failed addresses, lower-case
    temporary: set[str] = field(default_factory=set)
    dmarc: bool = False


def _delivery_status_blocks(msg: Message) -> list[Message]:
    blocks: list[Message] = []
    for part in msg.walk():
        if part.get_content_type() == "message/delivery-status":
            payload = part.get_payload()
            if isinstance(payload, list):
                blocks.extend(p for p in payload if isinstance(p, Message))
    return blocks


def _address_of(field_value: str) -> str:
    # "rfc822; alice@example.org" → alice@example.org
    value = field_value.partition(";")[2] if ";" in field_value else field_value
    return value.strip().strip("<>").lower()


def read_bounce(raw: bytes) -> BounceReport:
    """What a bounce says: which addresses failed for good or for now, and whether DMARC."""
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    report = BounceReport()
    diagnostics = []
    for block in _delivery_status_blocks(msg):
        recipient = _address_of(str(block.get("Final-Recipient") or block.get("Original-Recipient") or ""))
        action = str(block.get("Action", "")).strip().lower()
        status = str(block.get("Status", "")).strip()
        diagnostics.append(f"{status} {block.get('Diagnostic-Code', '')}")
        if not recipient or action not in ("failed", ""):
            continue  # delayed, delivered, relayed, expanded: no failure
        (report.permanent if status.startswith("5") else report.temporary).add(recipient)
    temporary, permanent = all_failures(msg)
    report.permanent |= {a.decode(errors="replace").lower() if isinstance(a, bytes) else str(a).lower()
                         for a in permanent}
    report.temporary |= {a.decode(errors="replace").lower() if isinstance(a, bytes) else str(a).lower()
                         for a in temporary}
    report.temporary -= report.permanent
    text = " ".join(diagnostics) + " " + _readable_text(msg)
    report.dmarc = bool(_DMARC_RE.search(text))
    return report


def _readable_text(msg: Message) -> str:
    """The human-readable explanation of a bounce (its first text/plain part)."""
    for part in msg.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True) or b""
            return payload.decode("utf-8", "replace")[:20000]
    return ""


def process_bounces(engine: Engine, config: Config, now: datetime | None = None, limit: int = 200) -> int:
    """Handle the bounce mail waiting; returns how many were handled."""
    now = now or utcnow()
    secret = secret_key(config)
    return process_control_messages(
        engine, "bounces", lambda db, control_id, recipient, _envelope_from, raw: handle_bounce(
            db, config, secret, control_id, recipient, raw, now), now, limit)


# Why a bounce is kept for moderators rather than counted (shown on /moderation/bounces).
PLAIN_ADDRESS = "sent to the plain bounces address"
BAD_SIGNATURE = "VERP address with a wrong signature"
UNKNOWN_SUBSCRIPTION = "VERP address of an unknown subscription"
MAX_NAMED = 50  # failed addresses looked up per kept bounce: a forged one may name thousands


def _signed_subscription(db: Session, secret: str, recipient: str) -> tuple[Subscription | None, str]:
    """The subscription a correctly signed VERP recipient names, or (None, why not)."""
    token = recipient.partition("@")[0].partition("+")[2]
    if not token:
        return None, PLAIN_ADDRESS
    subscription_id = verp_subscription(secret, token)
    if subscription_id is None:
        return None, BAD_SIGNATURE
    found = db.get(Subscription, subscription_id)
    return (found, "") if found is not None else (None, UNKNOWN_SUBSCRIPTION)


def handle_bounce(db: Session, config: Config, secret: str, control_id: int, recipient: str, raw: bytes,
                  now: datetime) -> None:
    report = read_bounce(raw)
    if not report.permanent or report.dmarc:
        # Nothing failed for good (a delay, an auto-reply sent to the envelope), or the
        # refusal was about the author's domain: the member's address is not at fault.
        return
    subscription, why_not = _signed_subscription(db, secret, recipient)
    if subscription is None:
        members = [address for address in sorted(report.permanent)[:MAX_NAMED]
                   if member_by_address(db, address) is not None]
        if members:  # backscatter naming nobody of ours is of no interest to anyone
            keep_for_moderators(db, control_id, why_not, members)
        return
    disabled = record_bounce(subscription, now, stale_after=timedelta(days=config.delivery.bounce_stale_days),
                             threshold=config.delivery.bounce_threshold)
    if disabled:
        address = delivery_address(db, subscription.person_id)
        if address:
            queue_notice(db, config, to=address, name="bounce-disabled", purpose="bounce-notice",
                         address=address, url=reenable_url(config, secret, subscription.id),
                         score=subscription.bounce_score)
