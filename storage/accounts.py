"""A member's own settings as the web's "My subscription" page shows and changes them: the
subscription, followed and muted topics, followed categories and the linked addresses.
(The rules of delivery modes, unsubscribing and following are storage.subscriptions'.)
Also: which member a sign-in with the members' space (OpenID Connect) stands for."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storage.models import (
    Address,
    Category,
    CategoryFollow,
    DeliveryMode,
    FollowLevel,
    Message,
    OrganisationKind,
    Person,
    Role,
    Subscription,
    Topic,
    TopicFollow,
)
from storage.people import MemberRow, normalise_address, person_by_address, upsert_member


@dataclass(frozen=True)
class FollowedTopic:
    topic_id: int
    subject: str
    level: FollowLevel


@dataclass(frozen=True)
class Account:
    person: Person
    subscription: Subscription | None
    addresses: list[Address]
    topics: list[FollowedTopic]
    categories: list[tuple[Category, bool]]  # every category, and whether it is followed


def account(session: Session, person_id: int) -> Account | None:
    person = session.get(Person, person_id)
    if person is None:
        return None
    topics = [FollowedTopic(topic_id, subject, level) for topic_id, subject, level in session.execute(
        select(TopicFollow.topic_id, Topic.subject, TopicFollow.level)
        .join(Topic, TopicFollow.topic_id == Topic.id)
        .where(TopicFollow.person_id == person_id).order_by(TopicFollow.level, Topic.subject))]
    followed = set(session.scalars(select(CategoryFollow.category_id).where(CategoryFollow.person_id == person_id)))
    categories = [(c, c.id in followed) for c in session.scalars(select(Category).order_by(Category.name))]
    return Account(person, person.subscription, list(person.addresses), topics, categories)


def topic_follow_level(session: Session, person_id: int, topic_id: int) -> FollowLevel | None:
    return session.scalar(select(TopicFollow.level).where(TopicFollow.person_id == person_id,
                                                          TopicFollow.topic_id == topic_id))


def ensure_subscription(session: Session, person: Person) -> Subscription:
    """The person's subscription; a member who never had one gets one receiving nothing yet."""
    if person.subscription is None:
        person.subscription = Subscription(mode=DeliveryMode.NONE)
        session.flush()
    return person.subscription


def attach_address(session: Session, person_id: int, email: str) -> str:
    """Link a confirmed address to the person: "added", "already" (theirs already) or
    "taken" (another member's).

    An address known only as the author of imported mail is taken over with that mail:
    the confirmation proved that the member owns the mailbox.
    """
    email = normalise_address(email)
    existing = session.scalar(select(Address).where(Address.email == email))
    if existing is None:
        session.add(Address(email=email, person_id=person_id))
        return "added"
    if existing.person_id == person_id:
        return "already"
    previous = existing.person
    if previous.role is not Role.ARCHIVE:
        return "taken"
    existing.person_id = person_id
    if not any(a.id != existing.id for a in previous.addresses):
        session.execute(update(Message).where(Message.author_id == previous.id).values(author_id=person_id))
        session.execute(update(Topic).where(Topic.author_id == previous.id).values(author_id=person_id))
    return "added"


def detach_address(session: Session, person_id: int, address_id: int) -> bool:
    """Unlink one of the person's addresses; never the last one (False then)."""
    addresses = list(session.scalars(select(Address).where(Address.person_id == person_id)))
    target = next((a for a in addresses if a.id == address_id), None)
    if target is None or len(addresses) < 2:
        return False
    session.delete(target)
    return True


@dataclass(frozen=True)
class ProviderIdentity:
    """What a verified ID token says about a person (storage never sees the token)."""

    email: str
    name: str
    organisation: str
    groups: frozenset[str]
    language: str | None = None  # from the `locale` claim: the person's until they choose


def member_signing_in(session: Session, identity: ProviderIdentity, *, member_groups: list[str],
                      moderator_group: str, create: bool, default_mode: DeliveryMode) -> Person | str:
    """The member an identity from the members' space signs in, or why not: "group" (in
    none of `member_groups`) or "not-member" (no member has this address, and `create` is
    off). With `create`, a person whose claims show membership becomes a member.

    The caller has checked that the provider vouches for the e-mail address: matching on an
    unverified one would let anybody who can name an address take over its member.
    When `moderator_group` is set, the provider decides who moderates: in the group, a
    member becomes a moderator; out of it, a moderator becomes a member (admins stay)."""
    if member_groups and not identity.groups.intersection(member_groups):
        return "group"
    person = person_by_address(session, identity.email)
    if person is None or not person.is_member:
        if not create:
            return "not-member"
        upsert_member(session, MemberRow(identity.email, identity.name[:200], identity.organisation[:200],
                                         OrganisationKind.MEMBER, Role.MEMBER), default_mode)
        person = person_by_address(session, identity.email)
        assert person is not None
    if identity.language and person.language is None:
        person.language = identity.language
    if moderator_group and person.role is not Role.ADMIN:
        person.role = Role.MODERATOR if moderator_group in identity.groups else Role.MEMBER
    return person
