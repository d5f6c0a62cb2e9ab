"""What makes a copy a list message: the List-* headers (RFC 2369, RFC 2919, RFC 8058) and
the links in mail that act on one subscription without sign-in (signed tokens)."""

from __future__ import annotations

import email.header

from mailgateway.addresses import request_address
from storage.config import Config
from storage.tokens import make_token, read_token

UNSUBSCRIBE, REENABLE, CONFIRM = "unsubscribe", "reenable", "confirm"


def encode_header_text(text: str) -> str:
    """Header text as it may be written: ASCII as it is, anything else as RFC 2047 words."""
    if text.isascii():
        return text
    return email.header.Header(text, "utf-8").encode()


def _phrase(text: str) -> str:
    if not text.isascii():
        return encode_header_text(text)
    if any(c in text for c in '()<>[]:;@\\,."'):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def list_id(config: Config) -> str:
    """RFC 2919: the forum's name and `<local>.<domain>`, the key mail filters match on."""
    return f"{_phrase(config.forum.name)} <{config.local_part}.{config.domain}>"


def topic_url(config: Config, topic_id: int) -> str:
    return f"{config.forum.base_url.rstrip('/')}/topics/{topic_id}"


def account_url(config: Config) -> str:
    return f"{config.forum.base_url.rstrip('/')}/account"


def privacy_url(config: Config) -> str:
    return f"{config.forum.base_url.rstrip('/')}/privacy"


def unsubscribe_url(config: Config, secret: str, subscription_id: int) -> str:
    token = make_token(secret, UNSUBSCRIBE, subscription_id)
    return f"{config.forum.base_url.rstrip('/')}/unsubscribe/{token}"


def reenable_url(config: Config, secret: str, subscription_id: int) -> str:
    token = make_token(secret, REENABLE, subscription_id)
    return f"{config.forum.base_url.rstrip('/')}/subscription/reenable/{token}"


def subscription_of_token(secret: str, purpose: str, token: str) -> int | None:
    """The subscription id an unsubscribe or re-enable link names, or None if forged."""
    payload = read_token(secret, purpose, token)
    return payload if isinstance(payload, int) and not isinstance(payload, bool) else None


def list_unsubscribe(config: Config, url: str) -> str:
    """RFC 2369 List-Unsubscribe: the personal one-click URL first, then the mail command."""
    return f"<{url}>, <mailto:{request_address(config)}?subject=unsubscribe>"


def list_headers(config: Config, topic_id: int | None) -> list[tuple[str, str]]:
    """The list headers every copy carries, except the personal List-Unsubscribe."""
    headers = [
        ("List-Id", list_id(config)),
        ("List-Post", f"<mailto:{config.forum.address}>"),
        ("List-Help", f"<mailto:{request_address(config)}?subject=help>"),
        ("List-Subscribe", f"<mailto:{request_address(config)}?subject=subscribe>"),
        ("List-Archive", f"<{topic_url(config, topic_id) if topic_id else config.forum.base_url}>"),
        # RFC 8058: a POST of this body to the List-Unsubscribe URL unsubscribes at once.
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ("Precedence", "list"),
        # Seen again on incoming mail, it marks a loop (mailgateway.automated).
        ("X-Loop", config.forum.address),
    ]
    return headers
