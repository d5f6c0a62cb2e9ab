"""Where each attachment of a message lies in its raw bytes, so that a download reads and
parses that part alone instead of the whole message (a 10,000-part message costs seconds to
parse; one of its parts, microseconds).

The spans follow the tree the email package parsed (its boundaries, its children) and are
then checked: each span, parsed on its own, must give the same type and the same decoded
bytes as the part it stands for. A message whose structure cannot be mapped with certainty
gets no spans, and its downloads read the whole message as before.
"""

from __future__ import annotations

import email
import email.policy
import re
from email.message import Message

from mailgateway.body import MAX_MIME_DEPTH, UnreadableMessage, attachment_parts, parse_message

Span = tuple[int, int]
_EMPTY_LINE = re.compile(rb"\r?\n\r?\n")


class _Unmapped(Exception):
    pass


def _body_start(raw: bytes, start: int, end: int) -> int:
    """Where a part's body begins: after the empty line that ends its header section."""
    if raw.startswith(b"\n", start):
        return start + 1
    if raw.startswith(b"\r\n", start):
        return start + 2
    found = _EMPTY_LINE.search(raw, start, end)
    if found is None:
        raise _Unmapped
    return found.end()


def _children(raw: bytes, boundary: str, start: int, end: int) -> list[Span]:
    """The spans between the delimiter lines of a multipart body (RFC 2046: the line break
    before a delimiter belongs to the delimiter)."""
    delimiter = re.compile(rb"(?m)^--" + re.escape(boundary.encode("ascii", "surrogateescape"))
                           + rb"(--)?[ \t]*(\r\n|\r|\n|\Z)")
    spans: list[Span] = []
    child_start: int | None = None
    for found in delimiter.finditer(raw, start, end):
        if child_start is not None:
            before = found.start()
            before -= 2 if raw[before - 2:before] == b"\r\n" else 1
            spans.append((child_start, max(before, child_start)))
        if found.group(1):  # the close delimiter
            return spans
        child_start = found.end()
    if child_start is not None:  # no close delimiter: the last part runs to the end
        spans.append((child_start, end))
    return spans


def _map(part: Message, raw: bytes, span: Span, found: dict[int, Span], depth: int = 0) -> None:
    found[id(part)] = span
    if not part.is_multipart() or depth > MAX_MIME_DEPTH:
        return  # parts left unmapped: the message is read whole
    children = [c for c in part.get_payload() if isinstance(c, Message)]
    body = _body_start(raw, *span)
    if part.get_content_maintype() == "multipart":
        boundary = part.get_boundary()
        if not boundary:
            raise _Unmapped
        spans = _children(raw, boundary, body, span[1])
    elif len(children) == 1:  # message/rfc822: the body is a whole message
        spans = [(body, span[1])]
    else:
        raise _Unmapped
    if len(spans) != len(children):
        raise _Unmapped
    for child, child_span in zip(children, spans):
        _map(child, raw, child_span, found, depth + 1)


def _payload(part: Message) -> bytes | None:
    try:
        return part.get_payload(decode=True)
    except Exception:
        return None


def _same_part(raw: bytes, span: Span, part: Message) -> bool:
    alone = email.message_from_bytes(raw[span[0]:span[1]], policy=email.policy.compat32)
    return alone.get_content_type() == part.get_content_type() and _payload(alone) == _payload(part)


def attachment_spans(raw: bytes) -> list[Span] | None:
    """(start, end) in `raw` of each attachment, in attachment_parts' order; None when the
    message cannot be mapped with certainty."""
    try:
        msg = parse_message(raw)
        parts = attachment_parts(msg)
        found: dict[int, Span] = {}
        _map(msg, raw, (0, len(raw)), found)
    except (UnreadableMessage, _Unmapped, RecursionError):
        return None
    spans = [found.get(id(part)) for part in parts]
    if any(span is None or not _same_part(raw, span, part) for span, part in zip(spans, parts)):
        return None
    return spans  # type: ignore[return-value]


def part_from_span(part_bytes: bytes) -> Message:
    """The attachment read from its span alone."""
    return email.message_from_bytes(part_bytes, policy=email.policy.compat32)
