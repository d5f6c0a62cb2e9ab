"""Signing in by a one-time link sent by mail (no password), and signing out.

The link is signed and expires (storage.tokens), and is recorded in the database so that it
works once (storage.sign_in). Whether or not the address is a member's, the answer is the
same and so is the work done before it, so neither the form nor the time it takes tells who
is a member. Requests are rate-limited per
address and per client IP, in the database (storage.rate_limits). `[web] sign_in_by_mail`
switches the link off (the members' space, archive_web.oidc, then being the way in).

Either way, signing in opens a server-side session (archive_web.auth.start_session);
signing out revokes it, so a copy of the cookie is worth nothing afterwards.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from archive_web.auth import SESSION_KEY, current_reader, session_lifetime, start_session
from archive_web.db import db, forum_config, write_session
from archive_web.i18n import current_language
from archive_web.oidc import provider_logout_url
from archive_web.redirects import safe_next
from mailgateway.notices import queue_notice
from storage.config import secret_key
from storage.db import Session
from storage.models import utcnow
from storage.people import language_at, normalise_address, person_by_address
from storage.rate_limits import allow
from storage.sign_in import create_sign_in_link, sign_in_link_state, use_sign_in_link
from storage.tokens import make_token, read_token
from storage.web_sessions import (
    ActiveSession,
    active_web_session,
    revoke_other_web_sessions,
    revoke_web_session,
    web_sessions_of,
)

bp = Blueprint("sign_in", __name__)

PURPOSE = "sign-in"
_PLAUSIBLE_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
WINDOW = timedelta(hours=1)


def _sign_in_page(next_path: str, address: str = "", error: str | None = None) -> str:
    config = forum_config()
    return render_template("sign_in.html", next=next_path, address=address, error=error,
                           by_mail=config.web.sign_in_by_mail, oidc=config.oidc)


def _by_mail() -> None:
    if not forum_config().web.sign_in_by_mail:
        abort(404)


@bp.get("/sign-in")
def form() -> str:
    return _sign_in_page(safe_next(request.args.get("next")))


@bp.post("/sign-in")
def request_link() -> tuple[str, int] | str:
    _by_mail()
    config = forum_config()
    address = normalise_address(request.form.get("address", ""))[:320]
    next_path = safe_next(request.form.get("next"))
    if not _PLAUSIBLE_ADDRESS.match(address):
        return _sign_in_page(next_path, address, _("Please give an email address, such as name@example.org.")), 400
    now = utcnow()
    with write_session() as s:
        allowed = allow(s, {f"sign-in:ip:{request.remote_addr}": config.web.sign_in_limit_per_ip,
                            f"sign-in:address:{address}": config.web.sign_in_limit_per_address}, WINDOW, now)
        if allowed:
            _mail_link_if_member(s, address, next_path, now)
    if not allowed:
        return render_template("sign_in_step.html", step="limited"), 429
    # The same answer for every address: nobody learns from it who is a member.
    return render_template("sign_in_step.html", step="sent", address=address)


def _mail_link_if_member(s: Session, address: str, next_path: str, now: datetime) -> None:
    """The same work for every address — a link recorded and signed, its mail written and
    queued — so that the time of the answer tells nobody who is a member. For an address
    that is not a member's, it is all withdrawn (back to a savepoint) before the commit."""
    config = forum_config()
    person = person_by_address(s, address)
    member_id = person.id if person is not None and person.is_member else None
    minutes = config.web.sign_in_link_minutes
    savepoint = s.begin_nested()
    nonce = create_sign_in_link(s, member_id, address, now, timedelta(minutes=minutes))
    token = make_token(secret_key(config), PURPOSE, {"n": nonce, "next": next_path})
    link = config.forum.base_url.rstrip("/") + url_for("sign_in.confirm", token=token)
    queue_notice(s, config, to=address, name="sign_in", purpose="sign-in",
                 language=language_at(s, address) or current_language(),
                 link=link, minutes=minutes)
    s.flush()
    if member_id is None:
        savepoint.rollback()
    else:
        savepoint.commit()


