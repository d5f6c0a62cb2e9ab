"""Error pages (400, 403, 404, 405, 500, 503) in the reader's language.

When the storage is what failed (the database unreachable or restarting, the disk full),
the answer is 503 with a page saying the archive is briefly unavailable, and a Retry-After:
nothing is wrong with the page asked for, and it comes back by itself.
"""

from __future__ import annotations

import logging

from flask import Flask, render_template
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException, InternalServerError

from archive_web.csrf import CSRFError
from storage.db import is_outage

RETRY_AFTER_SECONDS = 30

log = logging.getLogger("relais.web")


def _titles() -> dict[int, tuple[str, str]]:
    # Built per request: the texts are in the reader's language.
    return {
        400: (_("This request could not be understood"),
              _("Something in the address or the form was not as expected. Go back and try again.")),
        403: (_("This page is for members"),
              _("You need to be signed in as a member of the network to see this page.")),
        404: (_("Page not found"),
              _("There is no page at this address. It may have moved, or the link may be mistyped.")),
        405: (_("This action is not possible here"),
              _("This address does not accept this kind of request.")),
        500: (_("Something went wrong on our side"),
              _("The page could not be shown because of an error in the forum. Nothing you did "
                "caused it; please try again in a moment.")),
        503: (_("The archive is briefly unavailable"),
              _("The forum cannot reach its storage for a moment. Nothing is lost: mail sent to the "
                "forum is kept by the sending servers and delivered when it is back. Please try again "
                "in a minute.")),
    }


def render_error(code: int, title: str | None = None, text: str | None = None) -> tuple[str, int]:
    default_title, default_text = _titles().get(code, _titles()[500])
    return render_template("error.html", code=code, title=title or default_title,
                           text=text or default_text), code


def register_error_pages(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_refused(_error: CSRFError) -> tuple[str, int]:
        return render_error(400, _("This form has expired"),
                            _("For your safety, forms are only valid for a while. Go back, reload "
                              "the page and send the form again."))

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[str, int] | HTTPException:
        if error.code is None or error.code < 400 or error.code == 500:
            return error
        return render_error(error.code if error.code in _titles() else 400)

    @app.errorhandler(InternalServerError)
    def server_error(error: InternalServerError) -> tuple[str, int, dict[str, str]] | tuple[str, int]:
        cause = error.original_exception or error
        if is_outage(cause):
            log.warning("storage unavailable while serving a page: %s", cause)
            page, code = render_error(503)
            return page, code, {"Retry-After": str(RETRY_AFTER_SECONDS)}
        log.error("error serving a page", exc_info=cause)
        return render_error(500)
