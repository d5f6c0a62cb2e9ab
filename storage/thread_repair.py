"""Repairing threads by hand, when mail clients broke them: split a message and its replies
into a new topic, or merge a topic into another (as HyperKitty and groups.io moderators do).

Threading (storage.threads) merges topics that Message-IDs link; a topic split off by a
moderator carries `split_from_id`, and threading then keeps it apart (storage.splits).
"""

from __future__ import annotations

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from storage.models import HeldMessage, Message, Topic, TopicFollow, TopicSheet, TopicStatus
from storage.moderation import ModerationError, log_action
from storage.search_queue import mark_topic_for_reindex
from storage.threads import base_subject


def _subtree(session: Session, message: Message) -> list[int]:
    """The message and every reply below it, in its topic."""
    rows = session.execute(select(Message.id, Message.parent_id)
                           .where(Message.topic_id == message.topic_id)).all()
    children: dict[int, list[int]] = {}
    for pk, parent in rows:
        if parent is not None:
            children.setdefault(parent, []).append(pk)
    found, stack = [], [message.id]
    while stack:
        pk = stack.pop()
        if pk in found:  # a References loop: never walk it twice
            continue
        found.append(pk)
        stack.extend(children.get(pk, []))
    return found


def _refresh_activity(session: Session, topic_id: int) -> None:
    last = session.scalar(select(func.max(Message.date)).where(Message.topic_id == topic_id))
    if last is not None:
        session.execute(update(Topic).where(Topic.id == topic_id).values(last_activity_at=last))


def split_message(session: Session, message_pk: int, *, actor_id: int | None, via: str) -> int:
    """Move a message and its replies into a new topic (titled by the message); its id."""
    message = session.get(Message, message_pk)
    if message is None:
        raise ModerationError(f"unknown message #{message_pk}")
    old = session.get(Topic, message.topic_id)
    assert old is not None
    moved = _subtree(session, message)
    remaining = session.scalar(select(func.count()).select_from(Message).where(
        Message.topic_id == old.id, Message.id.not_in(moved)))
    if not remaining:
        raise ModerationError("this message and its replies are the whole topic: nothing to split off")
    dates = session.execute(select(func.min(Message.date), func.max(Message.date))
                            .where(Message.id.in_(moved))).one()
    new = Topic(subject=message.subject, base_subject=base_subject(message.subject),
                author_id=message.author_id, category_id=old.category_id, status=TopicStatus.OPEN,
                created_at=dates[0], last_activity_at=dates[1], split_from_id=old.id)
    session.add(new)
    session.flush()
    session.execute(update(Message).where(Message.id.in_(moved)).values(topic_id=new.id))
    session.execute(update(Message).where(Message.id == message.id).values(parent_id=None))
    _refresh_activity(session, old.id)
    session.expire_all()
    for topic_id in (old.id, new.id):
        mark_topic_for_reindex(session, topic_id)
    what = f"message <{message.message_id}> and {len(moved) - 1} replies"
    log_action(session, actor_id=actor_id, via=via, action="split", topic_id=old.id, before=what,
               after=f"topic #{new.id}")
    log_action(session, actor_id=actor_id, via=via, action="split", topic_id=new.id, before=f"topic #{old.id}",
               after=what)
    return new.id


def merge_topic(session: Session, source_id: int, target_id: int, *, actor_id: int | None, via: str) -> None:
    """Move every message, sheet and follow of `source` into `target`, then remove `source`."""
    if source_id == target_id:
        raise ModerationError("a topic cannot be merged into itself")
    source, target = session.get(Topic, source_id), session.get(Topic, target_id)
    if source is None or target is None:
        raise ModerationError(f"unknown topic #{source_id if source is None else target_id}")
    before = f"#{source.id} {source.subject}"
    session.execute(update(Message).where(Message.topic_id == source.id).values(topic_id=target.id))
    session.execute(update(TopicSheet).where(TopicSheet.topic_id == source.id).values(topic_id=target.id))
    session.execute(update(HeldMessage).where(HeldMessage.topic_hint == source.id).values(topic_hint=target.id))
    session.execute(update(Topic).where(Topic.split_from_id == source.id).values(split_from_id=target.id))
    # A member with a choice on both topics keeps the one on the target.
    on_target = select(TopicFollow.person_id).where(TopicFollow.topic_id == target.id)
    session.execute(delete(TopicFollow).where(TopicFollow.topic_id == source.id,
                                              TopicFollow.person_id.in_(on_target)))
    session.execute(update(TopicFollow).where(TopicFollow.topic_id == source.id).values(topic_id=target.id))
    if target.category_id is None:
        target.category_id = source.category_id
    target.created_at = min(target.created_at, source.created_at)
    target.last_activity_at = max(target.last_activity_at, source.last_activity_at)
    session.delete(source)
    session.flush()
    mark_topic_for_reindex(session, target.id)
    log_action(session, actor_id=actor_id, via=via, action="merge", topic_id=target.id, before=before,
               after=f"#{target.id} {target.subject}")
