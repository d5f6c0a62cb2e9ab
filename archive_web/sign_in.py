"""Signing in by a one-time link sent by mail (no password), and signing out.

The link is signed and expires (storage.tokens), and is recorded in the database so that it
works once (storage.sign_in). Whether or not the address is a member's, the answer is the
same, so the form cannot be used to find out who is a member. Requests are rate-limited per
address and per client IP, in the database (storage.rate_limits).
"""

from __future__ import annotations

import re
from datetime import timedelta

from flask import Blueprint, Response, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from archive_web.db import db, forum_config, write_session
from archive_web.i18n import current_language, safe_next
from mailgateway.notices import queue_notice
from storage.config import secret_key
from storage.models import utcnow
from storage.people import normalise_address, person_by_address
from storage.rate_limits import allow
from storage.sign_in import create_sign_in_link, sign_in_link_state, use_sign_in_link
from storage.tokens import make_token, read_token

bp = Blueprint("sign_in", __name__)

PURPOSE = "sign-in"
_PLAUSIBLE_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
WINDOW = timedelta(hours=1)


@bp.get("/sign-in")
def form() -> str:
    return render_template("sign_in.html", next=safe_next(request.args.get("next")), address="", error=None)


@bp.post("/sign-in")
def request_link() -> tuple[str, int] | str:
    config = forum_config()
    address = normalise_address(request.form.get("address", ""))[:320]
    next_path = safe_next(request.form.get("next"))
    if not _PLAUSIBLE_ADDRESS.match(address):
        return render_template("sign_in.html", next=next_path, address=address,
                               error=_("Please give an email address, such as name@example.org.")), 400
    now = utcnow()
    with write_session() as s:
        allowed = allow(s, {f"sign-in:ip:{request.remote_addr}": config.web.sign_in_limit_per_ip,
                            f"sign-in:address:{address}": config.web.sign_in_limit_per_address}, WINDOW, now)
        if allowed:
            person = person_by_address(s, address)
            if person is not None and person.is_member:
                minutes = config.web.sign_in_link_minutes
                nonce = create_sign_in_link(s, person.id, address, now, timedelta(minutes=minutes))
                token = make_token(secret_key(config), PURPOSE, {"n": nonce, "next": next_path})
                link = config.forum.base_url.rstrip("/") + url_for("sign_in.confirm", token=token)
                queue_notice(s, config, to=address, name="sign_in", purpose="sign-in",
                             language=current_language(), link=link, minutes=minutes)
    if not allowed:
        return render_template("sign_in_step.html", step="limited"), 429
    # The same answer for every address: nobody learns from it who is a member.
    return render_template("sign_in_step.html", step="sent", address=address)


def _read(token: str) -> dict[str, str] | None:
    config = forum_config()
    payload = read_token(secret_key(config), PURPOSE, token, max_age=config.web.sign_in_link_minutes * 60)
    return payload if isinstance(payload, dict) and isinstance(payload.get("n"), str) else None


@bp.get("/sign-in/<token>")
def confirm(token: str) -> tuple[str, int] | str:
    """The page the mailed link opens: one button. Mail scanners that follow links see it
    without using the link up; the button's POST signs in."""
    payload = _read(token)
    state = sign_in_link_state(db(), payload["n"], utcnow()) if payload else "expired"
    if state != "valid":
        return render_template("sign_in_step.html", step=state), 410 if state in ("used", "expired") else 404
    return render_template("sign_in_step.html", step="confirm", token=token)


@bp.post("/sign-in/<token>")
def use(token: str) -> Response | tuple[str, int]:
    payload = _read(token)
    with write_session() as s:
        person_id = use_sign_in_link(s, payload["n"], utcnow()) if payload else None
        state = "valid" if person_id else (sign_in_link_state(s, payload["n"], utcnow()) if payload else "expired")
    if person_id is None:
        return render_template("sign_in_step.html", step=state), 410 if state in ("used", "expired") else 404
    session.clear()
    session["person_id"] = person_id
    session.permanent = True
    flash(_("You are signed in."))
    return redirect(safe_next(payload.get("next") if payload else None))


@bp.post("/sign-out")
def sign_out() -> Response:
    session.clear()
    flash(_("You are signed out."))
    return redirect(url_for("topics.index"))
