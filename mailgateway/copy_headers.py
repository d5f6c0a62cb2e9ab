"""Header sections a relay accepts, whatever came in: every header of a copy is ASCII,
folded with CRLF into lines of at most 998 octets (78 for what Relais writes), with no
control character left from a decoded display name or subject.

A header that is already clean keeps its bytes (only its line ends become CRLF); any other
is unfolded, decoded (8-bit bytes as UTF-8, else Windows-1252) and folded again by the
`email` package's SMTP policy, which writes RFC 2047 words where it must. Message-ID lists
keep only the ids that fit on a line; a header that still cannot be written is dropped.
"""

from __future__ import annotations

import email.policy
import re
from email.message import Message

MAX_LINE = 998
POLICY = email.policy.SMTP.clone(max_line_length=78)
_NAME_RE = re.compile(r"[!-9;-~]+")  # RFC 5322 ftext: printable ASCII but the colon
_BREAK_RE = re.compile(r"\r\n|\r|\n")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_MSG_ID_RE = re.compile(r"<[!-;=?-~]{1,900}>")  # one id, no space, short enough for a line
_ID_LISTS = frozenset({"message-id", "in-reply-to", "references", "resent-message-id", "content-id"})
_ADDRESS_LISTS = frozenset({"from", "sender", "reply-to", "to", "cc", "bcc", "resent-from", "resent-sender",
                            "resent-to", "resent-cc"})
# What readers and relays parse at the top of a message: written only without a defect.
_PARSED = _ADDRESS_LISTS | {"date", "message-id"}
# RFC 5322 3.6: at most one of each (the first is kept); MIME headers likewise per part.
SINGLE = frozenset({"date", "from", "sender", "reply-to", "to", "cc", "bcc", "message-id", "in-reply-to",
                    "references", "subject", "mime-version", "content-type", "content-transfer-encoding",
                    "content-disposition"})


def header_text(text: str) -> str:
    """Text fit for one header: control characters (CR and LF from a decoded encoded word,
    NUL…) become spaces."""
    return " ".join(_CONTROL_RE.sub(" ", text).split())


def unfolded(value: str) -> str:
    """A raw header value as text: unfolded, 8-bit bytes decoded, controls removed."""
    raw = value.encode("utf-8", "surrogateescape")  # 8-bit bytes as they came, text as UTF-8
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")
    return header_text(_BREAK_RE.sub("", text))


def _is_clean(name: str, lines: list[str]) -> bool:
    if not all(line.isascii() and not _CONTROL_RE.search(line.replace("\t", " ")) for line in lines):
        return False
    if len(name) + 2 + len(lines[0]) > MAX_LINE or any(len(line) > MAX_LINE for line in lines[1:]):
        return False
    # Continuation lines start with a space and carry something (no empty folds).
    return all(line[:1] in (" ", "\t") and line.strip() for line in lines[1:])


def _id_list(text: str) -> str | None:
    ids = _MSG_ID_RE.findall(text)
    return "\r\n ".join(ids) if ids else None


def fold(name: str, text: str) -> str | None:
    """The value of header `name` holding `text`, folded by the SMTP policy into ASCII
    lines of at most 78 octets where it can (998 at most); None if it cannot be written."""
    text = header_text(text)
    if name.lower() in _ID_LISTS:
        return _id_list(text)
    try:
        folded = POLICY.fold(name, POLICY.header_factory(name, text))
    except Exception:  # a value the header's parser cannot take: not written at all
        return None
    value = folded[len(name) + 1:].rstrip("\r\n").lstrip(" ")
    lines = value.split("\r\n")
    if not value.isascii() or not _is_clean(name, lines):
        return None
    return value


def clean_value(name: str, value: object) -> str | None:
    """A header as it came, fit to be sent: kept when clean, folded again otherwise."""
    value = str(value)
    lines = _BREAK_RE.split(value.strip("\r\n"))
    if name.lower() in _ID_LISTS:
        return _id_list(unfolded(value))
    if lines and _is_clean(name, lines):
        return "\r\n".join(lines).strip() if len(lines) == 1 else "\r\n".join(lines).lstrip()
    return fold(name, unfolded(value))


def _without_defect(name: str, value: str) -> str | None:
    """The header as it is if it parses without a defect; an address list keeps the
    addresses that are whole; anything else that does not parse is dropped."""
    try:
        header = POLICY.header_factory(name, unfolded(value))
    except Exception:
        return None
    if not header.defects:
        return value
    if name.lower() not in _ADDRESS_LISTS:
        return None
    whole = [str(a) for a in getattr(header, "addresses", ()) if a.username and a.domain]
    value = fold(name, ", ".join(whole)) if whole else None
    return value if value and not POLICY.header_factory(name, unfolded(value)).defects else None


def clean_headers(part: Message, *, single: bool) -> None:
    """Make every header of `part` fit to be sent; drop those that cannot be, and the
    repeats of those that may appear once (`single`: at the top of a message)."""
    kept: list[tuple[str, str]] = []
    seen: set[str] = set()
    for name, value in part.raw_items():
        key = name.lower()
        if not _NAME_RE.fullmatch(name) or (key in SINGLE and key in seen and (single or key.startswith("content-"))):
            continue
        seen.add(key)
        cleaned = clean_value(name, value)
        if cleaned and single and key in _PARSED:
            cleaned = _without_defect(name, cleaned)
        if cleaned:
            kept.append((name, cleaned))
    for name in {n.lower() for n in part.keys()}:
        del part[name]
    for name, value in kept:
        part[name] = value


def set_header(msg: Message, name: str, text: str) -> None:
    """Write (or replace) a header Relais composes from `text`, folded to 78 octets."""
    value = fold(name, text)
    del msg[name]
    if value:
        msg[name] = value
