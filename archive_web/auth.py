"""Who is reading: the signed-in person (from the session cookie) or an anonymous reader,
and what they may read."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from flask import abort, g, redirect, request, session, url_for

from archive_web.bodies import HIDE, OBFUSCATE
from archive_web.db import db, forum_config
from storage.models import Person, Role


@dataclass(frozen=True)
class Reader:
    person_id: int | None
    name: str
    role: Role | None

    @property
    def is_member(self) -> bool:
        return self.role in (Role.MEMBER, Role.MODERATOR, Role.ADMIN)

    @property
    def is_moderator(self) -> bool:
        return self.role in (Role.MODERATOR, Role.ADMIN)


ANONYMOUS = Reader(None, "", None)


def current_reader() -> Reader:
    """The reader of this request; a session naming a person who is gone is anonymous."""
    if "reader" not in g:
        person_id = session.get("person_id")
        person = db().get(Person, person_id) if isinstance(person_id, int) else None
        g.reader = Reader(person.id, person.name, person.role) if person is not None else ANONYMOUS
    return g.reader


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
