"""Where a `next` parameter may send the reader back to: a path of this site, never another
site. The one check for every redirect that a request chose (language switch, sign-in,
account forms)."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

# Browsers drop tabs and line breaks anywhere in a URL, controls and spaces at its ends, and
# read a backslash as a slash: "/\t/evil.org" and "/\\evil.org" are "//evil.org" to them.
_DROPPED = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u206f\ufeff]")


def _as_a_browser_reads(target: str) -> str:
    return _DROPPED.sub("", target).strip().replace("\\", "/")


def _stays_here(path: str) -> bool:
    parts = urlsplit(path)
    return path.startswith("/") and not path.startswith("//") and not parts.scheme and not parts.netloc


def safe_next(target: str | None) -> str:
    """The target as a path of this site (one leading slash), else the home page."""
    if not target or len(target) > 2000:
        return "/"
    seen = _as_a_browser_reads(target)
    # Checked decoded too: a proxy or another redirect may decode it once more.
    if not (_stays_here(seen) and _stays_here(_as_a_browser_reads(unquote(seen)))):
        return "/"
    return seen
