"""The languages Relais speaks, and which one a person reads.

English is the language of the source texts; every folder translations/<code>/ with a
compiled catalogue adds one. Adding a language is copying a catalogue, translating it and
compiling it (and writing templates/mail/<name>.<code>.txt): no code names the languages.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.support import NullTranslations, Translations

from storage.config import REPO_DIR, ConfigError

SOURCE_LANGUAGE = "en"
TRANSLATIONS_DIR = REPO_DIR / "translations"


@lru_cache(maxsize=1)
def available_languages() -> tuple[str, ...]:
    """English, then every language with a compiled catalogue, in alphabetical order."""
    found = sorted(p.parent.parent.name for p in TRANSLATIONS_DIR.glob("*/LC_MESSAGES/messages.mo"))
    return (SOURCE_LANGUAGE, *(code for code in found if code != SOURCE_LANGUAGE))


def check_spoken(key: str, code: str) -> None:
    """Refuse a setting naming a language Relais does not speak."""
    if code not in available_languages():
        raise ConfigError(f"{key}: {code!r} is not one of {', '.join(available_languages())}")


def supported_language(tag: object) -> str | None:
    """The language Relais speaks for a tag such as "de", "de-CH", "de_DE" or "FR"; None if
    it speaks none of it (or the tag is not a language tag)."""
    if not isinstance(tag, str) or not 0 < len(tag) <= 35:
        return None
    code = tag.strip().replace("_", "-").split("-")[0].lower()
    return code if code in available_languages() else None


def language_names() -> dict[str, str]:
    """Each language in its own words ("Deutsch", "English", "Français")."""
    names = {}
    for code in available_languages():
        try:
            names[code] = Locale.parse(code).get_display_name(code).capitalize()
        except (UnknownLocaleError, ValueError):
            names[code] = code
    return names


def language_of(chosen: str | None, default: str) -> str:
    """The language to write to a person in: theirs when they have one, else `default`."""
    return supported_language(chosen) or supported_language(default) or SOURCE_LANGUAGE


@lru_cache(maxsize=32)
def translations(language: str) -> NullTranslations:
    """The catalogue of `language`, for texts written outside a web request (mail, reports);
    English, the source, when it has none."""
    return Translations.load(str(TRANSLATIONS_DIR), [language])


def first_supported(tags: Iterable[str]) -> str | None:
    return next((code for code in map(supported_language, tags) if code), None)
