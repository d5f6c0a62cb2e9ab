"""Threading: which topic a message joins and which message it answers.

The rules, in order (each message's placement depends only on its own headers and on what
is stored, so arrival order does not change the result, as in public-inbox and notmuch):
1. The parent is the nearest stored message among In-Reply-To, then References from the
   last entry back. In-Reply-To comes first: clients that rewrite References
   (RT, some webmails) keep In-Reply-To right ("trusting reply-to", notmuch T510).
2. The topic is shared with every stored message linked through any Message-ID: the
   ancestors it names, the messages that name it (replies that arrived before it), and
   the messages naming the same missing ("ghost") ancestors. When these are in several
   topics, the topics are merged into the oldest one.
3. With no such link: the per-topic reply address it was sent to; then Outlook's
   Thread-Index conversation key; then, only for a message with no threading header at
   all, a reply-prefixed subject equal (once normalised) to exactly one topic active in
   the last days (groups.io's fallback for clients that drop headers).
4. Otherwise it opens a new topic.
"""

from __future__ import annotations

import base64
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, select, text, update
from sqlalchemy.orm import Session

from storage.models import Message, MessageReference, Topic

# Reply and forward prefixes of the mail clients our members use (French, English,
# German, Dutch, Spanish, Italian, Nordic), with optional counters: "Re[2]:", "RE :", "Réf. :".
_PREFIX_RE = re.compile(
    r"^\s*(?:(?:re|ré|ref|réf|aw|antw|sv|vs|rif|r|tr|fw|fwd|wg|enc|rv|doorst)"
    r"\s*(?:\[\d+\]|\(\d+\))?\s*\.?\s*:|\[[^\]]*\])\s*",
    re.IGNORECASE,
)
_REPLY_RE = re.compile(r"^\s*(?:\[[^\]]*\]\s*)*(?:re|ré|ref|réf|aw|antw|sv|vs|rif|r)\s*(?:\[\d+\]|\(\d+\))?\s*\.?\s*:",
                       re.IGNORECASE)


def base_subject(subject: str) -> str:
    """The subject without reply/forward prefixes and [list] tags, case and accents folded."""
    s = " ".join(subject.split())
    while True:
        stripped = _PREFIX_RE.sub("", s, count=1)
        if stripped == s:
            break
        s = stripped
    s = unicodedata.normalize("NFKD", s)
    s = "".join(c for c in s if not unicodedata.combining(c))
    return s.casefold().strip()[:500]


def is_reply_subject(subject: str) -> bool:
    return bool(_REPLY_RE.match(subject))


@dataclass(frozen=True)
class ThreadFacts:
    """What threading reads from a message (see mailgateway.parse.ParsedMessage)."""

    message_id: str
    in_reply_to: Sequence[str]
    references: Sequence[str]
    subject: str
    date: datetime
    thread_index: str | None = None
    thread_index_key: str | None = None

    @property
    def nearest_first(self) -> list[str]:
        """Candidate ancestors, nearest first: In-Reply-To, then References backwards."""
        seen: dict[str, None] = {}
        for mid in [*self.in_reply_to, *reversed(self.references)]:
            if mid != self.message_id:
                seen.setdefault(mid, None)
        return list(seen)


@dataclass
class Placement:
    topic: Topic | None
    parent: Message | None
    merged_topic_ids: list[int] = field(default_factory=list)


