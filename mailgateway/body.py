"""Reading a message's body: its readable text and its attachments.

Runs after the commit (the indexing job) and when a page shows a message, never on the
SMTP path. mail-parser does the decoding work that real mail needs (unknown charsets,
broken transfer encodings); attachments are listed in a stable order so that the web
archive can serve one by its index, re-reading it from the raw bytes.

Hostile mail is deep and wide: the MIME structure is walked without recursion and within
bounds (walk_parts) before mail-parser, which recurses, reads the text (Python's email
parser and Message.walk() recurse once per level, and ~1,000 levels raise RecursionError).
A message beyond the bounds, or one that fails to parse at all, is *unreadable*:
extract_body never raises, it says why instead, and the indexing job sets the message
aside (see storage.search_queue) rather than trying it again.
"""

from __future__ import annotations

import email
import email.policy
import html as html_lib
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message

import mailparser

from mailgateway.parse import clean_text, decode_header_value

# mail-parser logs a warning for every part type it does not turn into text.
logging.getLogger("mailparser").setLevel(logging.ERROR)


# Deeper than any real mail (a forward of a forward of a digest is under ten levels), and
# far below where the recursive parts of the email package fail.
MAX_MIME_DEPTH = 50
# A bound on the parts walked, so that one message cannot take minutes of the job.
MAX_MIME_PARTS = 20_000

_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


class UnreadableMessage(Exception):
    """The message's MIME structure cannot be read; the text says why (for moderators)."""


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
    # Why the message could not be read (then text is empty and nothing is listed).
    unreadable: str | None = None


def walk_parts(msg: Message) -> Iterator[Message]:
    """The parts of a message in the order of Message.walk(), without recursion, bounded:
    UnreadableMessage past MAX_MIME_DEPTH levels or MAX_MIME_PARTS parts."""
    stack: list[tuple[Message, int]] = [(msg, 0)]
    seen = 0
    while stack:
        part, depth = stack.pop()
        if depth > MAX_MIME_DEPTH:
            raise UnreadableMessage(f"MIME parts nested more than {MAX_MIME_DEPTH} levels deep")
        seen += 1
        if seen > MAX_MIME_PARTS:
            raise UnreadableMessage(f"more than {MAX_MIME_PARTS} MIME parts")
        yield part
        if part.is_multipart():
            children = part.get_payload()
            stack.extend((child, depth + 1) for child in reversed(children) if isinstance(child, Message))


def parse_message(raw: bytes) -> Message:
    """The message's MIME structure (compat32: it keeps broken parts as they are);
    UnreadableMessage if it cannot be parsed. walk_parts checks the bounds."""
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    except RecursionError:
        raise UnreadableMessage(f"MIME parts nested more than {MAX_MIME_DEPTH} levels deep") from None
    except Exception as error:  # the parser is lenient: this is rare, but must not stop a job
        raise UnreadableMessage(f"the MIME structure could not be parsed ({type(error).__name__})") from None
    return msg


def attachment_parts(msg: Message) -> list[Message]:
    """The message's attachments, in a stable order (the web archive serves them by index)."""
    parts = []
    for part in walk_parts(msg):
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
        try:
            # A NUL or control byte in the header must not reach a database column.
            ctype = _CONTROL_RE.sub("", clean_text(part.get_content_type()))[:255]
        except Exception:
            ctype = ""
        found.append(ParsedAttachment(
            filename=" ".join(filename.split())[:1000] or f"attachment-{index + 1}",
            content_type=ctype or "application/octet-stream", size=len(payload), part_index=index))
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
    """The readable text (plain parts, else the HTML turned into text) and the attachments;
    never raises: a message that cannot be read comes back empty, with `unreadable` saying why."""
    try:
        msg = parse_message(raw)
        attachments = _attachments(msg)  # walks every part: the bounds are checked here
    except UnreadableMessage as error:
        return MessageBody(text="", html=None, attachments=(), unreadable=str(error))
    except RecursionError:
        return MessageBody(text="", html=None, attachments=(),
                           unreadable=f"MIME parts nested more than {MAX_MIME_DEPTH} levels deep")
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
    return MessageBody(text=clean_text(text), html=clean_text(html_text) if html_text else None,
                       attachments=attachments)
