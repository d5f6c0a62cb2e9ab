"""What posting on the web reads and writes besides the pipeline's own steps: who the
signed-in author is, the message answered, the category of a new topic, the per-person
rate limit, and the files of a form not sent yet."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from storage.models import Address, Category, DraftAttachment, Message, Person, Role, Topic
from storage.rate_limits import allow

MEMBER_ROLES = (Role.MEMBER, Role.MODERATOR, Role.ADMIN)


@dataclass(frozen=True)
class WebAuthor:
    person_id: int
    name: str
    address: str  # the person's first address: the From of their web posts
    role: Role


def web_author(session: Session, person_id: int) -> WebAuthor | None:
    """The member who posts, or None if they are no longer a member or have no address."""
    row = session.execute(select(Person.id, Person.name, Address.email, Person.role)
                          .join(Address, Address.person_id == Person.id)
                          .where(Person.id == person_id, Person.role.in_(MEMBER_ROLES))
                          .order_by(Address.id).limit(1)).first()
    return WebAuthor(row[0], row[1], row[2], Role(row[3])) if row else None


def message_by_pk(session: Session, message_pk: int) -> Message | None:
    return session.get(Message, message_pk)


def stored_message_pk(session: Session, message_id: str) -> int | None:
    return session.scalar(select(Message.id).where(Message.message_id == message_id))


def category_by_id(session: Session, category_id: int) -> Category | None:
    return session.get(Category, category_id)


def category_options(session: Session) -> list[tuple[int, str]]:
    """(id, name) of every category, for the new-topic form."""
    return [(i, name) for i, name in session.execute(select(Category.id, Category.name).order_by(Category.name))]


def file_new_topic(session: Session, topic_id: int, category_id: int) -> None:
    """The category its author chose for a topic opened on the web."""
    topic = session.get(Topic, topic_id)
    if topic is not None and topic.category_id is None:
        topic.category_id = category_id


def allow_web_post(session: Session, person_id: int, per_hour: int, now: datetime) -> bool:
    """Count one web post of this person, if they are under the hourly limit."""
    return allow(session, {f"web-post:{person_id}": per_hour}, timedelta(hours=1), now)


@dataclass(frozen=True)
class DraftFile:
    id: int
    filename: str
    content_type: str
    data: bytes


DRAFT_DAYS = 1


def keep_draft_files(session: Session, person_id: int, message_id: str,
                     files: list[tuple[str, str, bytes]], now: datetime) -> None:
    """Keep the files of a form not sent yet (previewed, or refused), for its next sending."""
    session.execute(delete(DraftAttachment).where(DraftAttachment.created_at < now - timedelta(days=DRAFT_DAYS)))
    session.add_all(DraftAttachment(person_id=person_id, message_id=message_id[:995], filename=name[:200],
                                    content_type=ctype[:255], data=data, created_at=now)
                    for name, ctype, data in files)


def draft_files(session: Session, person_id: int, message_id: str) -> list[DraftFile]:
    return [DraftFile(*row) for row in session.execute(
        select(DraftAttachment.id, DraftAttachment.filename, DraftAttachment.content_type, DraftAttachment.data)
        .where(DraftAttachment.person_id == person_id, DraftAttachment.message_id == message_id)
        .order_by(DraftAttachment.id))]


def drop_draft_files(session: Session, person_id: int, message_id: str, ids: set[int] | None = None) -> None:
    """Forget a form's kept files: those named, or all of them once the post is sent."""
    query = delete(DraftAttachment).where(DraftAttachment.person_id == person_id,
                                          DraftAttachment.message_id == message_id)
    if ids is not None:
        query = query.where(DraftAttachment.id.in_(ids))
    session.execute(query)
