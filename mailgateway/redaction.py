"""Rewriting a stored message's raw bytes when a person is erased (GDPR): their name and
addresses taken out of the headers and the text parts, their signature block cut off, or
the whole message replaced by a short notice (the `delete` policy). What cannot be
rewritten safely (an unreadable structure) is replaced by the notice too: nothing of the
person may stay in bytes the forum serves."""

from __future__ import annotations

import email
import email.policy
import email.utils
import re
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import EmailMessage

from mailgateway.body import walk_parts
from storage.languages import translations

# An address that can never be anyone's (RFC 2606 reserves .invalid).
FORMER_MEMBER_ADDRESS = "former-member@invalid"


def former_member(language: str) -> str:
    return translations(language).gettext("Former member")


def removed_notice(language: str) -> str:
    return translations(language).gettext("This message was removed at its author's request.")

# Headers that identify the sender's mailbox or machine: dropped from their own messages.
_TRACE_HEADERS = ("received", "return-path", "x-originating-ip", "x-sender-ip", "authentication-results",
                  "dkim-signature", "arc-seal", "arc-message-signature", "arc-authentication-results",
                  "x-google-smtp-source", "x-received", "sender", "reply-to", "x-original-from",
                  "x-sender", "organization", "disposition-notification-to", "return-receipt-to")
# Headers kept in the notice that replaces a deleted message: threading and its date.
_NOTICE_HEADERS = ("Message-ID", "Date", "In-Reply-To", "References", "Subject")
_SIGNATURE_LINE = re.compile(r"(?m)^-- ?\r?$")
_POLICY = email.policy.default.clone(linesep="\r\n")


@dataclass(frozen=True)
class Identity:
    """What names the erased person: their name(s) and addresses, and what replaces them."""

    names: tuple[str, ...]
    addresses: tuple[str, ...]
    label: str  # "Former member", in the forum's language

    def scrub(self, text: str) -> str:
        """The text without the person's name and addresses (case-insensitive)."""
        for value in sorted({*self.addresses, *self.names}, key=len, reverse=True):
            if len(value.strip()) >= 3:
                text = re.sub(re.escape(value.strip()), self.label, text, flags=re.IGNORECASE)
        return text

    def named_in(self, text: str) -> bool:
        lowered = text.lower()
        return any(len(v.strip()) >= 3 and v.strip().lower() in lowered for v in (*self.names, *self.addresses))


def identity(names: Iterable[str], addresses: Iterable[str], language: str) -> Identity:
    return Identity(tuple(n for n in names if n), tuple(a.lower() for a in addresses if a),
                    former_member(language))


def former_member_from(who: Identity) -> str:
    return email.utils.formataddr((who.label, FORMER_MEMBER_ADDRESS))


def removal_notice(raw: bytes, who: Identity, language: str) -> bytes:
    """A short message standing where a deleted one was: same Message-ID, date and
    threading headers (replies keep their place), the former member as author."""
    msg = EmailMessage(policy=_POLICY)
    try:
        original = email.message_from_bytes(raw, policy=email.policy.default)
        kept = [(name, str(original[name])) for name in _NOTICE_HEADERS if original[name] is not None]
    except Exception:  # hostile headers: the notice keeps nothing of them
        kept = []
    msg["From"] = former_member_from(who)
    for name, value in kept:
        try:
            msg[name] = who.scrub(value).replace("\r", " ").replace("\n", " ")
        except Exception:
            continue
    msg.set_content(removed_notice(language) + "\n")
    return msg.as_bytes()


def _without_signature(text: str) -> str:
    found = list(_SIGNATURE_LINE.finditer(text))
    return text[:found[-1].start()].rstrip() + "\n" if found else text


def _rewrite_headers(msg: EmailMessage, who: Identity, own: bool) -> None:
    spelling: dict[str, str] = {}
    for key in msg.keys():
        spelling.setdefault(key.lower(), key)  # re-added under the name the sender wrote
    for lowered, name in spelling.items():
        values = [str(v) for v in msg.get_all(name, [])]
        if lowered == "from" and (own or any(who.named_in(v) for v in values)):
            del msg[name]
            msg[name] = former_member_from(who)
        elif own and lowered in _TRACE_HEADERS:
            del msg[name]
        elif lowered in ("to", "cc") and any(who.named_in(v) for v in values):
            others = [a for a in email.utils.getaddresses(values) if not who.named_in(f"{a[0]} {a[1]}")]
            del msg[name]
            if others:
                msg[name] = ", ".join(email.utils.formataddr(a) for a in others)
        elif any(who.named_in(v) for v in values):
            del msg[name]
            for value in values:
                msg[name] = who.scrub(value).replace("\r", " ").replace("\n", " ")


def _rewrite_text_part(part: EmailMessage, who: Identity, own: bool) -> None:
    text = part.get_content()
    new = who.scrub(_without_signature(text) if own else text)
    if new == text:
        return
    disposition, filename = part.get_content_disposition(), part.get_filename()
    part.set_content(new, subtype=part.get_content_subtype(), charset="utf-8",
                     disposition=disposition, filename=filename)


def names_them(raw: bytes, who: Identity) -> bool:
    """Whether a mail names the person in its headers or text, however encoded; a mail that
    cannot be read counts as naming them (erasure removes it rather than keep a doubt)."""
    if who.named_in(raw.decode("utf-8", "replace")):
        return True
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        if any(who.named_in(str(value)) for value in msg.values()):
            return True
        return any(who.named_in(part.get_content()) for part in walk_parts(msg)  # type: ignore[attr-defined]
                   if not part.is_multipart() and part.get_content_maintype() == "text")
    except Exception:
        return True


def redact(raw: bytes, who: Identity, *, own: bool, language: str) -> bytes:
    """The message without the person: `own` (their message) also loses its trace headers
    and signature block, and its author becomes the former member. A message that cannot be
    rewritten safely becomes the removal notice."""
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        _rewrite_headers(msg, who, own)  # type: ignore[arg-type]
        for part in walk_parts(msg):
            if not part.is_multipart() and part.get_content_maintype() == "text":
                _rewrite_text_part(part, who, own)  # type: ignore[arg-type]
        new = msg.as_bytes(policy=_POLICY)
    except Exception:  # UnreadableMessage, or a structure the email package cannot rewrite
        return removal_notice(raw, who, language)
    if who.named_in(new.decode("utf-8", "replace")):
        # Still named somewhere (an encoded attachment name, a part we could not decode).
        return removal_notice(raw, who, language)
    return new
