"""Reading a message's body: its readable text and its attachments.

Runs after the commit (the indexing job) and when a page shows a message, never on the
SMTP path. mail-parser does the decoding work that real mail needs (unknown charsets,
broken transfer encodings); attachments are listed in a stable order so that the web
archive can serve one by its index, re-reading it from the raw bytes.
"""

from __future__ import annotations

import email
import email.policy
import html as html_lib
import logging
import re
from dataclasses import dataclass
from email.message import Message

import mailparser

from mailgateway.parse import clean_text, decode_header_value

# mail-parser logs a warning for every part type it does not turn into text.
logging.getLogger("mailparser").setLevel(logging.ERROR)


@dataclass(frozen=True)
class ParsedAttachment:
    filename: str
    content_type: str
    size: int
    part_index: int


@dataclass(frozen=True)
class MessageBody:
    text: str
    html: str | None
    attachments: tuple[ParsedAttachment, ...]


def attachment_parts(msg: Message) -> list[Message]:
    """The message's attachments, in a stable order (the web archive serves them by index)."""
    parts = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        if part is msg and ctype.startswith("text/"):
            continue
        try:
            disposition = part.get_content_disposition()
            filename = part.get_filename()
        except Exception:  # a malformed parameter: treat the part by its type alone
            disposition, filename = None, None
        if disposition == "attachment" or filename or not ctype.startswith("text/"):
            parts.append(part)
    return parts


def _attachments(msg: Message) -> tuple[ParsedAttachment, ...]:
    found = []
    for index, part in enumerate(attachment_parts(msg)):
        try:
            payload = part.get_payload(decode=True) or b""
        except Exception:
            payload = b""
        try:
            filename = clean_text(decode_header_value(str(part.get_filename() or "")))
        except Exception:
            filename = ""
        found.append(ParsedAttachment(
            filename=" ".join(filename.split())[:1000] or f"attachment-{index + 1}",
            content_type=part.get_content_type()[:255], size=len(payload), part_index=index))
    return tuple(found)


_TAG_RE = re.compile(r"<(script|style)\b.*?</\1\s*>|<[^>]+>", re.S | re.I)
_BLOCK_RE = re.compile(r"<\s*(br|/p|/div|/li|/tr|/h[1-6])\b[^>]*>", re.I)


def html_to_text(html: str) -> str:
    text = _BLOCK_RE.sub("\n", html)
    text = _TAG_RE.sub("", text)
    text = html_lib.unescape(text)
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def extract_body(raw: bytes) -> MessageBody:
    """The readable text (plain parts, else the HTML turned into text) and the attachments."""
    try:
        parsed = mailparser.parse_from_bytes(raw)
        plain, html = parsed.text_plain, parsed.text_html
    except Exception:  # mail-parser gives up on a few malformed structures: no text then
        plain, html = [], []
    html_text = "\n".join(html) if html else None
    if plain:
        text = "\n\n".join(plain)
    else:
        text = html_to_text(html_text) if html_text else ""
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    return MessageBody(text=clean_text(text), html=clean_text(html_text) if html_text else None,
                       attachments=_attachments(msg))
