"""What of a message's text is the author's own: the index and the snippets leave out the
quoted text (another message of the topic, indexed there) and the signature.

Mail clients quote in two ways: `> ` lines (under an attribution line such as "Le 3 mars,
X a écrit :"), and Outlook's top-posting, where everything below "-----Original
Message-----" or a "De : … Envoyé : …" header block is the previous message. A signature
starts at the standard "-- " line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ATTRIBUTION = re.compile(
    r"^(le |on |am |el |il )?.{0,160}(a écrit|a ecrit|wrote|schrieb|escribió|ha scritto)\s*:\s*$",
    re.IGNORECASE)
# A forwarded message ("Message transféré") is not quoted: it is what the author shares.
_ORIGINAL = re.compile(
    r"^\s*(-{2,}\s*(original message|message d'origine|ursprüngliche nachricht|mail original)\s*-{2,}"
    r"|_{10,})\s*$", re.IGNORECASE)
# Outlook's header block of the quoted message: "De : …" followed within a few lines by
# "Envoyé : …" / "Date : …" / "Objet : …".
_HEADER_FROM = re.compile(r"^\s*\**(de|from|von)\s*:\**\s", re.IGNORECASE)
_HEADER_NEXT = re.compile(r"^\s*\**(envoyé|envoye|sent|gesendet|date|objet|subject|à|to|an)\s*:", re.IGNORECASE)
_SIGNATURE = re.compile(r"^-- ?$")


@dataclass(frozen=True)
class TextParts:
    own: str
    quoted: str


def _is_header_block(lines: list[str], i: int) -> bool:
    if not _HEADER_FROM.match(lines[i]):
        return False
    return any(_HEADER_NEXT.match(line) for line in lines[i + 1:i + 4])


def split_quoted(text: str) -> TextParts:
    """The author's own text and the text they quote; the signature is dropped."""
    lines = text.splitlines()
    own: list[str] = []
    quoted: list[str] = []
    for i, line in enumerate(lines):
        if _ORIGINAL.match(line) or _is_header_block(lines, i):
            # Top-posting: the rest is the quoted message, whatever it contains.
            quoted.extend(lines[i:])
            break
        if _SIGNATURE.match(line):
            # The signature runs until quoted text starts again (bottom-quoting after it is rare).
            rest = lines[i + 1:]
            start = next((j for j, ln in enumerate(rest) if ln.startswith(">")), len(rest))
            quoted.extend(ln.lstrip("> ") for ln in rest[start:] if ln.startswith(">"))
            break
        if line.startswith(">"):
            quoted.append(line.lstrip("> "))
        elif _ATTRIBUTION.match(line.strip()) and _next_is_quote(lines, i):
            continue
        else:
            own.append(line)
    return TextParts("\n".join(own).strip(), "\n".join(quoted).strip())


def _next_is_quote(lines: list[str], i: int) -> bool:
    following = next((ln for ln in lines[i + 1:] if ln.strip()), "")
    return following.startswith(">")
