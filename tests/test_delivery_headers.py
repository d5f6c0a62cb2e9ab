"""Each copy is personal and standards-compliant: one SMTP transaction per recipient with a
VERP envelope, the List-* headers, a DMARC-safe From, the thread headers kept, a subject tag
never doubled, the topic's category, and a DKIM signature when a key is configured."""

from __future__ import annotations

import subprocess

import dkim
import pytest

from delivery_support import *  # noqa: F401,F403 (fixtures)
from delivery_support import FORUM, running_forum
from mailfactory import make_mail
from mailgateway.addresses import classify, verp_subscription
from storage.db import session_scope
from storage.models import Category, Topic


@pytest.fixture
def members(forum):  # type: ignore[no-untyped-def]
    forum.member("alice@example.org", "Alice Martin", organisation="Eurométropole")
    forum.member("bob@example.org", "Bob Weber", organisation="Landkreis Lörrach")
    forum.member("chloe@example.org", "Chloé Roth", organisation="Région Grand Est")
    return forum


def test_each_recipient_gets_one_transaction_with_a_verp_envelope_naming_their_subscription(members):
    members.post(make_mail())
    assert members.deliver().sent == 2
    envelopes = {rcpt: (mail_from, rcpts) for mail_from, rcpts, _ in members.sink.received for rcpt in rcpts}
    assert sorted(envelopes) == ["bob@example.org", "chloe@example.org"]
    for address, (mail_from, rcpts) in envelopes.items():
        assert rcpts == [address]
        recipient = classify(members.config, members.gateway.instance.secret, mail_from)
        assert recipient is not None and recipient.kind == "bounces"
        subscription = members.subscription(verp_subscription(members.gateway.instance.secret, recipient.token))
        assert subscription.person_id == members.person_id(address)


def test_a_copy_carries_the_list_headers_and_keeps_the_message_id(members):
    members.post(make_mail())
    members.deliver()
    [copy] = members.copies_to("bob@example.org")
    with session_scope(members.engine) as db:
        topic_id = db.query(Topic.id).scalar()
    assert copy["Message-ID"] == "<obstacle-1@mairie.example.org>"
    assert copy["List-Id"] == "Forum Test <forum.example.org>"
    assert copy["List-Post"] == "<mailto:forum@example.org>"
    assert copy["List-Archive"] == f"<http://forum.example.org/topics/{topic_id}>"
    assert copy["List-Help"] == "<mailto:forum-request@example.org?subject=help>"
    web, mailto = [v.strip().strip("<>") for v in str(copy["List-Unsubscribe"]).split(",")]
    assert web.startswith("http://forum.example.org/unsubscribe/")
    assert mailto == "mailto:forum-request@example.org?subject=unsubscribe"
    assert copy["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert copy["Precedence"] == "list"
    # Personal: Chloé's unsubscribe link is not Bob's.
    [other] = members.copies_to("chloe@example.org")
    assert other["List-Unsubscribe"] != copy["List-Unsubscribe"]


def test_from_names_the_author_via_the_forum_and_reply_goes_to_the_topic(members):
    members.post(make_mail())
    members.deliver()
    [copy] = members.copies_to("bob@example.org")
    assert copy["From"].addresses[0].addr_spec == FORUM
    assert copy["From"].addresses[0].display_name == "Alice Martin (Eurométropole) via Forum Test"
    [reply_to] = copy["Reply-To"].addresses
    topic = classify(members.config, members.gateway.instance.secret, reply_to.addr_spec)
    assert topic is not None and topic.topic_id is not None
    # "Reply all" and a private answer still reach the author.
    assert [a.addr_spec for a in copy["Cc"].addresses] == ["alice@example.org"]
    assert copy["Subject"] == "[Forum] Obstacle : reconnaissance des diplômes"


def test_a_reply_keeps_its_threading_headers_and_the_tag_is_not_doubled(members):
    members.post(make_mail())
    members.post(make_mail("Re: [Forum] Obstacle : reconnaissance des diplômes", message_id="r1@lrr.example.de",
                           sender="Bob Weber <bob@example.org>", in_reply_to="obstacle-1@mairie.example.org",
                           references=["obstacle-1@mairie.example.org"]), mail_from="bob@example.org")
    members.deliver()
    [reply] = [m for m in members.copies_to("alice@example.org") if m["Message-ID"] == "<r1@lrr.example.de>"]
    assert reply["In-Reply-To"] == "<obstacle-1@mairie.example.org>"
    assert reply["References"] == "<obstacle-1@mairie.example.org>"
    assert reply["Subject"] == "Re: [Forum] Obstacle : reconnaissance des diplômes"


def test_the_topic_category_is_a_header_members_can_filter_on(members):
    members.post(make_mail())
    with session_scope(members.engine) as db:
        topic = db.query(Topic).one()
        topic.category = Category(name="Santé transfrontalière", slug="sante")
    members.deliver()
    [copy] = members.copies_to("bob@example.org")
    assert copy["X-Relais-Category"] == "Santé transfrontalière"


@pytest.mark.parametrize("delivery_settings", [{"from_rewrite": "never", "subject_tag": ""}], indirect=True)
def test_from_rewrite_never_keeps_the_authors_from_and_no_tag(members):
    members.post(make_mail())
    members.deliver()
    [copy] = members.copies_to("bob@example.org")
    assert copy["From"] == "Alice Martin <alice@example.org>" and "Cc" not in copy
    assert copy["Subject"] == "Obstacle : reconnaissance des diplômes"
    assert copy["Reply-To"].addresses[0].addr_spec.startswith("forum+t")


def _dkim_key(tmp_path):  # type: ignore[no-untyped-def]
    key = tmp_path / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    public = subprocess.run(["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"],
                            check=True, capture_output=True).stdout
    import base64

    return key, b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)


def test_copies_are_dkim_signed_for_the_forum_domain_when_a_key_is_configured(make_config, sink, tmp_path):
    key, record = _dkim_key(tmp_path)
    with running_forum(make_config, sink, dkim_selector="relais", dkim_key_file=str(key)) as f:
        f.member("alice@example.org", "Alice Martin")
        f.member("bob@example.org", "Bob Weber")
        f.post(make_mail())
        assert f.deliver().sent == 1
    [(_, _, raw)] = sink.received
    assert b"d=example.org" in raw and b"s=relais" in raw

    def dns(name: bytes, timeout: int = 5) -> bytes:
        return record if name == b"relais._domainkey.example.org." else b""

    assert dkim.verify(raw, dnsfunc=dns)
    # A copy altered on the way no longer verifies: the signature covers the body.
    assert not dkim.verify(raw.replace(b"Nous rencontrons", b"Nous rencontrions"), dnsfunc=dns)