def _read(token: str) -> dict[str, str] | None:
    config = forum_config()
    payload = read_token(secret_key(config), PURPOSE, token, max_age=config.web.sign_in_link_minutes * 60)
    return payload if isinstance(payload, dict) and isinstance(payload.get("n"), str) else None


@bp.get("/sign-in/<token>")
def confirm(token: str) -> tuple[str, int] | str:
    """The page the mailed link opens: one button. Mail scanners that follow links see it
    without using the link up; the button's POST signs in."""
    _by_mail()
    payload = _read(token)
    state = sign_in_link_state(db(), payload["n"], utcnow()) if payload else "expired"
    if state != "valid":
        return render_template("sign_in_step.html", step=state), 410 if state in ("used", "expired") else 404
    return render_template("sign_in_step.html", step="confirm", token=token)


@bp.post("/sign-in/<token>")
def use(token: str) -> Response | tuple[str, int]:
    _by_mail()
    payload = _read(token)
    with write_session() as s:
        person_id = use_sign_in_link(s, payload["n"], utcnow()) if payload else None
        state = "valid" if person_id else (sign_in_link_state(s, payload["n"], utcnow()) if payload else "expired")
    if person_id is None:
        return render_template("sign_in_step.html", step=state), 410 if state in ("used", "expired") else 404
    start_session(person_id, "mail")
    flash(_("You are signed in."))
    return redirect(safe_next(payload.get("next") if payload else None))


@bp.post("/sign-out")
def sign_out() -> Response:
    """End this browser's session on the server, then, for a session opened with the
    members' space, at the provider too (RP-initiated logout, when it offers it)."""
    config = forum_config()
    reader = current_reader()
    sid = session.get(SESSION_KEY)
    found = active_web_session(db(), sid, utcnow(), session_lifetime()) if isinstance(sid, str) else None
    if found is not None:
        with write_session() as s:
            revoke_web_session(s, found.id, utcnow())
    session.clear()
    flash(_("You are signed out."))
    if reader.method == "oidc" and found is not None:
        provider = provider_logout_url(config, found.id_token)
        if provider is not None:
            return redirect(provider)
    return redirect(url_for("topics.index"))


@bp.post("/account/sessions/sign-out-elsewhere")
def sign_out_elsewhere() -> Response:
    """End every other session of the signed-in person (a lost phone, a shared computer)."""
    reader = current_reader()
    if reader.person_id is None or reader.session_id is None:
        return redirect(url_for("sign_in.form"))
    with write_session() as s:
        ended = revoke_other_web_sessions(s, reader.person_id, reader.session_id, utcnow())
    flash(ngettext("%(num)d other session is signed out.", "%(num)d other sessions are signed out.", ended))
    return redirect(url_for("account.account"))


@bp.app_context_processor
def sessions_context() -> dict[str, object]:
    def my_sessions() -> list[ActiveSession]:
        reader = current_reader()
        return web_sessions_of(db(), reader.person_id, utcnow(), session_lifetime()) if reader.person_id else []
    return {"my_sessions": my_sessions}


# Enough to tell one's browsers apart on the account page; the full string is not shown.
_BROWSERS = (("Edg/", "Edge"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"), ("Safari/", "Safari"))
_SYSTEMS = (("Android", "Android"), ("iPhone", "iPhone"), ("iPad", "iPad"), ("Windows", "Windows"),
            ("Mac OS X", "macOS"), ("Linux", "Linux"))


@bp.app_template_filter("browser_name")
def browser_name(user_agent: str) -> str:
    browser = next((name for mark, name in _BROWSERS if mark in user_agent), None)
    system = next((name for mark, name in _SYSTEMS if mark in user_agent), None)
    if browser and system:
        return _("%(browser)s on %(system)s", browser=browser, system=system)
    return browser or system or _("Unknown browser")
