"""Addresses in what this request shows, for its reader: hidden from visitors, obfuscated for
members (storage.address_masking says how). `for_reader` serves views and feeds; the
`masked` template filter serves every name, title and subject a template prints."""

from __future__ import annotations

from flask_babel import gettext as _

from archive_web.auth import address_mode
from storage.address_masking import mask_addresses_in_text


def hidden_label() -> str:
    return _("(address hidden)")


def for_reader(text: str | None) -> str:
    """The text with its addresses hidden or obfuscated for this request's reader."""
    return mask_addresses_in_text(text or "", address_mode(), hidden_label())


def masked(text: object) -> str:
    """Template filter: `{{ topic.subject|masked }}`."""
    return for_reader(str(text) if text is not None else "")
