"""What automatic threading (storage.threads) must respect of moderators' work: topics a
moderator split apart stay apart, and a topic merged away by threading hands its sheets on."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from storage.models import Message, MessageReference, Topic, TopicSheet


def keep_splits(session: Session, topic_ids: set[int], parent_topic_id: int | None,
                message_id: str) -> set[int]:
    """The topics a new message may merge, given moderators' splits.

    When one of the linked topics was split off by a moderator and the message's parent is
    stored, the message joins its parent's topic, merging only the topics of replies that
    name the message itself (they arrived before it); otherwise linked topics merge as usual.
    """
    if parent_topic_id is None or len(topic_ids) < 2:
        return topic_ids
    split = session.scalar(select(func.count()).select_from(Topic).where(
        Topic.id.in_(topic_ids), Topic.split_from_id.is_not(None)))
    if not split:
        return topic_ids
    early = set(session.scalars(select(Message.topic_id).join(
        MessageReference, MessageReference.message_pk == Message.id)
        .where(MessageReference.referenced_id == message_id)))
    return {parent_topic_id} | (early & topic_ids)


def hand_on_sheets(session: Session, from_topic_ids: list[int], to_topic_id: int) -> None:
    """Topics merged away keep no sheet behind (a sheet names its topic)."""
    session.execute(update(TopicSheet).where(TopicSheet.topic_id.in_(from_topic_ids))
                    .values(topic_id=to_topic_id))
