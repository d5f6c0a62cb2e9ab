"""Relais speaks English (the source texts), French and German, and any language given a
catalogue: every text of the pages goes through gettext, every one is translated in every
catalogue, the compiled catalogues are the ones in the .po files, and every mail template
exists in every language."""

from __future__ import annotations

import ast
import io
import re

import pytest

from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from storage.config import REPO_DIR, TEMPLATES_DIR
from storage.languages import SOURCE_LANGUAGE, available_languages

TRANSLATED = [code for code in available_languages() if code != SOURCE_LANGUAGE]


def catalogue_po(language: str):  # type: ignore[no-untyped-def]
    return REPO_DIR / "translations" / language / "LC_MESSAGES" / "messages.po"


def catalogue(language: str):  # type: ignore[no-untyped-def]
    with catalogue_po(language).open("rb") as f:
        return read_po(f, locale=language)


def test_french_and_german_are_spoken():
    assert {"en", "fr", "de"} <= set(available_languages())


def extracted_messages() -> set[str]:
    with (REPO_DIR / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f)
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(REPO_DIR, method_map, options_map):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_text_of_the_pages_is_translated(language: str):
    found = catalogue(language)
    untranslated = sorted(
        msgid for msgid in extracted_messages()
        if (entry := found.get(msgid)) is None or entry.fuzzy
        or not (all(entry.string) if isinstance(entry.string, tuple) else entry.string))
    assert not untranslated, (f"run `make translations` and translate in translations/{language}: "
                              + "; ".join(untranslated))


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_placeholders_of_each_translation_are_those_of_its_text(language: str):
    # A translation that drops or renames %(name)s breaks the page that shows it.
    def names(text: str) -> set[str]:
        return set(re.findall(r"%\((\w+)\)", text))
    wrong = [entry.id for entry in catalogue(language) if entry.id and entry.string
             and names("".join(entry.id) if isinstance(entry.id, tuple) else entry.id)
             != names("".join(entry.string) if isinstance(entry.string, tuple) else entry.string)]
    assert not wrong


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_compiled_catalogue_is_the_one_in_the_po_file(language: str):
    compiled = io.BytesIO()
    write_mo(compiled, catalogue(language))
    assert catalogue_po(language).with_suffix(".mo").read_bytes() == compiled.getvalue(), "run `make translations`"


def test_every_mail_template_exists_in_every_language():
    names = {path.name.split(".")[0] + "." + path.name.split(".", 2)[2] for path in (TEMPLATES_DIR / "mail").iterdir()}
    missing = sorted(f"{name.split('.')[0]}.{language}.{name.split('.', 1)[1]}"
                     for name in names for language in available_languages()
                     if not (TEMPLATES_DIR / "mail" / f"{name.split('.')[0]}.{language}.{name.split('.', 1)[1]}").exists())
    assert not missing


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


def _calls(package: str, name: str):  # type: ignore[no-untyped-def]
    for path in sorted((REPO_DIR / package).glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == name:
                yield path.name, node


def _translated(node: ast.expr) -> bool:
    """A text made by gettext (possibly one of several, chosen), or a variable holding one."""
    if isinstance(node, ast.Name):
        return True
    if isinstance(node, ast.Constant):
        return False
    return any(isinstance(n, ast.Call) and getattr(n.func, "id", "") in ("_", "gettext", "ngettext")
               for n in ast.walk(node)) and not any(
        isinstance(n, (ast.JoinedStr, ast.BinOp)) for n in ast.walk(node))


def test_every_flashed_message_goes_through_gettext():
    offenders = [f"{file}:{node.lineno}" for file, node in _calls("archive_web", "flash")
                 if not (node.args and _translated(node.args[0]))]
    assert not offenders


def test_every_moderation_log_action_is_shown_in_words():
    # The log page shows words from the catalogues, never the stored codes.
    from flask import Flask
    from flask_babel import Babel

    from archive_web.log_labels import _actions

    used = {keyword.value.value for package in ("archive_web", "mailgateway", "storage")
            for _file, node in _calls(package, "log_action") for keyword in node.keywords
            if keyword.arg == "action" and isinstance(keyword.value, ast.Constant)}
    used |= {"close", "reopen", "category", "approve", "reject", "sheet-edit"}  # passed through variables
    app = Flask(__name__)
    Babel(app)
    with app.test_request_context():
        labels = _actions()
    assert "category-create" in used and not used - labels.keys()
    assert all(labels[code] != code for code in used)
