"""The forum's personal links (the one-click unsubscribe and re-enable links each copy
carries) recognised in any text, and their signed tokens masked.

Shared by the gateway (which strips Relais's quoted footer from incoming mail,
mailgateway.footer_strip) and by whatever shows stored text — pages, feeds, search
snippets — for mail stored before the gateway did so. A link is recognised by the forum's
`base_url`, its path and the shape of its token, in any scheme and also percent-encoded
inside a link scanner's URL (Outlook's Safe Links).
"""

from __future__ import annotations

import re
from functools import lru_cache

MASK = "…"
_SLASH = r"(?:/|%2[fF])"
_TOKEN = r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{10,}"  # itsdangerous: payload.time.signature


@lru_cache(maxsize=8)
def personal_link_re(base_url: str) -> re.Pattern[str]:
    """<base_url>/unsubscribe/<token> and <base_url>/subscription/reenable/<token>, any
    scheme, also percent-encoded inside a link scanner's URL; group 2 is the token. An empty
    `base_url` matches those paths on any host (for callers without the configuration)."""
    where = base_url.split("://", 1)[-1].rstrip("/")
    prefix = _SLASH.join(re.escape(piece) for piece in where.split("/"))
    return re.compile(rf"({prefix}{_SLASH}(?:unsubscribe|subscription{_SLASH}reenable){_SLASH})({_TOKEN})", re.I)


def mask_personal_links(text: str, base_url: str) -> str:
    """The text with every personal token replaced by "…" (the rest of the URL is kept)."""
    return personal_link_re(base_url).sub(lambda m: m.group(1) + MASK, text)
