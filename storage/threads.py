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
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, insert, literal, select, text, update
from sqlalchemy.orm import Session

from storage.models import Message, MessageReference, Topic
from storage.search_queue import mark_topic_for_reindex
from storage.splits import hand_on_sheets, keep_splits

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
    """Where a message goes: an existing topic (None: a new one) and its parent's row id."""

    topic_id: int | None
    parent_pk: int | None
    merged_topic_ids: list[int] = field(default_factory=list)


# The hot path (every incoming message) works on the tables with plain SQL expressions and
# ids: loading ORM entities (with their raw bytes) costs several times more.
messages_t = Message.__table__
refs_t = MessageReference.__table__
topics_t = Topic.__table__


def lock_threading(session: Session) -> None:
    """Serialise threading decisions: two replies to one ghost must not open two topics.

    SQLite already serialises writers (BEGIN IMMEDIATE); PostgreSQL needs a lock.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(7102001)"))


# Prepared once: on the hot path, building statements costs more than running them.
_NAMING_ANY = (
    select(literal(None).label("message_id"), messages_t.c.id, messages_t.c.topic_id)
    .join(refs_t, refs_t.c.message_pk == messages_t.c.id)
    .where(refs_t.c.referenced_id.in_(bindparam("linked", expanding=True))))
_LINKED = (
    select(messages_t.c.message_id, messages_t.c.id, messages_t.c.topic_id)
    .where(messages_t.c.message_id.in_(bindparam("ancestors", expanding=True)))
    .union_all(_NAMING_ANY))
_parent_ref = refs_t.alias("parent_ref")
_parents = messages_t.alias("parents")
_EARLY_REPLIES = (
    select(messages_t.c.id, refs_t.c.distance, _parent_ref.c.distance)
    .join(refs_t, refs_t.c.message_pk == messages_t.c.id)
    .outerjoin(_parents, _parents.c.id == messages_t.c.parent_id)
    .outerjoin(_parent_ref, (_parent_ref.c.message_pk == messages_t.c.id)
               & (_parent_ref.c.referenced_id == _parents.c.message_id))
    .where(refs_t.c.referenced_id == bindparam("message_id"), messages_t.c.id != bindparam("message_pk")))
_INSERT_REFERENCE = insert(refs_t)


def place(session: Session, facts: ThreadFacts, *, topic_hint: int | None = None,
          subject_fallback_days: int = 30) -> Placement:
    """Decide the topic and parent of a message that is not stored yet."""
    ancestors = facts.nearest_first
    linked = [*ancestors, facts.message_id]
    # Stored ancestors, and stored messages naming the message or one of its ancestors.
    if ancestors:
        rows = session.execute(_LINKED, {"ancestors": ancestors, "linked": linked}).all()
    else:
        rows = session.execute(_NAMING_ANY, {"linked": linked}).all()
    stored = {mid: pk for mid, pk, _ in rows if mid is not None}
    parent_pk = next((stored[mid] for mid in ancestors if mid in stored), None)
    topic_ids = {topic_id for _, _, topic_id in rows}

    if topic_ids:
        parent_topic = next((topic_id for _, pk, topic_id in rows if pk == parent_pk), None)
        topic_ids = keep_splits(session, topic_ids, parent_topic, facts.message_id)
        survivor, merged = _merge(session, topic_ids)
        return Placement(survivor, parent_pk, merged)
    if topic_hint is not None and session.get(Topic, topic_hint) is not None:
        return Placement(topic_hint, parent_pk or _root_of(session, topic_hint))
    if facts.thread_index_key:
        placement = _by_thread_index(session, facts)
        if placement is not None:
            return placement
    if not ancestors and is_reply_subject(facts.subject) and subject_fallback_days > 0:
        topic_id = _by_subject(session, facts, subject_fallback_days)
        if topic_id is not None:
            return Placement(topic_id, _root_of(session, topic_id))
    return Placement(None, parent_pk)


def record_references(session: Session, message_pk: int, facts: ThreadFacts) -> None:
    rows = [{"message_pk": message_pk, "referenced_id": mid, "distance": distance}
            for distance, mid in enumerate(facts.nearest_first)]
    if rows:
        session.execute(_INSERT_REFERENCE, rows)


def adopt_early_replies(session: Session, message_pk: int, message_id: str) -> list[int]:
    """Link replies that arrived before a message (their parent) to it; returns their ids.

    A reply keeps a nearer stored ancestor if it has one, and a link that would make a
    cycle (a References loop) is not made.
    """
    rows = session.execute(_EARLY_REPLIES, {"message_id": message_id, "message_pk": message_pk}).all()
    adopted = []
    for child_pk, distance, current_distance in rows:
        if current_distance is not None and current_distance <= distance:
            continue
        if _is_ancestor(session, child_pk, message_pk):
            continue
        session.execute(update(messages_t).where(messages_t.c.id == child_pk).values(parent_id=message_pk))
        adopted.append(child_pk)
    return adopted


def _is_ancestor(session: Session, candidate_pk: int, message_pk: int) -> bool:
    seen = set()
    current: int | None = message_pk
    while current is not None and current not in seen:
        if current == candidate_pk:
            return True
        seen.add(current)
        current = session.scalar(select(messages_t.c.parent_id).where(messages_t.c.id == current))
    return False


def _merge(session: Session, topic_ids: set[int]) -> tuple[int, list[int]]:
    """Merge topics into the oldest; returns its id and the ids of the topics merged away."""
    if len(topic_ids) == 1:
        return next(iter(topic_ids)), []
    topics = session.execute(
        select(topics_t.c.id, topics_t.c.created_at, topics_t.c.last_activity_at, topics_t.c.category_id)
        .where(topics_t.c.id.in_(topic_ids)).order_by(topics_t.c.created_at, topics_t.c.id)).all()
    survivor, others = topics[0], topics[1:]
    other_ids = [t.id for t in others]
    values: dict[str, object] = {"last_activity_at": max(t.last_activity_at for t in topics)}
    if survivor.category_id is None:
        values["category_id"] = next((t.category_id for t in others if t.category_id is not None), None)
    session.execute(update(topics_t).where(topics_t.c.id == survivor.id).values(**values))
    session.execute(update(messages_t).where(messages_t.c.topic_id.in_(other_ids)).values(topic_id=survivor.id))
    mark_topic_for_reindex(session, survivor.id)  # the index files messages under their topic
    hand_on_sheets(session, other_ids, survivor.id)
    session.execute(delete(topics_t).where(topics_t.c.id.in_(other_ids)))
    session.expire_all()  # ORM objects loaded earlier may name the merged topics
    return survivor.id, other_ids


def _root_of(session: Session, topic_id: int) -> int | None:
    return session.scalar(
        select(messages_t.c.id).where(messages_t.c.topic_id == topic_id, messages_t.c.parent_id.is_(None))
        .order_by(messages_t.c.date, messages_t.c.id).limit(1))


def _by_thread_index(session: Session, facts: ThreadFacts) -> Placement | None:
    same = session.execute(
        select(messages_t.c.id, messages_t.c.topic_id, messages_t.c.thread_index)
        .where(messages_t.c.thread_index_key == facts.thread_index_key)
        .order_by(messages_t.c.date, messages_t.c.id)).all()
    if not same:
        return None
    by_index = {index: pk for pk, _, index in same}
    parent = by_index.get(_thread_index_parent(facts.thread_index)) if facts.thread_index else None
    return Placement(same[0].topic_id, parent or same[0].id)


def _thread_index_parent(thread_index: str) -> str | None:
    decoded = base64.b64decode(thread_index)
    if len(decoded) < 27:
        return None
    return base64.b64encode(decoded[:-5]).decode("ascii")


def _by_subject(session: Session, facts: ThreadFacts, days: int) -> int | None:
    base = base_subject(facts.subject)
    if not base:
        return None
    candidates = session.scalars(
        select(topics_t.c.id).where(topics_t.c.base_subject == base,
                                    topics_t.c.last_activity_at >= facts.date - timedelta(days=days),
                                    topics_t.c.created_at <= facts.date + timedelta(days=1)).limit(2)).all()
    return candidates[0] if len(candidates) == 1 else None
