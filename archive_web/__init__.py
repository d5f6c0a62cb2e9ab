"""The web archive: create_app(config) builds the Flask application, one blueprint per area."""

from __future__ import annotations

from flask import Flask, g
from storage.db import Engine

from storage.config import TEMPLATES_DIR, Config, secret_key
from storage.db import make_engine


def create_app(config: Config, engine: Engine | None = None) -> Flask:
    app = Flask(__name__, template_folder=str(TEMPLATES_DIR / "web"))
    app.config.update(SECRET_KEY=secret_key(config), SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_SECURE=config.forum.base_url.startswith("https://"))
    app.extensions["relais.config"] = config
    app.extensions["relais.engine"] = engine or make_engine(config.database_url)

    from archive_web import topics

    app.register_blueprint(topics.bp)

    @app.context_processor
    def forum() -> dict[str, object]:
        return {"forum": config.forum}

    @app.teardown_appcontext
    def close_session(_exc: BaseException | None) -> None:
        session = g.pop("db", None)
        if session is not None:
            session.close()

    return app
