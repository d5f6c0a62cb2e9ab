"""MIME bodies a relay accepts, whatever came in: no line over 998 octets, no NUL, no bare
CR or LF, a valid transfer encoding for what each part holds, a bounded nesting.

Parts are left as they came when they already travel well; a part that does not is
re-encoded (quoted-printable for text, base64 otherwise) from its decoded content, so that
readers get the same bytes. `transport_problem` is the last check of every copy.
"""

from __future__ import annotations

import base64
import email.quoprimime
import re
from email.message import Message

from mailgateway.copy_headers import MAX_LINE, clean_headers

MAX_DEPTH = 40  # nested parts and messages; deeper mail is not redistributed (held)
_PLAIN_CTE = ("", "7bit", "8bit", "binary")
_LINE_RE = re.compile(rb"\r\n|\r|\n")


class CopyError(Exception):
    """A post whose copies cannot be made valid mail: why, in words for a moderator."""


def _lines_travel(data: bytes) -> bool:
    """No NUL, and no line (whatever ends it) longer than a relay takes."""
    return b"\x00" not in data and all(len(line) <= MAX_LINE for line in _LINE_RE.split(data))


def _set_encoded(part: Message, cte: str, data: bytes) -> None:
    if cte == "base64":
        encoded = base64.encodebytes(data).decode("ascii")
    else:  # quoprimime works on one character per byte
        encoded = email.quoprimime.body_encode(data.decode("latin-1"), eol="\n")
    del part["Content-Transfer-Encoding"]
    part["Content-Transfer-Encoding"] = cte
    part.set_payload(encoded)


def _decodes_cleanly(part: Message) -> bool:
    before = len(part.defects)
    part.get_payload(decode=True)
    return len(part.defects) == before


def make_transportable(part: Message) -> None:
    """Re-encode a leaf part that would not travel as it is (its decoded bytes kept)."""
    cte = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    if cte in _PLAIN_CTE:
        raw = part.get_payload(decode=True) or b""  # the bytes as they came
        if _lines_travel(raw) and b"\r" not in raw.replace(b"\r\n", b""):
            return  # left byte for byte (a signed part stays verifiable)
        text = part.get_content_maintype() == "text"
        _set_encoded(part, "quoted-printable" if text else "base64", raw)
        return
    encoded = str(part.get_payload())
    travels = encoded.isascii() and _lines_travel(encoded.encode("ascii"))
    if cte == "base64":
        if not (travels and _decodes_cleanly(part)):
            _set_encoded(part, "base64", part.get_payload(decode=True) or b"")
    elif cte == "quoted-printable":
        if not travels:
            _set_encoded(part, "quoted-printable", part.get_payload(decode=True) or b"")
    elif not travels:
        # Another encoding (x-uuencode, or one nobody knows): what it decodes to, in base64.
        _set_encoded(part, "base64", part.get_payload(decode=True) or b"")


def repair(part: Message, depth: int = 0) -> None:
    """Make `part` and everything inside it fit to be sent; raises CopyError if it is
    nested deeper than MAX_DEPTH."""
    if depth > MAX_DEPTH:
        raise CopyError(f"its MIME parts are nested more than {MAX_DEPTH} levels deep")
    clean_headers(part, single=depth == 0)
    payload = part.get_payload()
    if part.is_multipart() and isinstance(payload, list):
        if part.get_content_maintype() == "multipart":
            # RFC 2045 6.4: a multipart is never encoded.
            if str(part.get("Content-Transfer-Encoding", "")).strip().lower() not in _PLAIN_CTE:
                del part["Content-Transfer-Encoding"]
            for side in ("preamble", "epilogue"):
                text = getattr(part, side)
                if text and not _lines_travel(text.encode("utf-8", "surrogateescape")):
                    setattr(part, side, None)
        for sub in payload:
            repair(sub, depth + 1)
        return
    if part.get_content_maintype() == "multipart" or part.get_content_type() == "message/rfc822":
        # Declared as a container, but nothing inside could be read: sent as plain data.
        del part["Content-Type"]
        part["Content-Type"] = "application/octet-stream"
    make_transportable(part)


def transport_problem(raw: bytes) -> str | None:
    """Why a finished copy would be refused by a strict relay, or None if it would not."""
    if not raw.endswith(b"\r\n"):
        return "it does not end with CRLF"
    lines = raw[:-2].split(b"\r\n")
    for number, line in enumerate(lines, 1):
        if len(line) > MAX_LINE:
            return f"line {number} is longer than {MAX_LINE} octets"
        if b"\r" in line or b"\n" in line:
            return f"line {number} holds a bare CR or LF"
        if b"\x00" in line:
            return f"line {number} holds a NUL"
    head = raw.split(b"\r\n\r\n", 1)[0]
    if not head.isascii():
        return "its header section is not ASCII"
    return None
