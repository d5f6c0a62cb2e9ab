"""Each delivery mode delivers what it should: `all` every post, `topics` new topics and the
topics a member started, wrote in, follows or whose category they follow, `digest` one
daily digest, `none` nothing; mutes, disabled subscriptions and the author's own posts."""

from __future__ import annotations

from datetime import timedelta

import pytest

from delivery_support import *  # noqa: F401,F403 (fixtures)
from delivery_support import text_parts
from mailfactory import make_mail
from mailgateway.digest import send_digests
from mailgateway.delivery import deliver_due
from storage.db import session_scope
from storage.models import Category, DeliveryMode, FollowLevel, Topic, utcnow
from storage.subscriptions import set_category_follow, set_topic_follow

ROOT = "obstacle-1@mairie.example.org"


def reply(n: int, sender: str, parent: str = ROOT) -> bytes:
    return make_mail("Re: Obstacle", message_id=f"r{n}@x.example.org", sender=sender, in_reply_to=parent,
                     references=[parent])


@pytest.fixture
def modes(forum):  # type: ignore[no-untyped-def]
    forum.member("alice@example.org", "Alice Martin")
    forum.member("all@example.org")
    forum.member("topics@example.org", mode=DeliveryMode.TOPICS)
    forum.member("digest@example.org", mode=DeliveryMode.DIGEST)
    forum.member("none@example.org", mode=DeliveryMode.NONE)
    return forum


def test_a_new_topic_reaches_all_and_topics_readers_not_digest_none_nor_its_author(modes):
    modes.post(make_mail())
    modes.deliver()
    assert modes.recipients() == ["all@example.org", "topics@example.org"]


def test_topics_readers_get_replies_only_in_topics_they_take_part_in(modes):
    modes.post(make_mail())
    modes.post(reply(1, "all@example.org"))
    modes.deliver()
    assert [m["Message-ID"] for m in modes.copies_to("topics@example.org")] == [f"<{ROOT}>"]
    # Once they answered, every later message of the topic reaches them.
    modes.post(reply(2, "topics@example.org"))
    modes.post(reply(3, "all@example.org", parent="r2@x.example.org"))
    modes.deliver()
    assert [m["Message-ID"] for m in modes.copies_to("topics@example.org")] == [f"<{ROOT}>", "<r3@x.example.org>"]


def test_the_author_of_a_topic_gets_its_replies_in_topics_mode(modes):
    modes.member("starter@example.org", mode=DeliveryMode.TOPICS)
    modes.post(make_mail(sender="starter@example.org"), mail_from="starter@example.org")
    modes.post(reply(1, "all@example.org"))
    modes.deliver()
    assert [m["Message-ID"] for m in modes.copies_to("starter@example.org")] == ["<r1@x.example.org>"]


def test_following_a_topic_or_its_category_sends_its_messages_and_muting_stops_them(modes):
    modes.member("cat@example.org", mode=DeliveryMode.TOPICS)
    modes.post(make_mail())
    follower, muter, cat = (modes.person_id(f"{who}@example.org") for who in ("topics", "all", "cat"))
    with session_scope(modes.engine) as db:
        topic = db.query(Topic).one()
        topic.category = Category(name="Emploi", slug="emploi")
        db.flush()
        set_topic_follow(db, follower, topic.id, FollowLevel.FOLLOW)
        set_topic_follow(db, muter, topic.id, FollowLevel.MUTE)
        set_category_follow(db, cat, topic.category.id, True)
    modes.deliver()
    modes.clear()
    modes.post(reply(1, "alice@example.org"))
    modes.deliver()
    assert modes.recipients() == ["cat@example.org", "topics@example.org"]


def test_a_subscription_disabled_by_bounces_gets_nothing(modes):
    subscription_id = modes.member("bouncing@example.org")
    with session_scope(modes.engine) as db:
        from storage.models import Subscription

        db.get(Subscription, subscription_id).disabled_at = utcnow()
    modes.post(make_mail())
    modes.deliver()
    assert "bouncing@example.org" not in modes.recipients()


@pytest.mark.parametrize("delivery_settings", [{"copy_to_author": True}], indirect=True)
def test_authors_receive_their_own_posts_when_the_setting_says_so(modes):
    modes.post(make_mail())
    modes.deliver()
    assert "alice@example.org" in modes.recipients()


def test_the_daily_digest_lists_then_gives_the_messages_once(modes):
    modes.post(make_mail(body="Les diplômes ne sont pas reconnus.\n"))
    modes.post(reply(1, "all@example.org"))
    modes.deliver()
    assert send_digests(modes.engine, modes.config) == 1
    assert deliver_due(modes.engine, modes.config).sent == 1
    [digest] = modes.copies_to("digest@example.org")
    plain, html = text_parts(digest)
    assert digest.get_content_type() == "multipart/alternative"
    assert digest["Subject"].startswith("[Forum] Résumé du") and digest["List-Id"]
    contents, _, bodies = plain.partition("======")
    assert "Sommaire" in contents and "Obstacle : reconnaissance des diplômes" in contents \
        and "Re: Obstacle" in contents
    assert "Les diplômes ne sont pas reconnus." in bodies and "Vous désabonner : http://forum.example.org/unsubscribe/" in plain
    assert "<ol>" in html and "Les diplômes ne sont pas reconnus." in html
    # Nothing new: no second digest; a new message: a digest with it alone.
    assert send_digests(modes.engine, modes.config) == 0
    modes.post(reply(2, "all@example.org"))
    assert send_digests(modes.engine, modes.config, now=utcnow() + timedelta(days=1)) == 1
    deliver_due(modes.engine, modes.config)
    later = modes.copies_to("digest@example.org")[1]
    assert "r2@" not in later.as_string() and "1 message" in later["Subject"]
