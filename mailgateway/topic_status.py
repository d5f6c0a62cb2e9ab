"""Closing and reopening a topic, by mail or on the web, from this one place: the change
(storage.moderation, with its audit row) and, in the same transaction, a short notice to
the people who wrote in the topic and those who follow it, with the resolution and the
accepted answer."""

from __future__ import annotations

from mailgateway.notices import queue_notice
from storage.config import Config
from storage.db import Session
from storage.models import Resolution, Topic, TopicStatus
from storage.moderation import Change, close_topic, reopen_topic, status_notice_addresses


def close_and_notify(session: Session, config: Config, topic_id: int | None, resolution: Resolution, *,
                     actor_id: int | None, via: str, answer_message_id: int | None = None) -> Change:
    change = close_topic(session, topic_id, resolution, actor_id=actor_id, via=via,
                         answer_message_id=answer_message_id)
    _notify(session, config, change, actor_id)
    return change


def reopen_and_notify(session: Session, config: Config, topic_id: int | None, *,
                      actor_id: int | None, via: str) -> Change:
    change = reopen_topic(session, topic_id, actor_id=actor_id, via=via)
    _notify(session, config, change, actor_id)
    return change


def _notify(session: Session, config: Config, change: Change, actor_id: int | None) -> None:
    if change.before == change.after:
        return  # closed again with the same resolution: nothing new to tell
    topic = session.get(Topic, change.topic_id)
    assert topic is not None
    base = config.forum.base_url
    answer_url = f"{base}/messages/{topic.answer_message_id}" if topic.answer_message_id else None
    for address in status_notice_addresses(session, topic.id, except_person_id=actor_id):
        queue_notice(session, config, to=address, name="topic-status", purpose="topic-status",
                     subject=topic.subject or "(sans objet)", closed=topic.status is TopicStatus.CLOSED,
                     resolution=topic.resolution.value if topic.resolution else "",
                     topic_url=f"{base}/topics/{topic.id}", answer_url=answer_url)
