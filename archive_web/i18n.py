"""The reader's language and time zone.

A signed-in person reads in their own language (people.language, chosen on /account or by
the language links). Anyone else reads in the one they chose (a long-lived cookie set by
/language/<code>), else the best match of the browser's Accept-Language, else the forum's
default. The languages are those with a catalogue in translations/ (storage.languages).
Dates are shown in the forum's time zone.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from babel import Locale
from babel.dates import get_timezone
from babel.support import NullTranslations
from flask import Blueprint, Flask, Response, abort, flash, g, redirect, request
from flask_babel import Babel, format_decimal, get_locale, get_translations, ngettext
from flask_babel import gettext as _

from archive_web.db import forum_config, write_session
from archive_web.redirects import safe_next
from storage.config import Config
from storage.languages import TRANSLATIONS_DIR, available_languages, language_names, supported_language
from storage.models import Person

LANGUAGES = available_languages()
LANGUAGE_NAMES = language_names()
COOKIE = "relais_lang"

bp = Blueprint("language", __name__)


def select_locale() -> str:
    from archive_web.auth import current_reader  # auth needs browser_language from here

    try:
        chosen = current_reader().language
    except Exception:  # the database is away: a page in the browser's language still beats none
        chosen = None
    return supported_language(chosen) or browser_language() or forum_config().forum.default_language


def browser_language() -> str | None:
    """The language this browser chose (the cookie), else the best of its Accept-Language."""
    chosen = request.cookies.get(COOKIE)
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(LANGUAGES)


def current_language() -> str:
    return str(get_locale() or forum_config().forum.default_language)


def init_babel(app: Flask, config: Config) -> None:
    app.config.update(BABEL_DEFAULT_LOCALE=config.forum.default_language,
                      BABEL_DEFAULT_TIMEZONE=config.forum.timezone,
                      BABEL_TRANSLATION_DIRECTORIES=str(TRANSLATIONS_DIR))
    Babel(app, locale_selector=select_locale)
    # Flask-Babel looks the catalogue up anew for every text; a page has hundreds of them.
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=lambda text: _translations().ugettext(text),
        ngettext=lambda one, many, n: _translations().ungettext(one, many, n), newstyle=True)
    app.add_template_filter(filesize)
    app.add_template_filter(moment)

    @app.after_request
    def vary_on_language(response: Response) -> Response:
        # Caches must not serve a French page to an English reader.
        response.vary.add("Accept-Language")
        response.vary.add("Cookie")
        return response


def moment(when: datetime, style: str = "medium") -> str:
    """A date and time in the reader's language and the forum's time zone, to the minute
    ("23 nov. 2026, 10:00" / "Nov 23, 2026, 10:00 AM")."""
    return moment_in(when, current_language(), forum_config().forum.timezone, style)


@lru_cache(maxsize=65536)
def moment_in(when: datetime, language: str, zone: str, style: str = "medium") -> str:
    # Cached: a thread page shows hundreds of dates, the same ones at every visit.
    locale, local = Locale.parse(language), when.astimezone(get_timezone(zone))
    return f"{locale.date_formats[style].apply(local, locale)}, {locale.time_formats['short'].apply(local, locale)}"


def filesize(size: int) -> str:
    """A file's size as people read it, in their language ("12,5 Ko" / "12.5 KB")."""
    if size < 1024:
        return ngettext("%(num)d byte", "%(num)d bytes", size)
    if size < 1024 * 1024:
        return _("%(size)s KB", size=format_decimal(round(size / 1024, 1)))
    return _("%(size)s MB", size=format_decimal(round(size / (1024 * 1024), 1)))


def _translations() -> NullTranslations:
    if "translations" not in g:
        g.translations = get_translations()
    return g.translations


@bp.get("/language/<code>")
def choose(code: str) -> Response:
    """Remember the reader's language (a plain link: it works without JavaScript)."""
    response = redirect(safe_next(request.args.get("next")))
    if code in LANGUAGES:
        response.set_cookie(COOKIE, code, max_age=365 * 24 * 3600, httponly=True, samesite="Lax",
                            secure=forum_config().forum.base_url.startswith("https://"))
    return response


@bp.post("/language")
def choose_for_person() -> Response:
    """A signed-in person's language (the form on /account and the language buttons): kept on
    the person, so that their pages and every mail to them follow it, across sign-ins."""
    from archive_web.auth import current_reader, require_member

    require_member()
    code = supported_language(request.form.get("language"))
    if code is None:
        abort(400)
    with write_session() as s:
        person = s.get(Person, current_reader().person_id)
        if person is not None:
            person.language = code
    flash(_("Your choice is saved."))
    response = choose(code)
    response.headers["Location"] = safe_next(request.form.get("next"))
    return response
