"""Reading a message's header section into the facts the SMTP path needs: identity,
threading headers, author, subject, date.

Only the header section is parsed here (compat32, no header objects): this runs for every
message before the 250, so it must be cheap. The body (text, attachments) is read after
the commit, by mailgateway.body. Parsing never raises on bad mail: broken charsets and
headers fall back to something readable, and the raw bytes stay the record.
"""

from __future__ import annotations

import base64
import binascii
import email.header
import email.parser
import email.policy
import email.utils
import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import Message

from storage.identifiers import stored_address, stored_message_id

MSGID_RE = re.compile(r"<([^<>\s]+)>")
_SURROGATE_RE = re.compile("[\udc80-\udcff]")
# RFC 5322 unfolding: a line break followed by white space is the white space alone.
_FOLD_RE = re.compile(r"\r?\n(?=[ \t])")
MAX_REFERENCES = 100
_HEADER_PARSER = email.parser.BytesHeaderParser(policy=email.policy.compat32)


@dataclass(frozen=True)
class ParsedMessage:
    raw: bytes
    message_id: str
    has_message_id: bool
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    subject: str
    from_name: str
    from_address: str
    date: datetime | None
    thread_index: str | None
    thread_index_key: str | None
    headers: Message = field(repr=False, compare=False)

    def header(self, name: str) -> str:
        return header_text(self.headers, name)


def clean_text(text: str) -> str:
    """Text any database accepts: no NUL, no lone surrogate (left by undecodable 8-bit bytes)."""
    return text.encode("utf-8", "replace").decode("utf-8").replace("\x00", "")


def _decode_bytes(data: bytes, charset: str | None) -> str:
    for cs in (charset, "utf-8", "cp1252"):
        if not cs:
            continue
        try:
            return data.decode(cs)
        except (LookupError, ValueError):  # unknown charset, bad bytes, a NUL in its name
            continue
    return data.decode("latin-1")


def decode_header_value(value: str) -> str:
    """RFC 2047 encoded words decoded; raw 8-bit (SMTPUTF8) text read as UTF-8, else cp1252."""
    if not value.isascii() and _SURROGATE_RE.search(value):
        value = _decode_bytes(value.encode("ascii", "surrogateescape"), "utf-8")
    if "=?" not in value:
        return value
    # decode_header reads a folded value line by line and loses the white space that
    # begins a continuation line: "=?utf-8?q?s=C3=A9curit=C3=A9?=\r\n sociale".
    value = _FOLD_RE.sub("", value)
    try:
        parts = email.header.decode_header(value)
    except Exception:  # a malformed encoded word: keep the text as it is
        return value
    return "".join(_decode_bytes(chunk, charset) if isinstance(chunk, bytes) else chunk
                   for chunk, charset in parts)


def header_text(msg: Message, name: str) -> str:
    """A header's decoded text on one line, or "" — never an exception."""
    name = name.lower()
    # raw_items: compat32's get() turns 8-bit bytes into replacement characters.
    value = next((v for k, v in msg.raw_items() if k.lower() == name), None)
    if value is None:
        return ""
    return clean_text(" ".join(decode_header_value(str(value)).split()))


def message_ids(value: str) -> list[str]:
    """Message-IDs named in a header, in order, without angle brackets.

    Some clients write a bare id, or prose around it ("<id> (Name's message of ...)").
    """
    found = MSGID_RE.findall(value)
    if not found:
        token = value.strip()
        if token and " " not in token and "@" in token:
            found = [token.strip("<>")]
    return list(dict.fromkeys(found))


def synthetic_message_id(raw: bytes, domain: str) -> str:
    # Derived from the content, so a sender's retry of the same message is recognised.
    return f"relais.{hashlib.sha256(raw).hexdigest()[:32]}@{domain}"


def _parse_date(msg: Message) -> datetime | None:
    value = header_text(msg, "Date")
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    try:
        return parsed.astimezone(timezone.utc)
    except (OverflowError, ValueError):
        return None


def _parse_from(msg: Message) -> tuple[str, str]:
    raw = next((str(v) for k, v in msg.raw_items() if k.lower() == "from"), "") or \
        next((str(v) for k, v in msg.raw_items() if k.lower() == "sender"), "")
    # Split the address before decoding the display name: a decoded name may hold commas.
    name, addr = email.utils.parseaddr(" ".join(raw.split()))
    if not addr:
        match = re.search(r"[\w.+-]+@[\w.-]+", raw)
        addr = match.group(0) if match else ""
    return clean_text(decode_header_value(name).strip()), stored_address(clean_text(addr.strip().lower()))


def _thread_index(msg: Message) -> tuple[str | None, str | None]:
    value = header_text(msg, "Thread-Index")
    if not value:
        return None, None
    try:
        decoded = base64.b64decode(value, validate=False)
    except (binascii.Error, ValueError):
        return None, None
    if len(decoded) < 22:
        return None, None
    # The first 22 bytes (date + GUID) identify the conversation; each reply adds 5.
    # Normalised, so that a reply's index minus 5 bytes compares equal to its parent's.
    return base64.b64encode(decoded).decode("ascii")[:500], base64.b64encode(decoded[:22]).decode("ascii")


def parse_message(raw: bytes, domain: str) -> ParsedMessage:
    """The header facts of a message (see the module docstring)."""
    msg = _HEADER_PARSER.parsebytes(raw)
    ids = message_ids(header_text(msg, "Message-ID"))
    # Every id in the forms that are stored and looked up (storage.identifiers).
    message_id = stored_message_id(ids[0]) if ids else synthetic_message_id(raw, domain)
    in_reply_to = tuple(mid for mid in map(stored_message_id, message_ids(header_text(msg, "In-Reply-To")))
                        if mid != message_id)
    references = tuple(mid for mid in map(stored_message_id, message_ids(header_text(msg, "References")))
                       if mid != message_id)
    thread_index, thread_index_key = _thread_index(msg)
    from_name, from_address = _parse_from(msg)
    return ParsedMessage(
        raw=raw, message_id=message_id, has_message_id=bool(ids),
        in_reply_to=in_reply_to[:5], references=references[-MAX_REFERENCES:],
        subject=header_text(msg, "Subject"), from_name=from_name, from_address=from_address,
        date=_parse_date(msg), thread_index=thread_index, thread_index_key=thread_index_key,
        headers=msg)
