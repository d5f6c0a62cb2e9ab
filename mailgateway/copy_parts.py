"""MIME bodies a relay accepts, whatever came in: no line over 998 octets, no NUL, no bare
CR or LF, a valid transfer encoding for what each part holds, a bounded nesting.

Parts are left as they came when they already travel well; a part that does not is
re-encoded (quoted-printable for text, base64 otherwise) from its decoded content, so that
readers get the same bytes. `transport_problem` is the last check of every copy.
"""

from __future__ import annotations

import base64
import email.policy
import email.quoprimime
import io
import re
import secrets
from email.generator import BytesGenerator
from email.message import Message
from email.parser import BytesParser

from mailgateway.copy_headers import MAX_LINE, POLICY, clean_headers, unfolded

MAX_DEPTH = 40  # nested parts and messages; deeper mail is not redistributed (held)
_PLAIN_CTE = ("", "7bit", "8bit", "binary")
_LINE_RE = re.compile(rb"\r\n|\r|\n")
_BOUNDARY_RE = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")  # RFC 2046 5.1.1
_STRICT = email.policy.compat32.clone(raise_on_defect=True)


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


def _fix_boundary(part: Message) -> None:
    """A boundary every reader finds: a new one if it breaks RFC 2046 (too long, odd
    characters), quoted if a strict parser would read it otherwise."""
    boundary = part.get_boundary()
    if boundary is None:
        return
    if not _BOUNDARY_RE.fullmatch(boundary):
        part.set_boundary(f"relais-{secrets.token_hex(16)}")
        return
    try:
        strict = POLICY.header_factory("Content-Type", unfolded(str(part["Content-Type"]))).params.get("boundary")
    except Exception:
        strict = None
    if strict != boundary:
        part.set_boundary(boundary)  # written again, quoted


def _written(part: Message) -> bytes:
    out = io.BytesIO()
    BytesGenerator(out, mangle_from_=False, maxheaderlen=0).flatten(part, linesep="\r\n")
    return out.getvalue()


def _reads_back(part: Message) -> bool:
    """Whether a reader parses the part as written without a defect (boundaries found,
    every header block closed)."""
    try:
        BytesParser(policy=_STRICT).parsebytes(_written(part))
    except Exception:
        return False
    return True


def _as_leaf(part: Message) -> None:
    """A container whose structure cannot be read (no boundary, broken blocks): its body
    is sent as one part — text when it reads as UTF-8 — so that nothing is lost."""
    if isinstance(part.get_payload(), list):
        written = _written(part)
        body = written[2:] if written.startswith(b"\r\n") else written.split(b"\r\n\r\n", 1)[-1]
    else:
        body = part.get_payload(decode=True) or b""
    del part["Content-Type"]
    del part["Content-Transfer-Encoding"]
    try:
        body.decode("utf-8")
        part["Content-Type"] = 'text/plain; charset="utf-8"'
    except UnicodeDecodeError:
        part["Content-Type"] = "application/octet-stream"
    part.preamble = part.epilogue = None
    part.set_payload(body.decode("ascii", "surrogateescape"))
    make_transportable(part)


def repair(part: Message, depth: int = 0) -> None:
    """Make `part` and everything inside it fit to be sent; raises CopyError if it is
    nested deeper than MAX_DEPTH or cannot be written again."""
    if depth > MAX_DEPTH:
        raise CopyError(f"its MIME parts are nested more than {MAX_DEPTH} levels deep")
    payload = part.get_payload()
    try:
        if part.is_multipart() and isinstance(payload, list) and part.get_content_maintype() == "multipart":
            _fix_boundary(part)
        clean_headers(part, single=depth == 0)
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
            # Only what the parser found fault with is written and read again.
            if (part.defects or any(sub.defects for sub in payload)) and not _reads_back(part):
                _as_leaf(part)
            return
        if part.get_content_maintype() in ("multipart", "message"):
            _as_leaf(part)  # declared as a container, but nothing inside could be read
            return
        make_transportable(part)
    except CopyError:
        raise
    except Exception as error:  # the email package could not write it back
        raise CopyError(f"a part cannot be written again ({type(error).__name__})") from error


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
