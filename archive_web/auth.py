"""Who is reading: the signed-in person (from the session cookie) or an anonymous reader,
and what they may read."""

from __future__ import annotations

from dataclasses import dataclass

from flask import g, session

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
