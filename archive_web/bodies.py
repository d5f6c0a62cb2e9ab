"""How a message's body is shown on the web: quoted text and signatures folded, HTML-only
mail sanitised (nh3: no script, no style, no remote image loaded), links made clickable,
email addresses hidden from anonymous readers and obfuscated for members, and no personal
unsubscribe token shown (mail stored before the gateway stripped them still holds some)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import nh3
from markupsafe import Markup, escape

from mailgateway.body import extract_body
from storage.personal_links import mask_personal_links

# Whose addresses a page may show, and how.
HIDE, OBFUSCATE = "hide", "obfuscate"

_ADDRESS = re.compile(r"(?<![\w.+-])([\w.+-]+)@([\w-]+(?:\.[\w-]+)+)")
_URL = re.compile(r"\bhttps?://[^\s<>\"')\]]+[^\s<>\"')\].,;:!?]")
_QUOTE = re.compile(r"^\s*>")
# "Le 3 mars 2026, Alice a écrit :", "On Mon, ... Bob wrote:", "Am ... schrieb ...:"
_ATTRIBUTION = re.compile(r"(wrote|a écrit|écrit|schrieb|escribió|ha scritto)\s*:\s*$", re.I)
# Outlook and friends put the whole previous message under such a line, unquoted.
_FORWARDED = re.compile(
    r"^\s*(-{3,}\s*(original message|message d'origine|message original|ursprüngliche nachricht)"
    r"\s*-{3,}|_{10,})\s*$", re.I)
_SIGNATURE = ("-- ", "--")

# Mail HTML keeps its formatting, never its structure: no headings or landmarks that would
# break the page's own outline.
_HTML_TAGS = set(nh3.ALLOWED_TAGS) - {"h1", "h2", "h3", "h4", "h5", "h6", "header", "footer",
                                      "nav", "article", "aside", "hgroup", "map", "area"}
_HTML_SCHEMES = {"http", "https"}


@dataclass(frozen=True)
class Segment:
    kind: str  # "text", "quote" or "signature"
    html: Markup


@dataclass(frozen=True)
class RenderedBody:
    segments: tuple[Segment, ...]
    html: Markup | None  # set for HTML-only mail
    images_blocked: bool


def address_text(address: str, mode: str, hidden_label: str) -> str:
    """An address as a page may show it: hidden, or obfuscated against harvesting."""
    if mode == HIDE:
        return hidden_label
    local, _, domain = address.partition("@")
    return f"{local} (at) {domain}"


def shown_addresses(text: str, mode: str, hidden_label: str) -> str:
    """Text as a page or feed may show it: addresses hidden or obfuscated, and the tokens of
    personal links masked (on any host: the forum's `base_url` may have changed since)."""
    text = mask_personal_links(text, "")
    return _ADDRESS.sub(lambda m: address_text(m.group(0), mode, hidden_label), text)


def _linkify(text: str) -> Markup:
    out, last = [], 0
    for m in _URL.finditer(text):
        out.append(escape(text[last:m.start()]))
        url = escape(m.group(0))
        out.append(Markup(f'<a href="{url}" rel="nofollow noopener noreferrer">{url}</a>'))
        last = m.end()
    out.append(escape(text[last:]))
    return Markup("").join(out)


def split_segments(text: str) -> list[tuple[str, str]]:
    """(kind, text) blocks: the author's own text, quoted text (with its attribution line
    and anything below an "Original message" line), and the signature."""
    # Mail received over SMTP has CRLF line ends: "-- \r" is a signature rule too.
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    blocks: list[tuple[str, list[str]]] = []

    def add(kind: str, line: str) -> None:
        if blocks and blocks[-1][0] == kind:
            blocks[-1][1].append(line)
        else:
            blocks.append((kind, [line]))

    for i, line in enumerate(lines):
        if line.rstrip(" ") in _SIGNATURE and line.startswith("--"):
            blocks.append(("signature", lines[i + 1:]))
            break
        if _FORWARDED.match(line):
            blocks.append(("quote", lines[i:]))
            break
        if _QUOTE.match(line):
            add("quote", line)
            continue
        following = next((nxt for nxt in lines[i + 1:] if nxt.strip()), "")
        if _ATTRIBUTION.search(line) and _QUOTE.match(following):
            add("quote", line)
        elif not line.strip() and blocks and blocks[-1][0] == "quote" and _QUOTE.match(following):
            add("quote", line)  # a blank line inside a quoted passage
        else:
            add("text", line)
    return [(kind, "\n".join(block).strip("\n")) for kind, block in blocks if "\n".join(block).strip()]


_HEADER_END = re.compile(rb"\r?\n\r?\n")
_CONTENT_TYPE = re.compile(rb"^content-type:\s*([\w.+-]+/[\w.+-]+)", re.I | re.M)


def is_html_only(raw: bytes) -> bool:
    """Whether the mail has an HTML body and no plain-text one (read from the bytes without
    parsing the message: this runs for every message of a thread page)."""
    end = _HEADER_END.search(raw)
    headers = raw[:end.start()] if end else raw
    found = _CONTENT_TYPE.search(headers)
    top = found.group(1).lower() if found else b"text/plain"
    if top == b"text/html":
        return True
    if not top.startswith(b"multipart/"):
        return False
    lowered = raw.lower()
    return b"text/html" in lowered and b"text/plain" not in lowered


def sanitise_html(html: str) -> tuple[str, bool]:
    """Safe HTML (nh3) with remote images left out; and whether any image was left out."""
    blocked = False

    def keep_attribute(element: str, attribute: str, value: str) -> str | None:
        nonlocal blocked
        if element == "img" and attribute == "src":
            blocked = True  # never load an image from elsewhere (tracking pixels, leaks)
            return None
        return value

    cleaned = nh3.clean(html, tags=_HTML_TAGS, clean_content_tags={"script", "style", "title", "head"},
                        attribute_filter=keep_attribute, url_schemes=_HTML_SCHEMES,
                        link_rel="nofollow noopener noreferrer")
    return cleaned, blocked


@lru_cache(maxsize=2048)
def _render(raw: bytes, text: str | None, mode: str, hidden_label: str) -> RenderedBody:
    # Keyed by the raw bytes (the record: a message never changes) and the stored text.
    if is_html_only(raw):
        body = extract_body(raw)
        if body.html:
            cleaned, blocked = sanitise_html(body.html)
            return RenderedBody((), Markup(shown_addresses(cleaned, mode, hidden_label)), blocked)
        text = body.text
    elif text is None:  # stored seconds ago: the indexing job has not read the body yet
        text = extract_body(raw).text
    segments = tuple(Segment(kind, _linkify(shown_addresses(part, mode, hidden_label)))
                     for kind, part in split_segments(text))
    return RenderedBody(segments, None, False)


def render_body(raw: bytes, text: str | None, mode: str, hidden_label: str) -> RenderedBody:
    return _render(raw, text, mode, hidden_label)
