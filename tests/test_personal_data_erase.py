"""Erasure (GDPR article 17): after `relais members erase` under each policy, or the admin
page, nothing finds the person — search (by name, address, a word of their signature), pages,
feeds, mbox, JSON, the command line — and their threads still render."""

from __future__ import annotations

import argparse
import email
import email.policy
import json
import re
from email.message import EmailMessage

import pytest
from sqlalchemy import func, select

from relais.cli import cmd_members_erase, cmd_topics_show
from rfc5322 import assert_valid_rfc5322
from searchforum import ALICE, ALICE_FROM, BOB, BOB_FROM, Forum, make_forum
from storage.db import session_scope
from storage.models import (
    Address,
    CommandMail,
    ControlMessage,
    HeldMessage,
    MemberRequest,
    Message,
    ModerationLogEntry,
    OutboundMessage,
    OutboundStatus,
    Person,
    RateLimitHit,
    Role,
    SignInLink,
    WebSession,
    utcnow,
)
from storage.people import person_by_address

SIGNATURE = "-- \nAlice Martin\nChargée de mission Grenzgängerin\nalice.martin@mairie.example.org\n"


@pytest.fixture
def forum(gateway) -> Forum:  # type: ignore[no-untyped-def]
    forum = make_forum(gateway)
    forum.gateway.instance.add_member("admin@example.org", "Ada Admin", role=Role.ADMIN)
    return forum


def _thread(forum: Forum) -> dict[str, str]:
    """Alice opens a topic (with her signature), Bob answers quoting her, Alice answers."""
    first = forum.post("Reconnaissance des diplômes", "Bonjour,\n\nLe diplôme d'aide-soignante "
                       "n'est pas reconnu outre-Rhin.\n\n" + SIGNATURE)
    reply = forum.post("Re: Reconnaissance des diplômes", "Alice Martin <alice@example.org> a écrit :\n"
                       "> Le diplôme d'aide-soignante n'est pas reconnu.\n\nMerci Alice Martin, "
                       "la directive 2005/36 s'applique.\n", sender=BOB_FROM, reply_to=first)
    again = forum.post("Re: Reconnaissance des diplômes", "Merci, je transmets au Zollamt.\n\n" + SIGNATURE,
                       reply_to=reply)
    forum.index()
    return {"first": first, "reply": reply, "again": again}


# What must no longer be found: her name, her addresses, a word of her signature.
GONE = ("Alice", "Martin", "alice@example.org", "alice (at) example.org", "alice.martin", "Grenzgängerin")


def _erase(forum: Forum, policy: str) -> int:
    config = forum.gateway.instance.config
    return cmd_members_erase(config, argparse.Namespace(email=ALICE, policy=policy, yes=True))


def _everything_a_member_sees(forum: Forum, topic_id: int, capsys: pytest.CaptureFixture[str]) -> str:
    bob = forum.client(BOB)
    seen = []
    for path in ("/", f"/topics/{topic_id}", f"/topics/{topic_id}.mbox", "/feeds/topics.atom",
                 f"/feeds/topics/{topic_id}.atom", "/organisations", "/moderation/log"):
        response = bob.get(path)
        assert response.status_code in (200, 403), (path, response.status_code)
        seen.append(response.get_data(as_text=True))
    admin = forum.client("admin@example.org")
    for path in (f"/topics/{topic_id}", "/moderation/log"):
        response = admin.get(path)
        assert response.status_code == 200, path
        seen.append(response.get_data(as_text=True))
    for query in ("aide-soignante", "Zollamt", "directive", "Alise", "Mertin"):
        # (Not her name as the query: the page repeats the query.) Results, snippets and "did
        # you mean" are all in there.
        seen.append(json.dumps(forum.json(BOB, q=query), ensure_ascii=False))
        seen.append(forum.page(BOB, q=query))
    cmd_topics_show(forum.gateway.instance.config, argparse.Namespace(id=topic_id, json=True))
    seen.append(capsys.readouterr().out)
    return "\n".join(seen)


def _found(forum: Forum, query: str) -> list[str]:
    return forum.titles(BOB, q=query)


def test_before_erasure_everything_finds_her(forum: Forum):
    """The checks below can fail: before the erasure, each finds Alice."""
    _thread(forum)
    for query in ("Alice", "Martin", "alice.martin"):
        assert _found(forum, query) == ["Reconnaissance des diplômes"], query
    page = forum.client(BOB).get("/topics/1").get_data(as_text=True)
    assert "Alice Martin" in page and "Grenzgängerin" in page


