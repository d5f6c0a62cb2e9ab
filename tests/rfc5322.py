"""What a strict relay checks before it accepts a message, as one assertion for the tests:
`assert_valid_rfc5322(raw)` on every copy an SMTP sink receives.

RFC 5322 (and RFC 5321 for transport): every line ends with CRLF and has at most 998
octets, no CR or LF alone, no NUL; a header section of ASCII fields `name: value`, folded
lines starting with white space; exactly one Date and one From, at most one of the fields
that may appear once; the header section and the MIME structure parse without a defect
under the `email` package's strict policy, and so does every part's transfer encoding.
"""

from __future__ import annotations

import email.policy
import re
from email.message import EmailMessage
from email.parser import BytesParser

STRICT = email.policy.SMTP.clone(raise_on_defect=True)
MAX_LINE = 998
_FIELD_RE = re.compile(rb"[!-9;-~]+:")
ONCE = ("date", "from", "sender", "reply-to", "to", "cc", "bcc", "message-id", "in-reply-to",
        "references", "subject")
# Headers whose parsed value must carry no defect (those relays and clients act on).
PARSED = ("from", "reply-to", "sender", "date", "message-id", "list-id", "list-unsubscribe", "subject")


def assert_valid_rfc5322(raw: bytes) -> EmailMessage:
    """Fails, saying why, unless `raw` is a message a strict relay accepts; returns it parsed."""
    assert raw.endswith(b"\r\n"), "the message does not end with CRLF"
    lines = raw[:-2].split(b"\r\n")
    for number, line in enumerate(lines, 1):
        assert len(line) <= MAX_LINE, f"line {number} has {len(line)} octets: {line[:80]!r}…"
        assert b"\r" not in line and b"\n" not in line, f"line {number} holds a bare CR or LF: {line[:80]!r}"
        assert b"\x00" not in line, f"line {number} holds a NUL: {line[:80]!r}"
    head_end = lines.index(b"") if b"" in lines else len(lines)
    head = lines[:head_end]
    assert head, "the message has no header"
    for number, line in enumerate(head, 1):
        assert line.isascii(), f"header line {number} is not ASCII: {line[:80]!r}"
        folded = number > 1 and line[:1] in (b" ", b"\t") and bool(line.strip())
        assert folded or _FIELD_RE.match(line), f"header line {number} is neither a field nor a fold: {line[:80]!r}"

    msg = BytesParser(policy=STRICT).parsebytes(raw)  # raises on any message or MIME defect
    names = [name.lower() for name in msg.keys()]
    for name in ("date", "from"):
        assert names.count(name) == 1, f"{names.count(name)} {name} fields (RFC 5322 wants one)"
    for name in ONCE:
        assert names.count(name) <= 1, f"{names.count(name)} {name} fields (RFC 5322 allows one)"
    for name in PARSED:
        if name in names:
            header = msg[name]
            assert not header.defects, f"{name}: {header!s:.80} has defects {header.defects}"
    for part in msg.walk():
        if not part.is_multipart():
            part.get_payload(decode=True)  # a bad base64 is a defect, raised here
    return msg  # type: ignore[return-value]
