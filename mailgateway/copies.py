"""Each subscriber's copy of a post: the stored message with the list's headers, a From that
passes DMARC, the subject tag and a footer in every text part, built once per post as a
template and filled in per recipient (personal unsubscribe link) at send time.

The message is changed only where it must be: Message-ID, In-Reply-To and References stay
as they are (mail clients thread on them), attachments are written back as they came, and a
signed (multipart/signed) or encrypted message is wrapped rather than altered inside. The
footer goes into the body's text parts (both parts of a multipart/alternative), never into a
text attachment; a part already 8-bit/7-bit UTF-8 or ASCII keeps its bytes and the footer is
appended, any other part is re-encoded as UTF-8 quoted-printable.

Whatever came in, a copy is valid mail (mailgateway.copy_headers, mailgateway.copy_parts):
headers folded and ASCII, no line over 998 octets, every part in a transfer encoding that
travels. A post that still cannot be made so raises CopyError (the fan-out holds it).
"""

from __future__ import annotations

import email
import email.policy
import email.quoprimime
import email.utils
import io
import re
import secrets
from dataclasses import dataclass
from email.generator import BytesGenerator
from email.headerregistry import Address
from email.message import Message

from mailgateway.addresses import topic_address
from mailgateway.copy_headers import MAX_LINE, fold, header_text, set_header, unfolded
from mailgateway.copy_parts import CopyError, repair, transport_problem
from mailgateway.listheaders import (
    account_url,
    list_headers,
    list_unsubscribe,
    privacy_url,
    topic_url,
    unsubscribe_url,
)
from mailgateway.notices import render_in
from mailgateway.parse import decode_header_value
from storage.config import Config
from storage.fanout import PostFacts
from storage.languages import available_languages, language_of

# Headers of the incoming message that must not reach subscribers: an earlier list's, the
# author's DKIM signature (the footer breaks it; ours replaces it), delivery traces.
REMOVED_HEADERS = ("List-Id", "List-Post", "List-Help", "List-Subscribe", "List-Unsubscribe",
                   "List-Unsubscribe-Post", "List-Archive", "List-Owner", "Precedence", "X-Loop",
                   "DKIM-Signature", "Return-Path", "Delivered-To", "X-Original-To", "Errors-To",
                   "X-Relais-Category", "Bcc")
CATEGORY_HEADER = "X-Relais-Category"
_PASS_THROUGH_CTE = ("", "7bit", "8bit", "binary")
_PASS_THROUGH_CHARSETS = ("us-ascii", "ascii", "utf-8", "utf8")


def _qp(text: str) -> bytes:
    # quoprimime works on one character per byte: hand it the UTF-8 bytes as latin-1.
    return email.quoprimime.body_encode(text.encode("utf-8").decode("latin-1"), eol="\r\n").encode("ascii")


def _crlf(data: bytes) -> bytes:
    return re.sub(rb"\r?\n", b"\r\n", data)


@dataclass(frozen=True)
class _Footer:
    """One text part's filling: the encoded body around the (personal) encoded footer."""

    head: bytes
    tail: bytes
    text: str  # the footer, with the placeholder standing for the unsubscribe URL
    quoted_printable: bool

    def fill(self, placeholder: str, url: str) -> bytes:
        text = self.text.replace(placeholder, url)
        footer = _qp(text) if self.quoted_printable else _crlf(text.encode("utf-8"))
        return self.head + footer + self.tail


@dataclass(frozen=True)
class CopyTemplate:
    """A post ready to personalise: static bytes, and the holes each recipient fills."""

    segments: tuple[bytes | str, ...]
    footers: dict[str, dict[str, _Footer]]  # hole -> language -> the footer in that language
    unsubscribe_hole: str
    placeholder: str
    language: str  # of the footers when the recipient's language has none

    def render(self, config: Config, unsubscribe_url: str, language: str | None = None) -> bytes:
        """One recipient's copy, its footers in `language` (the recipient's)."""
        out = []
        for segment in self.segments:
            if isinstance(segment, bytes):
                out.append(segment)
            elif segment == self.unsubscribe_hole:
                out.append(list_unsubscribe(config, unsubscribe_url).replace(", ", ",\r\n ").encode("ascii"))
            else:
                translated = self.footers[segment]
                footer = translated.get(language or self.language) or translated[self.language]
                out.append(footer.fill(self.placeholder, unsubscribe_url))
        return b"".join(out)


def _is_attachment(part: Message) -> bool:
    try:
        return part.get_content_disposition() == "attachment" or bool(part.get_filename())
    except Exception:  # a malformed parameter: not a body we dare change
        return True


