"""Organisations, people, their addresses and subscriptions."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from storage.languages import supported_language
from storage.models import Address, DeliveryMode, Organisation, OrganisationKind, Person, Role, Subscription


def normalise_address(address: str) -> str:
    return address.strip().lower()


def person_by_address(session: Session, address: str) -> Person | None:
    return session.scalar(select(Person).join(Address).where(Address.email == normalise_address(address)))


@dataclass(frozen=True)
class Poster:
    """Who wrote a message, as the pipeline needs it: an id and a role, no ORM entity."""

    person_id: int
    role: Role


_people, _addresses = Person.__table__, Address.__table__
_POSTER = (select(_people.c.id, _people.c.role)
           .join(_addresses, _addresses.c.person_id == _people.c.id)
           .where(_addresses.c.email == bindparam("email")))


def language_at(session: Session, address: str) -> str | None:
    """The language of the person at `address`; None when unknown or not yet chosen."""
    found = session.scalar(select(Person.language).join(Address).where(Address.email == normalise_address(address)))
    return supported_language(found)


def guess_language(person: Person | None, language: str | None) -> None:
    """Keep `language` as the person's until they choose one (a command they wrote in it, the
    browser they signed in with); a language already chosen or guessed stays."""
    if person is not None and person.language is None:
        person.language = supported_language(language)


def poster(session: Session, address: str) -> Poster | None:
    row = session.execute(_POSTER, {"email": normalise_address(address)}).first()
    return Poster(row.id, Role(row.role)) if row else None


def organisation_named(session: Session, name: str, kind: OrganisationKind) -> Organisation:
    org = session.scalar(select(Organisation).where(Organisation.name == name))
    if org is None:
        org = Organisation(name=name, kind=kind)
        session.add(org)
    else:
        org.kind = kind
    return org


def archive_author(session: Session, name: str, address: str) -> Poster | None:
    """A new person with no rights for an unknown author's address (imported mail)."""
    if not address:
        return None
    person = Person(name=name[:200], role=Role.ARCHIVE)
    person.addresses.append(Address(email=normalise_address(address)[:320]))
    session.add(person)
    session.flush()
    return Poster(person.id, Role.ARCHIVE)


@dataclass(frozen=True)
class MemberRow:
    email: str
    name: str
    organisation: str
    organisation_kind: OrganisationKind
    role: Role
    language: str | None = None  # None: leave the person's language as it is


def upsert_member(session: Session, row: MemberRow, default_mode: DeliveryMode) -> bool:
    """Create or update a member from an import row; True if the person was created.

    A person known only as an archive author becomes a member; a new member is subscribed
    with the forum's default delivery mode, an existing subscription is left as chosen.
    """
    org = organisation_named(session, row.organisation, row.organisation_kind) if row.organisation else None
    person = person_by_address(session, row.email)
    created = person is None
    if person is None:
        person = Person()
        person.addresses.append(Address(email=normalise_address(row.email)))
        session.add(person)
    person.name = row.name or person.name
    person.organisation = org
    person.role = row.role
    if row.language:
        person.language = row.language
    if person.subscription is None:
        person.subscription = Subscription(mode=default_mode)
    session.flush()
    return created
