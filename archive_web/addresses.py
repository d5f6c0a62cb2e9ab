"""Addresses in what this request shows, for its reader: hidden from visitors, obfuscated for
members (storage.address_masking says how). `for_reader` serves views and feeds; the
`masked` template filter serves every name, title and subject a template prints."""

from __future__ import annotations

from flask import g
from flask_babel import gettext as _

from archive_web.auth import address_mode
from storage.address_masking import mask_addresses_in_text


def reader_masking() -> tuple[str, str]:
    """(mode, label for a hidden address) for this request's reader, looked up once."""
    if "address_masking" not in g:
        g.address_masking = (address_mode(), _("(address hidden)"))
    return g.address_masking


def for_reader(text: str | None) -> str:
    """The text with its addresses hidden or obfuscated for this request's reader."""
    return mask_addresses_in_text(text, *reader_masking()) if text else ""


def masked(text: object) -> str:
    """Template filter: `{{ topic.subject|masked }}`."""
    return for_reader(str(text)) if text is not None else ""