def lock_threading(session: Session) -> None:
    """Serialise threading decisions: two replies to one ghost must not open two topics.

    SQLite already serialises writers (BEGIN IMMEDIATE); PostgreSQL needs a lock.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(7102001)"))


def place(session: Session, facts: ThreadFacts, *, topic_hint: int | None = None,
          subject_fallback_days: int = 30) -> Placement:
    """Decide the topic and parent of a message that is not stored yet."""
    ancestors = facts.nearest_first
    stored = _stored_by_message_id(session, ancestors)
    parent = next((stored[mid] for mid in ancestors if mid in stored), None)

    topic_ids = {m.topic_id for m in stored.values()}
    linked = [*ancestors, facts.message_id]
    topic_ids.update(session.scalars(
        select(Message.topic_id).join(MessageReference, MessageReference.message_pk == Message.id)
        .where(MessageReference.referenced_id.in_(linked))
    ))

    if topic_ids:
        survivor, merged = _merge(session, topic_ids)
        return Placement(survivor, parent, merged)
    if topic_hint is not None:
        topic = session.get(Topic, topic_hint)
        if topic is not None:
            return Placement(topic, parent or _root_of(session, topic.id))
    if facts.thread_index_key:
        placement = _by_thread_index(session, facts)
        if placement is not None:
            return placement
    if not ancestors and is_reply_subject(facts.subject) and subject_fallback_days > 0:
        topic = _by_subject(session, facts, subject_fallback_days)
        if topic is not None:
            return Placement(topic, _root_of(session, topic.id))
    return Placement(None, parent)


def record_references(session: Session, message: Message, facts: ThreadFacts) -> None:
    for distance, mid in enumerate(facts.nearest_first):
        session.add(MessageReference(message_pk=message.id, referenced_id=mid, distance=distance))


def adopt_early_replies(session: Session, message: Message) -> list[Message]:
    """Link replies that arrived before `message` (their parent) to it; returns them.

    A reply keeps a nearer stored ancestor if it has one, and a link that would make a
    cycle (a References loop) is not made.
    """
    rows = session.execute(
        select(Message, MessageReference.distance)
        .join(MessageReference, MessageReference.message_pk == Message.id)
        .where(MessageReference.referenced_id == message.message_id, Message.id != message.id)
    ).all()
    adopted = []
    for child, distance in rows:
        if child.parent_id is not None:
            current = session.scalar(
                select(MessageReference.distance).where(
                    MessageReference.message_pk == child.id,
                    MessageReference.referenced_id == select(Message.message_id)
                    .where(Message.id == child.parent_id).scalar_subquery()))
            if current is not None and current <= distance:
                continue
        if _is_ancestor(session, child.id, message):
            continue
        child.parent_id = message.id
        adopted.append(child)
    return adopted


def _is_ancestor(session: Session, candidate_id: int, message: Message) -> bool:
    seen = set()
    parent_id = message.parent_id
    while parent_id is not None and parent_id not in seen:
        if parent_id == candidate_id:
            return True
        seen.add(parent_id)
        parent_id = session.scalar(select(Message.parent_id).where(Message.id == parent_id))
    return False


def _stored_by_message_id(session: Session, ids: Iterable[str]) -> dict[str, Message]:
    ids = list(ids)
    if not ids:
        return {}
    return {m.message_id: m for m in session.scalars(select(Message).where(Message.message_id.in_(ids)))}


def _merge(session: Session, topic_ids: set[int]) -> tuple[Topic, list[int]]:
    """Merge topics into the oldest; returns it and the ids of the topics merged away."""
    topics = sorted(session.scalars(select(Topic).where(Topic.id.in_(topic_ids))),
                    key=lambda t: (t.created_at, t.id))
    survivor, others = topics[0], topics[1:]
    if not others:
        return survivor, []
    other_ids = [t.id for t in others]
    for other in others:
        survivor.last_activity_at = max(survivor.last_activity_at, other.last_activity_at)
        if survivor.category_id is None:
            survivor.category_id = other.category_id
    session.execute(update(Message).where(Message.topic_id.in_(other_ids))
                    .values(topic_id=survivor.id).execution_options(synchronize_session=False))
    session.flush()
    session.execute(delete(Topic).where(Topic.id.in_(other_ids)).execution_options(synchronize_session=False))
    for other in others:
        session.expunge(other)
    for m in session.identity_map.values():
        if isinstance(m, Message) and m.topic_id in other_ids:
            session.expire(m, ["topic_id", "topic"])
    return survivor, other_ids


def _root_of(session: Session, topic_id: int) -> Message | None:
    return session.scalars(
        select(Message).where(Message.topic_id == topic_id, Message.parent_id.is_(None))
        .order_by(Message.date, Message.id).limit(1)
    ).first()


def _by_thread_index(session: Session, facts: ThreadFacts) -> Placement | None:
    same = list(session.scalars(
        select(Message).where(Message.thread_index_key == facts.thread_index_key)
        .order_by(Message.date, Message.id)))
    if not same:
        return None
    by_index = {m.thread_index: m for m in same}
    parent = None
    if facts.thread_index:
        parent = by_index.get(_thread_index_parent(facts.thread_index))
    return Placement(same[0].topic, parent or same[0])


def _thread_index_parent(thread_index: str) -> str | None:
    decoded = base64.b64decode(thread_index)
    if len(decoded) < 27:
        return None
    return base64.b64encode(decoded[:-5]).decode("ascii")


def _by_subject(session: Session, facts: ThreadFacts, days: int) -> Topic | None:
    base = base_subject(facts.subject)
    if not base:
        return None
    since = facts.date - timedelta(days=days)
    candidates = list(session.scalars(
        select(Topic).where(Topic.base_subject == base, Topic.last_activity_at >= since,
                            Topic.created_at <= facts.date + timedelta(days=1)).limit(2)))
    return candidates[0] if len(candidates) == 1 else None