def body_parts(part: Message) -> list[Message] | None:
    """The text parts readers see as the body; None when the body may not be changed
    (signed or encrypted)."""
    ctype = part.get_content_type()
    if ctype in ("multipart/signed", "multipart/encrypted"):
        return None
    if ctype.startswith("message/"):
        return []
    if part.is_multipart():
        subparts = part.get_payload()
        if ctype == "multipart/alternative":
            return [body for sub in subparts for body in (body_parts(sub) or [])]
        return (body_parts(subparts[0]) or []) if subparts else []
    if ctype in ("text/plain", "text/html") and not _is_attachment(part):
        return [part]
    return []


def _part_text(part: Message) -> str:
    payload = part.get_payload(decode=True) or b""
    for charset in (part.get_content_charset(), "utf-8", "cp1252"):
        if charset:
            try:
                return payload.decode(charset)
            except (LookupError, UnicodeDecodeError):
                continue
    return payload.decode("latin-1")


def _travels_as_utf8(body: bytes) -> bool:
    """Bytes that may be sent as they are: UTF-8 text, short lines, no NUL nor bare CR."""
    if b"\x00" in body or b"\r" in body.replace(b"\r\n", b""):
        return False
    if any(len(line) > MAX_LINE for line in body.split(b"\r\n")):
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _html_split(body: bytes | str) -> int:
    """Where the footer goes in an HTML body: before its last </body>, else at the end."""
    lowered = body.lower()
    index = lowered.rfind(b"</body" if isinstance(body, bytes) else "</body")
    return index if index >= 0 else len(body)


def _footer_for(part: Message, translated: dict[str, tuple[str, str]]) -> dict[str, _Footer]:
    """The part's filling in each language of `translated` (language -> (text, HTML) footer);
    one transfer encoding fits them all, as the part's headers are shared."""
    html = part.get_content_type() == "text/html"
    cte = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    charset = (part.get_content_charset() or "us-ascii").lower()
    footers = {language: html_footer if html else text_footer
               for language, (text_footer, html_footer) in translated.items()}
    body = _crlf(part.get_payload(decode=True) or b"")
    if cte in _PASS_THROUGH_CTE and charset in _PASS_THROUGH_CHARSETS and _travels_as_utf8(body):
        cut = _html_split(body) if html else len(body)
        head, tail = body[:cut], body[cut:]
        if head and not head.endswith(b"\r\n"):
            head += b"\r\n"
        result = {language: _Footer(head, tail, footer, quoted_printable=False) for language, footer in footers.items()}
        new_cte = "8bit" if not (body + "".join(footers.values()).encode()).isascii() else "7bit"
    else:
        text = _part_text(part)
        cut = _html_split(text) if html else len(text)
        head, tail = text[:cut], text[cut:]
        if head and not head.endswith("\n"):
            head += "\n"
        encoded_head, encoded_tail = _qp(head), _qp(tail) if tail else b""
        result = {language: _Footer(encoded_head, encoded_tail, footer, quoted_printable=True)
                  for language, footer in footers.items()}
        new_cte = "quoted-printable"
    del part["Content-Transfer-Encoding"]
    part["Content-Transfer-Encoding"] = new_cte
    part.set_param("charset", "utf-8")
    return result


def _footer_part() -> Message:
    part = Message()
    part["Content-Type"] = 'text/plain; charset="utf-8"'
    part["Content-Transfer-Encoding"] = "8bit"
    part["Content-Disposition"] = "inline"
    return part


def _wrap_in_mixed(msg: Message, extra: Message) -> None:
    """Make `msg` a multipart/mixed of its former body and `extra`, leaving the body as it was."""
    inner = Message()
    for name, value in msg.items():
        if name.lower().startswith("content-"):
            inner[name] = value
    inner.set_payload(msg.get_payload())
    inner.preamble, inner.epilogue = msg.preamble, msg.epilogue
    for name in {n.lower() for n in inner.keys()}:
        del msg[name]
    msg.set_payload([inner, extra])
    msg.preamble = msg.epilogue = None
    msg["Content-Type"] = "multipart/mixed"
    if "MIME-Version" not in msg:
        msg["MIME-Version"] = "1.0"


def _author_display(config: Config, post: PostFacts) -> str:
    who = post.from_name or post.from_address or "?"
    if post.organisation and post.organisation.casefold() not in who.casefold():
        who = f"{who} ({post.organisation})"
    return f"{who} via {config.forum.name}"


