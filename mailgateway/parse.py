"""Reading a raw message into the facts Relais needs: identity, threading headers, author,
subject, date, text and attachments.

Parsing never raises on bad mail: the world sends broken charsets, headers and MIME, and
each defect falls back to something readable. The raw bytes stay the record.
"""

from __future__ import annotations

import base64
import binascii
import email
import email.header
import email.policy
import email.utils
import hashlib
import html as html_lib
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import Message

import mailparser

# mail-parser logs a warning for every part type it does not turn into text.
logging.getLogger("mailparser").setLevel(logging.ERROR)

MSGID_RE = re.compile(r"<([^<>\s]+)>")
MAX_REFERENCES = 100


@dataclass(frozen=True)
class ParsedAttachment:
    filename: str
    content_type: str
    size: int
    part_index: int


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
    text: str
    thread_index: str | None
    thread_index_key: str | None
    attachments: tuple[ParsedAttachment, ...]
    headers: Message = field(repr=False, compare=False)

    @property
    def has_threading_headers(self) -> bool:
        return bool(self.in_reply_to or self.references)

    def header(self, name: str) -> str:
        return header_text(self.headers, name)


def header_text(msg: Message, name: str) -> str:
    """A header's decoded text, or "" — never an exception, whatever the header holds."""
    try:
        value = msg.get(name)
        text = "" if value is None else str(value)
    except Exception:
        # policy.default's structured parsers fail on some malformed headers:
        # fall back to plain RFC 2047 decoding of the raw value.
        raw = next((v for k, v in msg.raw_items() if k.lower() == name.lower()), "")
        text = _decode_raw_header(str(raw))
    return clean_text(" ".join(text.split()))


def clean_text(text: str) -> str:
    """Text any database accepts: no NUL, no lone surrogate (left by undecodable 8-bit bytes)."""
    return text.encode("utf-8", "replace").decode("utf-8").replace("\x00", "")


def _decode_raw_header(value: str) -> str:
    try:
        parts = email.header.decode_header(value)
    except Exception:
        return value
    out = []
    for chunk, charset in parts:
        if isinstance(chunk, bytes):
            out.append(_decode_bytes(chunk, charset))
        else:
            out.append(chunk)
    return "".join(out)


def _decode_bytes(data: bytes, charset: str | None) -> str:
    for cs in (charset, "utf-8", "cp1252"):
        if not cs:
            continue
        try:
            return data.decode(cs)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("latin-1")


def message_ids(value: str) -> list[str]:
    """Message-IDs named in a header, in order, without angle brackets.

    Some clients write a bare id, or prose around it ("<id> (Name's message of ...)").
    """
    found = MSGID_RE.findall(value)
    if not found:
        token = value.strip()
        if token and " " not in token and "@" in token:
            found = [token.strip("<>")]
    seen: dict[str, None] = {}
    for mid in found:
        seen.setdefault(mid, None)
    return list(seen)


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
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    try:
        return parsed.astimezone(timezone.utc)
    except (OverflowError, ValueError):
        return None


def _parse_from(msg: Message) -> tuple[str, str]:
    value = header_text(msg, "From") or header_text(msg, "Sender")
    name, addr = email.utils.parseaddr(value)
    if not addr and value:
        match = re.search(r"[\w.+-]+@[\w.-]+", value)
        addr = match.group(0) if match else ""
    return name.strip(), addr.strip().lower()


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


def _attachments(msg: Message) -> list[ParsedAttachment]:
    found = []
    for index, part in enumerate(attachment_parts(msg)):
        try:
            payload = part.get_payload(decode=True) or b""
        except Exception:
            payload = b""
        try:
            filename = clean_text(part.get_filename() or "")
        except Exception:
            filename = ""
        found.append(ParsedAttachment(
            filename=" ".join(str(filename).split()) or f"attachment-{index + 1}",
            content_type=part.get_content_type(),
            size=len(payload),
            part_index=index,
        ))
    return found


def attachment_parts(msg: Message) -> list[Message]:
    """The message's attachments, in a stable order (the web archive serves them by index)."""
    parts = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        try:
            disposition = part.get_content_disposition()
            filename = part.get_filename()
        except Exception:
            disposition, filename = None, None
        ctype = part.get_content_type()
        if part is msg and ctype.startswith("text/"):
            continue
        if disposition == "attachment" or filename or not ctype.startswith("text/"):
            parts.append(part)
    return parts


def _text(raw: bytes) -> str:
    """The readable text: plain parts first; HTML turned into text when there is no plain part."""
    try:
        parsed = mailparser.parse_from_bytes(raw)
        plain = parsed.text_plain
        html = parsed.text_html
    except Exception:
        return ""
    if plain:
        return clean_text("\n\n".join(plain))
    if html:
        return clean_text(html_to_text("\n".join(html)))
    return ""


_TAG_RE = re.compile(r"<(script|style)\b.*?</\1\s*>|<[^>]+>", re.S | re.I)
_BLOCK_RE = re.compile(r"<\s*(br|/p|/div|/li|/tr|/h[1-6])\b[^>]*>", re.I)


def html_to_text(html: str) -> str:
    text = _BLOCK_RE.sub("\n", html)
    text = _TAG_RE.sub("", text)
    text = html_lib.unescape(text)
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def parse_message(raw: bytes, domain: str) -> ParsedMessage:
    """Everything Relais derives from a message's raw bytes."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    ids = message_ids(header_text(msg, "Message-ID"))
    has_id = bool(ids)
    message_id = ids[0] if ids else synthetic_message_id(raw, domain)
    in_reply_to = tuple(mid for mid in message_ids(header_text(msg, "In-Reply-To")) if mid != message_id)
    references = tuple(mid for mid in message_ids(header_text(msg, "References")) if mid != message_id)
    thread_index, thread_index_key = _thread_index(msg)
    from_name, from_address = _parse_from(msg)
    return ParsedMessage(
        raw=raw,
        message_id=clean_text(message_id)[:995],
        has_message_id=has_id,
        in_reply_to=in_reply_to[:5],
        references=references[-MAX_REFERENCES:],
        subject=header_text(msg, "Subject"),
        from_name=from_name,
        from_address=from_address,
        date=_parse_date(msg),
        text=_text(raw),
        thread_index=thread_index,
        thread_index_key=thread_index_key,
        attachments=tuple(_attachments(msg)),
        headers=msg,
    )


