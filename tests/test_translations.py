"""The web archive speaks French and English: every text of the pages goes through gettext,
every one has its French translation, and the compiled catalogue is the one in the .po."""

from __future__ import annotations

import io
import re

from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from storage.config import REPO_DIR, TEMPLATES_DIR

FR_PO = REPO_DIR / "translations" / "fr" / "LC_MESSAGES" / "messages.po"


def french_catalogue():  # type: ignore[no-untyped-def]
    with FR_PO.open("rb") as f:
        return read_po(f, locale="fr")


def extracted_messages() -> set[str]:
    with (REPO_DIR / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f)
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(REPO_DIR, method_map, options_map):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found


def test_every_text_of_the_pages_has_a_french_translation():
    catalogue = french_catalogue()
    untranslated = sorted(
        msgid for msgid in extracted_messages()
        if (entry := catalogue.get(msgid)) is None or entry.fuzzy
        or not (all(entry.string) if isinstance(entry.string, tuple) else entry.string))
    assert not untranslated, "run `make translations` and translate in messages.po: " + "; ".join(untranslated)


def test_the_compiled_catalogue_is_the_one_in_the_po_file():
    compiled = io.BytesIO()
    write_mo(compiled, french_catalogue())
    assert (FR_PO.with_suffix(".mo")).read_bytes() == compiled.getvalue(), "run `make translations`"


_JINJA = re.compile(r"\{#.*?#\}|\{%.*?%\}|\{\{.*?\}\}", re.S)
_UNTRANSLATED_OK = re.compile(r"<code>.*?</code>|<(script|style)\b.*?</\1>|&\w+;|&#\d+;", re.S)


def test_no_page_template_has_text_outside_gettext():
    offenders = {}
    for path in sorted((TEMPLATES_DIR / "web").rglob("*.html")):
        source = _UNTRANSLATED_OK.sub(" ", _JINJA.sub(" ", path.read_text()))
        words = re.findall(r"[^\W\d_]{2,}", re.sub(r"<[^>]*>", " ", source))
        if words:
            offenders[path.relative_to(TEMPLATES_DIR).as_posix()] = words[:8]
    assert not offenders
