"""Email addresses as Relais shows them to people: hidden from visitors, obfuscated for
members (`alice (at) example.org`) — wherever they occur: an author's name that is an
address, a subject, a body, a search snippet, a feed, a CSV.

Plain text in, plain text out (escape it afterwards, as any text). Shared by the web
archive, search and the mailed report; it reads no database.
"""

from __future__ import annotations

import re

# Whose addresses a text may show, and how.
HIDE, OBFUSCATE = "hide", "obfuscate"

# The local part takes every character RFC 5322 allows unquoted (so no prefix of it is left
# behind when hidden); the domain needs a dot. The at sign may come percent-encoded (links)
# or as the full-width form some mail clients and copy-pastes produce. A match starts only
# where a run of local-part characters starts: trying every position inside a long run
# would make hostile text ("aaaa…a@") cost quadratic time.
_LOCAL = r"[\w.!#$%&'*+/=?^`{|}~-]"
_ADDRESS = re.compile(rf"(?<!{_LOCAL})(?P<local>{_LOCAL}+)(?:@|%40|\uff20)(?P<domain>[\w-]+(?:\.[\w-]+)+)")


def shown_address(address: str, mode: str, hidden_label: str) -> str:
    """One address as it may be shown: the label when hidden, else `local (at) domain`."""
    if mode != OBFUSCATE:  # anything but an explicit "obfuscate" hides: the safe default
        return hidden_label
    found = _ADDRESS.fullmatch(address)
    if found is None:
        local, _, domain = address.partition("@")
        return f"{local} (at) {domain}" if domain else hidden_label
    return f"{found['local']} (at) {found['domain']}"


def mask_addresses_in_text(text: str, mode: str, hidden_label: str) -> str:
    """The text with every address in it hidden or obfuscated."""
    if "@" not in text and "%40" not in text and "\uff20" not in text:
        return text  # the common case, at the cost of one scan
    return _ADDRESS.sub(lambda m: shown_address(m.group(0), mode, hidden_label), text)
