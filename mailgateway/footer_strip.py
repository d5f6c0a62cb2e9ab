"""Relais's own footer, and the personal links it carries, taken out of incoming mail.

Every copy a member receives ends with a footer holding their personal one-click
unsubscribe link; replying with the copy quoted would hand that link to every other member
and to the archive. So before a post is stored and redistributed, its text parts lose the
footer (plain, `> `-quoted at any depth, and the HTML `relais-footer` block), and any
personal link still left (reworded, or wrapped by a link scanner such as Outlook's Safe
Links) has its token masked. A message without such a link keeps its bytes untouched.

The links are recognised as storage.personal_links says; the same masking guards what the
web shows of mail stored before this existed.
"""

from __future__ import annotations

import base64
import email
import email.policy
import email.quoprimime
import io
import re
from email.generator import BytesGenerator
from email.message import Message

from storage.personal_links import mask_personal_links, personal_link_re

_PATHS = (b"unsubscribe/", b"unsubscribe%2f", b"reenable/", b"reenable%2f")
_SOFT_BREAK_RE = re.compile(rb"=\r?\n")


def _base64_cores(text: bytes) -> list[bytes]:
    """What `text` looks like inside any base64 stream, at each of the three alignments:
    the characters that do not depend on the bytes around it."""
    cores = []
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + text)
        start = 4 if shift else 0
        end = len(encoded) - (4 if (shift + len(text)) % 3 else 0)
        cores.append(encoded[start:end])
    return cores


_BASE64_HINTS = tuple(core for word in (b"unsubscribe", b"reenable") for core in _base64_cores(word))

_QUOTE_PREFIX_RE = re.compile(r"^[ \t]*(?:>[ \t]?)*")
_SEPARATOR_RE = re.compile(r"^_{40,}\s*$")  # the footer's rule (47 underscores, as Mailman's)
FOOTER_LINES = 10  # the footer's lines, rewrapped by a quoting client, between rule and link
# Bounded: the footer is a few hundred characters, and hostile HTML must not cost minutes.
_HTML_FOOTER_RE = re.compile(r"<div\b[^>]{0,500}\brelais-footer\b[^>]{0,500}>.{0,4000}?</div\s*>", re.I | re.S)
MAX_PARTS = 1000


def strip_plain_footer(text: str, base_url: str) -> str:
    """Plain text without Relais's footer blocks (quoted or not), and tokens masked."""
    link = personal_link_re(base_url)
    kept: list[str] = []
    for line in text.split("\n"):
        start = _footer_start(kept) if link.search(line) else None
        if start is None:
            kept.append(line)
        else:
            del kept[start:]
    return mask_personal_links("\n".join(kept), base_url)


def _footer_start(before: list[str]) -> int | None:
    """Where the footer whose link line comes next begins: its rule, if one is close above;
    None if there is none (a link in the author's own words: only its token is masked)."""
    for index in range(len(before) - 1, max(len(before) - 1 - FOOTER_LINES, -1), -1):
        line = before[index]
        if _SEPARATOR_RE.match(line[_QUOTE_PREFIX_RE.match(line).end():]):  # type: ignore[union-attr]
            return index
    return None


def strip_html_footer(html: str, base_url: str) -> str:
    """HTML without Relais's footer block, without any link to a personal URL, tokens masked."""
    link = personal_link_re(base_url)
    html = _HTML_FOOTER_RE.sub(lambda m: "" if link.search(m.group(0)) else m.group(0), html)
    return mask_personal_links(_without_personal_anchors(html, link), base_url)


def _without_personal_anchors(html: str, link: re.Pattern[str]) -> str:
    """The HTML without the <a> elements whose href is a personal link."""
    lowered, kept, position = html.lower(), [], 0
    for found in link.finditer(html):
        if found.start() < position:
            continue
        opening = lowered.rfind("<a", position, found.start())
        closing = lowered.find("</a", found.end())
        if opening < 0 or closing < 0 or ">" in html[opening:found.start()]:
            continue  # not inside an <a> tag: the token is masked afterwards
        end = lowered.find(">", closing)
        end = len(html) if end < 0 else end + 1
        kept.append(html[position:opening])
        position = end
    kept.append(html[position:])
    return "".join(kept)


def might_hold_personal_link(raw: bytes) -> bool:
    """A cheap test on the bytes (this runs before every 250): False means that no part can
    hold a personal link, as it is, quoted-printable or base64, so the message is not parsed."""
    # Substring tests, and only what the message's encodings call for: milliseconds on 25 MB.
    lowered = raw.lower()
    if any(path in lowered for path in _PATHS):
        return True
    if b"quoted-printable" in lowered:
        unbroken = _SOFT_BREAK_RE.sub(b"", lowered)
        if any(path in unbroken for path in _PATHS):
            return True
    if b"base64" not in lowered:
        return False
    joined = raw.replace(b"\r\n", b"").replace(b"\n", b"")
    return any(hint in joined for hint in _BASE64_HINTS)


def _part_text(part: Message) -> str | None:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return None
    for charset in (part.get_content_charset(), "utf-8", "cp1252"):
        if charset:
            try:
                return payload.decode(charset)
            except (LookupError, ValueError):  # unknown charset, bad bytes, a NUL in its name
                continue
    return payload.decode("latin-1")


def _rewrite(part: Message, text: str) -> None:
    # Re-encoded as UTF-8 quoted-printable: 7-bit safe whatever the part was before.
    body = email.quoprimime.body_encode(text.encode("utf-8").decode("latin-1"), eol="\n")
    del part["Content-Transfer-Encoding"]
    part["Content-Transfer-Encoding"] = "quoted-printable"
    part.set_param("charset", "utf-8")
    part.set_payload(body)


def strip_personal_links(raw: bytes, base_url: str) -> bytes:
    """The message without Relais's footer and with no personal token in any text part;
    the same bytes when there was none. Never raises: a message too broken to re-write
    gets its tokens masked in the bytes themselves."""
    if not might_hold_personal_link(raw):
        return raw
    link = personal_link_re(base_url)
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.compat32)
        changed = False
        for count, part in enumerate(msg.walk()):
            if count >= MAX_PARTS:
                break
            if part.is_multipart() or part.get_content_maintype() != "text":
                continue
            text = _part_text(part)
            if text is not None:
                text = text.replace("\r\n", "\n")
            if text is None or not link.search(text):
                continue
            html = part.get_content_subtype() == "html"
            _rewrite(part, strip_html_footer(text, base_url) if html else strip_plain_footer(text, base_url))
            changed = True
        if not changed:
            return _masked_bytes(raw, link)
        out = io.BytesIO()
        BytesGenerator(out, mangle_from_=False, maxheaderlen=0).flatten(msg, linesep="\r\n")
        return _masked_bytes(out.getvalue(), link)
    except Exception:  # deep nesting, broken structure: mask what the bytes show
        return _masked_bytes(raw, link)


def _masked_bytes(raw: bytes, link: re.Pattern[str]) -> bytes:
    """Tokens masked wherever the bytes show them as they are (headers, 8-bit parts)."""
    as_bytes = re.compile(link.pattern.encode("utf-8"), re.I)
    return as_bytes.sub(lambda m: m.group(1) + b"...", raw)