def _records_about(forum: Forum) -> None:
    """What the mail flow recorded about Alice (and, alike, about Bob, which must stay)."""
    now = utcnow()
    with session_scope(forum.engine) as db:
        alice = person_by_address(db, ALICE).id
        for address in (ALICE, BOB):
            db.add_all([
                HeldMessage(message_id=f"held-{address}", from_address=address, raw=b"Subject: x\r\n\r\nx"),
                ControlMessage(kind="bounces", recipient="forum-bounces@example.org", raw=b"dsn",
                               failed_addresses=address, kept_reason="not a VERP address"),
                ControlMessage(kind="request", recipient="forum-request@example.org", envelope_from=address,
                               raw=b"help"),
                MemberRequest(address=address, command="unsubscribe"),
                OutboundMessage(envelope_from="forum-bounces@example.org", recipient=address, raw=b"notice"),
                RateLimitHit(key=f"sign-in:address:{address}", at=now),
            ])
        db.add(SignInLink(nonce_hash="1" * 64, person_id=alice, address=ALICE, created_at=now, expires_at=now))
        # Mail to Bob that quotes her (a digest, base64 as clients send 8-bit text): the sent
        # one's record goes, the pending one is sent without her name.
        for status in (OutboundStatus.SENT, OutboundStatus.PENDING):
            digest = EmailMessage()
            digest["From"], digest["To"], digest["Subject"] = "forum@example.org", BOB, f"Résumé {status}"
            digest.set_content("Alice Martin a écrit : le diplôme d'aide-soignante…\n", cte="base64")
            db.add(OutboundMessage(envelope_from="forum-bounces@example.org", recipient=BOB, raw=digest.as_bytes(),
                                   status=status, purpose="digest"))
        db.add(CommandMail(message_id="cmd@x", from_address=ALICE, person_id=alice, raw=b"#close", commands="#close"))


def _records_left(forum: Forum) -> set[str]:
    with session_scope(forum.engine, readonly=True) as db:
        rows = [*db.scalars(select(HeldMessage.from_address)), *db.scalars(select(ControlMessage.failed_addresses)),
                *db.scalars(select(ControlMessage.envelope_from)), *db.scalars(select(MemberRequest.address)),
                *db.scalars(select(OutboundMessage.recipient)), *db.scalars(select(RateLimitHit.key)),
                *db.scalars(select(SignInLink.address)), *db.scalars(select(CommandMail.from_address))]
    return {row for row in rows if row}


@pytest.mark.parametrize("policy", ["redact", "delete"])
def test_after_erasure_nothing_finds_her_and_the_thread_still_renders(forum: Forum, policy: str, capsys):
    ids = _thread(forum)
    topic_id = forum.topic_of(ids["first"])
    _records_about(forum)
    assert any(ALICE in row for row in _records_left(forum))
    assert _erase(forum, policy) == 0
    # Held mail, bounce reports, request mail, confirmations, queued notices, counters,
    # sign-in links and command mails about her are gone; Bob's stay.
    left = _records_left(forum)
    assert not any("alice" in row for row in left), left
    assert {BOB, f"sign-in:address:{BOB}"} <= left
    with session_scope(forum.engine, readonly=True) as db:
        digests = db.scalars(select(OutboundMessage).where(OutboundMessage.purpose == "digest")).all()
        [pending] = digests
        assert pending.status is OutboundStatus.PENDING
        text = email.message_from_bytes(pending.raw, policy=email.policy.default).get_content()
        assert text.startswith("Ancien membre a écrit : le diplôme d'aide-soignante")
    assert "erased: 2 messages" in capsys.readouterr().out
    forum.index()

    for query in ("Alice", "Martin", "alice@example.org", "Grenzgängerin", "alice.martin"):
        found = forum.json(BOB, q=query)
        assert found["topics"] == [] and found["total_messages"] == 0, query
        # "Did you mean" offers no word of hers (it keeps the query's own words as typed).
        offered = set(re.split(r"\W+", (found.get("suggestion") or "").lower())) - set(re.split(r"\W+", query.lower()))
        assert not offered & {"alice", "martin", "grenzgängerin"}, (query, found["suggestion"])
    seen = _everything_a_member_sees(forum, topic_id, capsys)
    for word in GONE:
        assert word.lower() not in seen.lower(), word

    page = forum.client(BOB).get(f"/topics/{topic_id}").get_data(as_text=True)
    assert page.count("Ancien membre") >= 2
    assert "la directive 2005/36 s&#39;applique" in page or "la directive 2005/36 s'applique" in page
    if policy == "redact":
        # Her words stay in the thread, without her name or signature.
        assert "aide-soignante" in page and "Zollamt" in page
        assert _found(forum, "Zollamt") == ["Reconnaissance des diplômes"]
    else:
        # Her text is gone; replies stay, with the gap shown.
        assert "Zollamt" not in page and "retiré à la demande de son auteur" in page
        assert _found(forum, "Zollamt") == []

    with session_scope(forum.engine, readonly=True) as db:
        assert db.scalar(select(func.count()).select_from(Person).where(Person.name.ilike("%martin%"))) == 0
        assert db.scalar(select(func.count()).select_from(Address).where(Address.email.ilike("%alice%"))) == 0
        [entry] = db.scalars(select(ModerationLogEntry).where(ModerationLogEntry.action == "erase-member")).all()
        assert entry.actor_id is None and entry.after == policy
        raws = b"".join(db.scalars(select(Message.raw)))
    for word in GONE:
        assert word.lower().encode() not in raws.lower(), word
    with session_scope(forum.engine, readonly=True) as db:
        for raw in db.scalars(select(Message.raw)):
            assert_valid_rfc5322(raw)  # the rewritten bytes are still valid mail




