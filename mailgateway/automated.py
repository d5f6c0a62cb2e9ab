"""Recognising mail written by machines, which Relais must never answer (no backscatter, no loops)."""

from __future__ import annotations

from mailgateway.parse import ParsedMessage


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
