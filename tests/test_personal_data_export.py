"""Access and portability (GDPR articles 15 and 20): "Download my data" on /account and
`relais members export EMAIL DIR` give the person's profile, addresses, subscription and
follows, every message they wrote byte for byte, and what the forum recorded about them."""

from __future__ import annotations

import argparse
import io
import json
import mailbox
import zipfile
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select

from relais.cli import cmd_members_export
from searchforum import ALICE, BOB, BOB_FROM, Forum, make_forum
from storage.db import session_scope
from storage.models import HeldMessage, Message, utcnow
from storage.moderation import log_action
from storage.people import person_by_address
from storage.subscriptions import set_topic_follow
from storage.web_sessions import open_web_session


@pytest.fixture
def forum(gateway) -> Forum:  # type: ignore[no-untyped-def]
    return make_forum(gateway)


def _alice_writes(forum: Forum) -> list[bytes]:
    """Alice's messages as her client sent them: one with a line starting "From " (which an
    mbox must quote) and 8-bit text, one with an attachment; Bob answers in between."""
    sent = []
    first = EmailMessage()
    first["From"], first["To"], first["Subject"] = "Alice Martin <alice@example.org>", "forum@example.org", "Pendlerinnen"
    first["Message-ID"], first["Date"] = "<a1@example.org>", "Mon, 02 Mar 2026 09:00:00 +0100"
    first.set_content("Bonjour,\nFrom the start, the rule was unclear.\nÀ bientôt\n", cte="8bit")
    second = EmailMessage()
    second["From"], second["To"], second["Subject"] = "Alice Martin <alice@example.org>", "forum@example.org", "Re: Pendlerinnen"
    second["Message-ID"], second["Date"] = "<a2@example.org>", "Mon, 02 Mar 2026 11:00:00 +0100"
    second["In-Reply-To"] = second["References"] = "<m1@test.example.org>"
    second.set_content("Voir la pièce jointe.\n")
    second.add_attachment(b"%PDF-1.4 ...", maintype="application", subtype="pdf", filename="note.pdf")
    code, reply = forum.gateway.send(first.as_bytes(), mail_from=ALICE)
    assert code == 250, reply
    forum.sent = 0
    forum.post("Re: Pendlerinnen", "Réponse de Bob.\n", sender=BOB_FROM, reply_to="a1@example.org")
    code, reply = forum.gateway.send(second.as_bytes(), mail_from=ALICE)
    assert code == 250, reply
    sent = [first.as_bytes(), second.as_bytes()]
    with session_scope(forum.engine) as db:
        alice = person_by_address(db, ALICE)
        set_topic_follow(db, alice.id, 1, "follow")  # type: ignore[arg-type]
        open_web_session(db, alice.id, "mail", "Firefox", utcnow())
        # A moderator closed her topic; a mail of hers from a list server was held.
        log_action(db, actor_id=None, via="web", action="close", topic_id=1, before="open", after="closed")
        db.add(HeldMessage(message_id="h1@example.org", from_address=ALICE, subject="Retenu",
                           raw=b"From: alice@example.org\r\nSubject: Retenu\r\n\r\nTexte retenu.\r\n"))
    return sent


def _stored(forum: Forum, *message_ids: str) -> list[bytes]:
    with session_scope(forum.engine, readonly=True) as db:
        return [db.scalar(select(Message.raw).where(Message.message_id == m)) for m in message_ids]


def _check_export(files: dict[str, bytes], sent: list[bytes], stored: list[bytes]) -> None:
    # Every message she wrote, byte for byte as the forum received and stored it (which is
    # what her client sent, but for the line end SMTP's DATA adds at the end).
    assert [files["messages/0001.eml"], files["messages/0002.eml"]] == stored
    assert [raw.rstrip(b"\r\n") for raw in stored] == [raw.rstrip(b"\r\n") for raw in sent]
    assert "messages/0003.eml" not in files  # Bob's answer is not hers
    profile = json.loads(files["profile.json"])
    assert profile["name"] == "Alice Martin" and profile["addresses"] == [ALICE]
    assert profile["organisation"] == "Eurométropole" and profile["subscription"]["mode"] == "all"
    assert profile["followed_topics"][0]["level"] == "follow"
    records = json.loads(files["records.json"])
    assert [m["message_id"] for m in records["messages"]] == ["a1@example.org", "a2@example.org"]
    assert records["sign_ins"][0]["browser"] == "Firefox"
    assert [(a["action"], a["topic"], a["after"]) for a in records["moderation_actions"]] == [("close", 1, "closed")]
    assert [h["subject"] for h in records["held_messages"]] == ["Retenu"]
    assert b"Texte retenu." in files["held-messages.mbox"]


def _mbox_messages(data: bytes, tmp_path: Path) -> list[bytes]:
    path = tmp_path / "check.mbox"
    path.write_bytes(data)
    box = mailbox.mbox(str(path))
    try:
        return [m.as_bytes() for m in box]
    finally:
        box.close()


def test_download_my_data_from_the_account_page(forum: Forum, tmp_path: Path):
    sent = _alice_writes(forum)
    client = forum.client(ALICE)
    page = client.get("/account").get_data(as_text=True)
    assert 'href="/account/data.zip"' in page and "Télécharger mes données" in page
    response = client.get("/account/data.zip")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert "relais-data.zip" in response.headers["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
        files = {name.removeprefix("relais-data/"): archive.read(name) for name in archive.namelist()}
    _check_export(files, sent, _stored(forum, "a1@example.org", "a2@example.org"))
    mbox = _mbox_messages(files["messages.mbox"], tmp_path)
    assert len(mbox) == 2 and b">From the start" in files["messages.mbox"]
    # Another member downloads their own data, never Alice's; anonymous readers sign in first.
    bob = forum.client(BOB).get("/account/data.zip")
    with zipfile.ZipFile(io.BytesIO(bob.data)) as archive:
        assert json.loads(archive.read("relais-data/profile.json"))["addresses"] == [BOB]
        assert b"Pendlerinnen" in archive.read("relais-data/messages/0001.eml")
        assert "relais-data/messages/0002.eml" not in archive.namelist()
    assert forum.client().get("/account/data.zip").status_code == 302


def test_relais_members_export_writes_the_same_into_a_folder(forum: Forum, tmp_path: Path, capsys):
    sent = _alice_writes(forum)
    folder = tmp_path / "export"
    config = forum.gateway.instance.config
    assert cmd_members_export(config, argparse.Namespace(email="Alice@Example.org", dir=str(folder))) == 0
    assert "2 messages" in capsys.readouterr().out
    files = {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    _check_export(files, sent, _stored(forum, "a1@example.org", "a2@example.org"))
    assert cmd_members_export(config, argparse.Namespace(email="nobody@example.org", dir=str(folder))) == 1
