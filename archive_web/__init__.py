"""The web archive: create_app(config, engine) builds the Flask application, one blueprint
per area, with the reader's language (Flask-Babel), CSRF protection on every form
(Flask-WTF) and error pages in the reader's language."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask, Response, abort, current_app, g, request, url_for
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import BuildError

from archive_web.auth import ANONYMOUS, Reader, current_reader, may_read_bodies
from archive_web.csrf import csrf
from archive_web.errors import register_error_pages
from archive_web.i18n import LANGUAGE_NAMES, current_language, init_babel
from storage.config import REPO_DIR, TEMPLATES_DIR, Config, secret_key
from storage.db import Engine, make_engine

# What the browser may load: our own files only. Sanitised mail HTML keeps no remote image,
# and this policy stops one that would slip through.
CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self' data:; style-src 'self'; "
                           "script-src 'self'; object-src 'none'; frame-ancestors 'none'; "
                           "base-uri 'none'; form-action 'self'")


def create_app(config: Config, engine: Engine | None = None) -> Flask:
    app = Flask(__name__, template_folder=str(TEMPLATES_DIR / "web"),
                static_folder=str(REPO_DIR / "static"))
    https = config.forum.base_url.startswith("https://")
    app.config.update(SECRET_KEY=secret_key(config), SESSION_COOKIE_NAME="relais_session",
                      SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_SECURE=https,
                      PERMANENT_SESSION_LIFETIME=timedelta(days=config.web.session_days),
                      # A page left open for an afternoon still sends its form.
                      WTF_CSRF_TIME_LIMIT=12 * 3600, WTF_CSRF_SSL_STRICT=https,
                      # No request body larger than a post with its attachments (the writing
                      # forms check the exact size of the message they build): 413 before reading.
                      MAX_CONTENT_LENGTH=config.smtp.max_message_size * 2 + 1024 * 1024)
    app.extensions["relais.config"] = config
    app.extensions["relais.engine"] = engine or make_engine(config.database_url)

    if config.web.trusted_proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=config.web.trusted_proxies,  # type: ignore[method-assign]
                                x_proto=config.web.trusted_proxies)
    init_babel(app, config)
    @app.before_request
    def refuse_oversized_body() -> None:
        # Before the CSRF check reads the form: a body over the bound is never read.
        if (request.content_length or 0) > app.config["MAX_CONTENT_LENGTH"]:
            abort(413)

    csrf.init_app(app)
    register_error_pages(app)

    from archive_web import (account, feeds, files, i18n, moderation, moderation_topics, obstacles, pages, search,
                             sign_in, topics, unsubscribe)

    for module in (topics, pages, files, feeds, sign_in, account, i18n, search, unsubscribe,
                   moderation, moderation_topics, obstacles):
        app.register_blueprint(module.bp)
    from archive_web import posting
    app.register_blueprint(posting.bp)
    from archive_web import oidc
    app.register_blueprint(oidc.bp)
    from archive_web import moderation_unreadable
    app.register_blueprint(moderation_unreadable.bp)
    from archive_web import erasure, privacy
    app.register_blueprint(privacy.bp)
    app.register_blueprint(erasure.bp)

    @app.context_processor
    def page_context() -> dict[str, object]:
        return {"forum": config.forum, "reader": _reader_or_anonymous(),
                "may_read": _may_read_or_not(), "language": current_language(),
                "language_names": LANGUAGE_NAMES, "url_if": url_if}

    @app.after_request
    def security_headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers["X-Content-Type-Options"] = "nosniff"
        # Sign-in and unsubscribe links carry tokens: never send them on in a Referer.
        response.headers["Referrer-Policy"] = "same-origin"
        if "reader" in g and g.reader.person_id is not None:
            response.headers["Cache-Control"] = "private, no-store"
        return response

    @app.teardown_appcontext
    def close_session(_exc: BaseException | None) -> None:
        session = g.pop("db", None)
        if session is not None:
            session.close()

    return app


def url_if(endpoint: str, **values: object) -> str | None:
    """The URL of a page if the application has it (the search page is another area's)."""
    if endpoint not in current_app.view_functions:
        return None
    try:
        return url_for(endpoint, **values)
    except BuildError:
        return None


def _reader_or_anonymous() -> Reader:
    # The 500 page must render even when the database is what failed.
    try:
        return current_reader()
    except Exception:
        return ANONYMOUS


def _may_read_or_not() -> bool:
    try:
        return may_read_bodies()
    except Exception:
        return False
