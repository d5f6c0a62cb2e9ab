"""Who is reading: the signed-in person or an anonymous reader, and what they may read.

The session cookie (signed by Flask) holds only a random id; the person comes from the
server-side row it names (storage.web_sessions), so a revoked session reads as anonymous
whatever the browser kept."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import wraps
from typing import Any

from flask import abort, g, redirect, request, session, url_for

from archive_web.bodies import HIDE, OBFUSCATE
from archive_web.db import db, forum_config, write_session
from archive_web.i18n import browser_language
from storage.models import Person, Role, utcnow
from storage.people import guess_language
from storage.web_sessions import (
    TOUCH_EVERY,
    active_web_session,
    forget_old_web_sessions,
    open_web_session,
    touch_web_session,
)

SESSION_KEY = "sid"


@dataclass(frozen=True)
class Reader:
    person_id: int | None
    name: str
    role: Role | None
    session_id: int | None = None
    method: str = ""  # how this browser signed in: "mail" or "oidc"
    language: str | None = None  # the person's, which the pages follow

    @property
    def is_member(self) -> bool:
        return self.role in (Role.MEMBER, Role.MODERATOR, Role.ADMIN)

    @property
    def is_moderator(self) -> bool:
        return self.role in (Role.MODERATOR, Role.ADMIN)


ANONYMOUS = Reader(None, "", None)


def session_lifetime() -> timedelta:
    return timedelta(days=forum_config().web.session_days)


def current_reader() -> Reader:
    """The reader of this request; a revoked or expired session, or one naming a person
    who is gone, is anonymous."""
    if "reader" not in g:
        g.reader = _reader_of_cookie()
    return g.reader


def _reader_of_cookie() -> Reader:
    sid = session.get(SESSION_KEY)
    if not isinstance(sid, str):
        return ANONYMOUS
    now = utcnow()
    found = active_web_session(db(), sid, now, session_lifetime())
    person = db().get(Person, found.person_id) if found is not None else None
    if found is None or person is None:
        return ANONYMOUS
    if found.last_seen_at < now - TOUCH_EVERY:
        with write_session() as s:
            touch_web_session(s, found.id, now)
    return Reader(person.id, person.name, person.role, found.id, found.method, person.language)


def start_session(person_id: int, method: str, *, nonce: str | None = None, id_token: str | None = None) -> None:
    """Sign this browser in: a new server-side session and a fresh cookie naming it (a new
    id at each sign-in, so that an id planted before it is worth nothing)."""
    with write_session() as s:
        # Until the person chooses, the language this browser reads in is theirs.
        guess_language(s.get(Person, person_id), browser_language())
        sid = open_web_session(s, person_id, method, request.headers.get("User-Agent", ""), utcnow(),
                               nonce=nonce, id_token=id_token)
        forget_old_web_sessions(s, utcnow(), session_lifetime())
    session.clear()
    session[SESSION_KEY] = sid
    session.permanent = True
    g.pop("reader", None)


def may_read_bodies() -> bool:
    """Message bodies, authors and attachments: everyone in a public archive, else members."""
    return forum_config().archive.visibility == "public" or current_reader().is_member


def address_mode() -> str:
    """Addresses are never shown to anonymous readers, and obfuscated for members."""
    return OBFUSCATE if current_reader().is_member else HIDE


def require_member() -> Reader:
    """The signed-in member, or a 403 page (which offers to sign in)."""
    reader = current_reader()
    if not reader.is_member:
        abort(403)
    return reader


def members_only(view: Callable[..., Any]) -> Callable[..., Any]:
    """A page of one's own: anonymous readers are sent to sign in (and brought back),
    signed-in people who are not members get a 403 page."""
    @wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        reader = current_reader()
        if reader.person_id is None:
            return redirect(url_for("sign_in.form", next=request.path if request.method == "GET" else None))
        if not reader.is_member:
            abort(403)
        return view(*args, **kwargs)
    return guarded


def signed_in_member() -> int:
    """The signed-in member's person id (in a view guarded by members_only)."""
    person_id = current_reader().person_id
    assert person_id is not None
    return person_id