def _mailbox(name: str, address: str) -> str:
    return str(Address(display_name=header_text(name), addr_spec=address))


def _rewrite_headers(config: Config, secret: str, msg: Message, post: PostFacts) -> None:
    for name in REMOVED_HEADERS:
        del msg[name]
    tag = config.delivery.subject_tag
    if tag and tag.casefold() not in post.subject.casefold():
        set_header(msg, "Subject", f"{tag} {post.subject}".strip())
    if config.delivery.from_rewrite == "always":
        set_header(msg, "From", _mailbox(_author_display(config, post), config.forum.address))
        if post.from_address:
            # "Reply" goes to the forum; the author stays reachable privately from Cc.
            cc = unfolded(str(msg.get("Cc", "")))
            if post.from_address.lower() not in decode_header_value(cc).lower():
                written = fold("Cc", f"{cc}, {post.from_address}" if cc else post.from_address)
                set_header(msg, "Cc", f"{cc}, {post.from_address}" if written else post.from_address)
    set_header(msg, "Reply-To", _mailbox(config.forum.name, topic_address(config, secret, post.topic_id)))
    for name, value in list_headers(config, post.topic_id):
        set_header(msg, name, value)
    if post.category:
        set_header(msg, CATEGORY_HEADER, post.category)
    _ensure_origin(config, msg, post)


def _ensure_origin(config: Config, msg: Message, post: PostFacts) -> None:
    """RFC 5322 3.6: a message has one Date and one From; a post without them gets the
    date it was stored with and its author."""
    try:
        dated = email.utils.parsedate_to_datetime(str(msg["Date"])) is not None if "Date" in msg else False
    except (TypeError, ValueError, IndexError):
        dated = False
    if not dated:
        set_header(msg, "Date", email.utils.format_datetime(post.date))
    if "From" not in msg:
        set_header(msg, "From", _mailbox(_author_display(config, post), config.forum.address))


def build_copy_template(config: Config, secret: str, post: PostFacts) -> CopyTemplate:
    """The post as every subscriber receives it, with holes for what is personal."""
    marker = f"RELAISHOLE{secrets.token_hex(8)}X"
    placeholder = f"RELAISURL{secrets.token_hex(8)}X"
    context = {"topic_url": topic_url(config, post.topic_id), "account_url": account_url(config),
               "privacy_url": privacy_url(config),
               "unsubscribe_url": placeholder, "post_address": config.forum.address}
    # The footer in every language: each recipient's copy takes theirs.
    translated = {language: (render_in(config, "footer", language, "txt", **context),
                             render_in(config, "footer", language, "html", **context))
                  for language in available_languages()}

    try:
        msg = email.message_from_bytes(post.raw, policy=email.policy.compat32)
    except RecursionError:  # the parser recurses once per level: some thousand levels
        raise CopyError("its MIME parts are nested too deeply to be read") from None
    repair(msg)  # before anything reads its structure
    _rewrite_headers(config, secret, msg, post)
    unsubscribe_hole = f"{marker}U"
    msg["List-Unsubscribe"] = unsubscribe_hole

    footers: dict[str, dict[str, _Footer]] = {}
    bodies = body_parts(msg)
    if not bodies:
        extra = _footer_part()
        if bodies is not None and msg.get_content_type() == "multipart/mixed":
            msg.attach(extra)
        else:
            _wrap_in_mixed(msg, extra)
        footers[f"{marker}0"] = {language: _Footer(b"", b"", text.lstrip("\n"), quoted_printable=False)
                                 for language, (text, _html) in translated.items()}
        extra.set_payload(f"{marker}0")
    for index, part in enumerate(bodies or []):
        footers[f"{marker}{index}"] = _footer_for(part, translated)
        part.set_payload(f"{marker}{index}")
    repair(msg)  # the headers and parts changed above, made fit to be sent in turn

    out = io.BytesIO()
    BytesGenerator(out, mangle_from_=False, maxheaderlen=0).flatten(msg, linesep="\r\n")
    written = out.getvalue()
    written += b"" if written.endswith(b"\r\n") else b"\r\n"
    pieces = re.split(f"({re.escape(marker)}[U0-9]+)".encode("ascii"), written)
    segments = tuple(p.decode("ascii") if i % 2 else p for i, p in enumerate(pieces))
    template = CopyTemplate(segments, footers, unsubscribe_hole, placeholder,
                            language_of(None, config.forum.default_language))
    problem = transport_problem(template.render(config, unsubscribe_url(config, secret, 0)))
    if problem:
        raise CopyError(f"its copies would not be valid mail: {problem}")
    return template
