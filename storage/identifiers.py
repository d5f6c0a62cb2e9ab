"""The bounded forms in which identifiers taken from mail are stored and looked up.

Columns and indexes have limits (VARCHAR(995), VARCHAR(320); a PostgreSQL btree entry holds
about 2,700 bytes) that SQLite does not enforce: a value past them would be refused by one
database and stored by the other. Everything read from a message goes through here before
it reaches a column, so both databases give the same answer. The raw bytes keep the
original whole.
"""

from __future__ import annotations

import hashlib

# UTF-8 bytes, not characters: 995 CJK characters are 2,985 bytes, too many for an index.
MAX_MESSAGE_ID_BYTES = 995
HASHED_PREFIX = "sha256:"
# RFC 5321 4.5.3.1.3: a path is at most 256 octets, angle brackets included.
MAX_ADDRESS_LENGTH = 254


def stored_message_id(message_id: str) -> str:
    """The Message-ID as stored and looked up: itself, or when too long for a column and
    its index, `sha256:` and the hex digest of its UTF-8 bytes (stable: a reply naming the
    same long id finds it)."""
    encoded = message_id.encode("utf-8", "surrogatepass")
    if len(encoded) <= MAX_MESSAGE_ID_BYTES and not message_id.startswith(HASHED_PREFIX):
        return message_id
    return HASHED_PREFIX + hashlib.sha256(encoded).hexdigest()


def stored_address(address: str) -> str:
    """An address as stored, or "" when no SMTP path can carry it: cutting it short could
    name somebody else, so an over-long address is treated as no address at all."""
    if len(address) > MAX_ADDRESS_LENGTH:
        return ""
    # No NUL or lone surrogate (an undecodable byte): PostgreSQL refuses both.
    return address.encode("utf-8", "replace").decode("utf-8").replace("\x00", "")
