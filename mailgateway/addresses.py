"""The forum's own addresses: which recipient is which, and the signed per-topic address.

Only these are accepted at RCPT time; everything else is refused, so that the gateway is
never an open relay.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from enum import StrEnum

from storage.config import Config


class Kind(StrEnum):
    POST = "post"        # forum@ and forum+t<id>.<sig>@
    REQUEST = "request"  # forum-request@: member commands; forum-request+confirm.<id>.<sig>@
    BOUNCES = "bounces"  # forum-bounces@ and forum-bounces+<token>@ (VERP)


@dataclass(frozen=True)
class Recipient:
    address: str
    kind: Kind
    topic_id: int | None = None
    token: str | None = None


_TOPIC_TOKEN_RE = re.compile(r"^t(\d{1,12})\.([a-z2-7]{10})$")


def _signature(secret: str, payload: str) -> str:
    digest = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode("ascii")[:10].lower()


def topic_address(config: Config, secret: str, topic_id: int) -> str:
    """The reply address of one topic; signed so that nobody can post into a topic by guessing."""
    token = f"t{topic_id}.{_signature(secret, f'topic:{topic_id}')}"
    return f"{config.local_part}+{token}@{config.domain}"


def request_address(config: Config) -> str:
    return f"{config.local_part}-request@{config.domain}"


def bounces_address(config: Config) -> str:
    return f"{config.local_part}-bounces@{config.domain}"


_VERP_TOKEN_RE = re.compile(r"^s(\d{1,12})\.([a-z2-7]{10})$")


def verp_address(config: Config, secret: str, subscription_id: int) -> str:
    """The envelope sender of one subscriber's copies: a bounce to it names the subscription
    (VERP); signed, so that a forged bounce cannot disable someone else's subscription."""
    token = f"s{subscription_id}.{_signature(secret, f'verp:{subscription_id}')}"
    return f"{config.local_part}-bounces+{token}@{config.domain}"


def verp_subscription(secret: str, token: str | None) -> int | None:
    """The subscription id a VERP token names, or None if it is not a valid one."""
    match = _VERP_TOKEN_RE.match((token or "").lower())
    if match and hmac.compare_digest(match.group(2), _signature(secret, f"verp:{match.group(1)}")):
        return int(match.group(1))
    return None


_CONFIRM_TOKEN_RE = re.compile(r"^confirm\.(\d{1,12})\.([a-z2-7]{10})$")


def confirm_address(config: Config, secret: str, command_id: int) -> str:
    """Where a moderator replies to confirm an unauthenticated command mail (signed, single-use
    by the row it names: see mailgateway.commands_moderation)."""
    token = f"confirm.{command_id}.{_signature(secret, f'confirm:{command_id}')}"
    return f"{config.local_part}-request+{token}@{config.domain}"


def confirmed_command(secret: str, token: str | None) -> int | None:
    """The command mail a confirmation address's token names, or None if it is not a valid one."""
    match = _CONFIRM_TOKEN_RE.match((token or "").lower())
    if match and hmac.compare_digest(match.group(2), _signature(secret, f"confirm:{match.group(1)}")):
        return int(match.group(1))
    return None


def classify(config: Config, secret: str, address: str) -> Recipient | None:
    """What a recipient address means to the forum, or None if it is not ours."""
    address = address.strip().strip("<>").lower()
    local, at, domain = address.rpartition("@")
    if not at or domain != config.domain:
        return None
    base, plus, extension = local.partition("+")
    me = config.local_part
    if base == me:
        if not plus:
            return Recipient(address, Kind.POST)
        match = _TOPIC_TOKEN_RE.match(extension)
        if match and hmac.compare_digest(match.group(2), _signature(secret, f"topic:{match.group(1)}")):
            return Recipient(address, Kind.POST, topic_id=int(match.group(1)))
        return None
    if base == f"{me}-request" and not plus:
        return Recipient(address, Kind.REQUEST)
    if base == f"{me}-request" and confirmed_command(secret, extension) is not None:
        return Recipient(address, Kind.REQUEST, token=extension)
    if base == f"{me}-bounces":
        return Recipient(address, Kind.BOUNCES, token=extension or None)
    return None
