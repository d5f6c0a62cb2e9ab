"""Recognising mail written by machines, which Relais must never answer nor redistribute
(no backscatter, no loops), and its own list mail coming back."""

from __future__ import annotations

from mailgateway.parse import ParsedMessage
from storage.config import Config


def is_automated(parsed: ParsedMessage, envelope_from: str) -> bool:
    """Null sender, RFC 3834 Auto-Submitted, vacation/autoreply markers, bulk precedence."""
    if not envelope_from.strip("<> "):
        return True
    auto = parsed.header("Auto-Submitted").lower()
    if auto and auto != "no":
        return True
    if parsed.header("X-Autoreply") or parsed.header("X-Autorespond"):
        return True
    return parsed.header("Precedence").lower() in ("bulk", "junk", "list", "auto_reply")


def is_own_list_mail(parsed: ParsedMessage, config: Config) -> bool:
    """A copy this forum sent, coming back (a forwarder, another list, a misconfigured MTA):
    it carries our List-Id or X-Loop."""
    list_key = f"<{config.local_part}.{config.domain}>"
    if list_key in parsed.header("List-Id").lower():
        return True
    return any(config.forum.address.lower() == value.strip().lower()
               for key, value in parsed.headers.raw_items() if key.lower() == "x-loop")
