"""Organisations, people, their addresses and subscriptions."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

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
    if person.subscription is None:
        person.subscription = Subscription(mode=default_mode)
    session.flush()
    return created