def test_erasing_asks_for_confirmation(forum: Forum, monkeypatch: pytest.MonkeyPatch, capsys):
    _thread(forum)
    monkeypatch.setattr("builtins.input", lambda prompt: "no")
    config = forum.gateway.instance.config
    assert cmd_members_erase(config, argparse.Namespace(email=ALICE, policy=None, yes=False)) == 1
    assert "Nothing erased." in capsys.readouterr().out
    assert _found(forum, "Martin") == ["Reconnaissance des diplômes"]
    assert cmd_members_erase(config, argparse.Namespace(email="nobody@example.org", policy=None, yes=True)) == 1


def test_admins_erase_from_the_web(forum: Forum):
    _thread(forum)
    with session_scope(forum.engine, readonly=True) as db:
        alice_id = db.scalar(select(Address.person_id).where(Address.email == ALICE))
    alice_browser = forum.client(ALICE)
    assert alice_browser.get("/account").status_code == 200

    member = forum.client(BOB)
    assert member.get("/admin/erase").status_code == 403
    admin = forum.client("admin@example.org")
    form = admin.get("/admin/erase").get_data(as_text=True)
    token = form.split('name="csrf_token" value="')[1].split('"')[0]
    refused = admin.post("/admin/erase", data={"csrf_token": token, "address": ALICE, "policy": "redact"})
    assert refused.status_code == 302  # not confirmed: nothing erased
    assert _found(forum, "Martin") == ["Reconnaissance des diplômes"]
    done = admin.post("/admin/erase", data={"csrf_token": token, "address": ALICE, "policy": "redact",
                                            "confirm": "yes"})
    assert done.status_code == 302
    forum.app.extensions["relais.erasure_reindex"].join(timeout=60)
    forum.index()
    assert "La personne est effacée" in admin.get("/admin/erase").get_data(as_text=True)
    assert _found(forum, "Martin") == [] and _found(forum, "Grenzgängerin") == []
    # Her signed-in browser is signed out: its session went with her.
    assert alice_browser.get("/account").status_code == 302
    with session_scope(forum.engine, readonly=True) as db:
        assert db.get(Person, alice_id) is None
        assert db.scalar(select(func.count()).select_from(WebSession).where(WebSession.person_id == alice_id)) == 0


def test_a_quote_of_her_in_another_topic_loses_her_name(forum: Forum):
    """Bob cites her elsewhere, and Cc's her: the name and address go from that message too."""
    forum.post("Mobilité", "Comme le disait Alice Martin (alice@example.org), la carte manque.\n", sender=BOB_FROM)
    forum.index()
    assert _found(forum, "Martin") == ["Mobilité"]
    assert _erase(forum, "redact") == 0
    forum.index()
    assert _found(forum, "Martin") == [] and _found(forum, "carte") == ["Mobilité"]
    page = forum.client(BOB).get("/topics/1").get_data(as_text=True)
    assert "Martin" not in page and "Comme le disait Ancien membre" in page
    assert ALICE_FROM not in page
