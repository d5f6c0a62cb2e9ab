"""Whatever a member's mail client sent, the copies are mail a strict relay accepts
(tests/rfc5322.py), and say what the post said; a post that cannot be made so is held for
the moderators with the reason, its author told, and its copies failed at once."""

from __future__ import annotations

import base64
import email.policy
from datetime import datetime, timezone

import pytest

from delivery_support import *  # noqa: F401,F403 (fixtures)
from corpus import iter_corpus_messages, require_corpus
from delivery_support import FORUM, Forum, text_parts
from mailgateway.copies import build_copy_template
from mailgateway.copy_parts import CopyError
from mailgateway.delivery import deliver_due
from mailgateway.parse import parse_message
from rfc5322 import assert_valid_rfc5322
from storage.config import config_from_mapping
from storage.db import session_scope
from storage.fanout import PostFacts
from storage.held import pending_held
from storage.models import Role
from storage.outbound import queue_counts

HEAD = ("From: Alice Martin <alice@example.org>\r\nTo: forum@example.org\r\n"
        "Date: Mon, 23 Nov 2026 10:00:00 +0100\r\n")
LONG_WORDS = "reconnaissance " * 200
BLOB = bytes(range(256)) * 30


@pytest.fixture
def members(forum: Forum) -> Forum:
    forum.member("alice@example.org", "Alice Martin")
    forum.member("bob@example.org", "Bob Weber")
    forum.member("carol@example.org", "Carol Modo", role=Role.MODERATOR)
    return forum


def copies(forum: Forum, raw: bytes) -> list[bytes]:
    """Post `raw`, run the fan-out; the bytes of every copy the relay received, each checked."""
    assert forum.post(raw)[0] == 250
    forum.deliver()
    received = [data for _, rcpts, data in forum.sink.received if rcpts != ["alice@example.org"]]
    assert len(received) == 2, f"{len(received)} copies"
    for data in received:
        assert_valid_rfc5322(data)
    return received


def parsed(data: bytes):  # type: ignore[no-untyped-def]
    return email.message_from_bytes(data, policy=email.policy.default)


def test_a_long_subject_is_folded_and_reads_the_same(members):
    subject = "Obstacle : " + LONG_WORDS.strip()
    [copy, _] = copies(members, (HEAD + f"Subject: {subject}\r\nMessage-ID: <long-subject@x>\r\n\r\nTexte.\r\n").encode())
    assert parsed(copy)["Subject"] == f"[Forum] {subject}"


def test_a_subject_of_one_long_word_in_utf8_is_encoded_and_reads_the_same(members):
    subject = "é" + "x" * 1500
    raw = (HEAD + f"Subject: {subject}\r\nMessage-ID: <long-word@x>\r\n\r\nTexte.\r\n").encode()
    [copy, _] = copies(members, raw)
    assert parsed(copy)["Subject"] == f"[Forum] {subject}"


def test_long_references_keep_every_id_that_fits_on_a_line(members):
    ids = [f"<ref{i}.{'a' * 40}@mairie.example.org>" for i in range(120)]
    huge = "<" + "b" * 1500 + "@x>"
    raw = (HEAD + "Subject: Re: suite\r\nMessage-ID: <refs@x>\r\n"
           f"In-Reply-To: {ids[-1]}\r\nReferences: {' '.join(ids[:60])} {huge} {' '.join(ids[60:])}\r\n"
           "\r\nRéponse.\r\n").encode()
    [copy, _] = copies(members, raw)
    msg = parsed(copy)
    assert msg["References"].split() == ids and msg["In-Reply-To"] == ids[-1]
    assert msg["Message-ID"] == "<refs@x>"


def test_cr_lf_in_an_encoded_display_name_adds_no_header(members):
    raw = (HEAD.replace("From: Alice Martin", "From: =?utf-8?q?Alice=0D=0ABcc=3A_victim=40evil=2Eorg=0D=0A?=")
           + "Subject: =?utf-8?q?Salut=0D=0AX-Injected=3A_yes?=\r\nMessage-ID: <crlf@x>\r\n\r\nTexte.\r\n").encode()
    for copy in copies(members, raw):
        msg = parsed(copy)
        assert "X-Injected" not in msg and "Bcc" not in msg
        assert msg["Subject"] == "[Forum] Salut X-Injected: yes"
        assert "Alice Bcc: victim@evil.org" in msg["From"].addresses[0].display_name


def test_a_body_line_over_998_octets_is_reencoded_and_reads_the_same(members):
    line = "Très long paragraphe sans retour à la ligne. " * 60
    raw = (HEAD + "Subject: Long\r\nMessage-ID: <long-line@x>\r\nMIME-Version: 1.0\r\n"
           "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
           + line + "\r\nFin.\r\n").encode()
    [copy, _] = copies(members, raw)
    [plain] = text_parts(parsed(copy))
    assert plain.startswith(line + "\nFin.\n") and "/unsubscribe/" in plain


def test_attachments_that_would_not_travel_are_reencoded_with_their_bytes_kept(members):
    b64 = base64.b64encode(BLOB).decode()  # one line of 10,240 characters
    raw = (HEAD + "Subject: Pièces\r\nMessage-ID: <attach@x>\r\nMIME-Version: 1.0\r\n"
           'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
           "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nVoir les pièces.\r\n"
           "--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
           "Content-Disposition: attachment; filename=\"long.bin\"\r\n\r\n" + b64 + "\r\n"
           "--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"
           f"Content-Disposition: attachment; filename=\"{'n' * 1200}.txt\"\r\n\r\n"
           + "ligne\x00avec NUL " * 100 + "\r\n--b--\r\n").encode()
    [copy, _] = copies(members, raw)
    parts = list(parsed(copy).iter_parts())
    assert parts[1].get_content() == BLOB
    assert parts[2].get_content().rstrip("\r\n") == "ligne\x00avec NUL " * 100
    assert parts[2].get_filename() == "n" * 1200 + ".txt"


def test_a_multipart_without_boundary_and_8bit_headers_still_go_out(members):
    raw = (HEAD.encode() + "Subject: Café sans déclaration\r\n".encode("latin-1")
           + b"X-Note: a\x00b\r\nMessage-ID: <noboundary@x>\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed\r\n\r\nLe corps, sans aucune limite.\r\n")
    for copy in copies(members, raw):
        msg = parsed(copy)
        assert msg["Subject"] == "[Forum] Café sans déclaration"
        assert b"Le corps, sans aucune limite." in copy


def test_a_post_without_date_gets_one(members):
    raw = b"From: Alice Martin <alice@example.org>\r\nSubject: Sans date\r\nMessage-ID: <nodate@x>\r\n\r\nT.\r\n"
    [copy, _] = copies(members, raw)
    assert parsed(copy)["Date"].datetime is not None


def _nested(levels: int) -> bytes:
    inner = b"From: x@example.org\r\nSubject: fond\r\n\r\nau fond\r\n"
    for _ in range(levels):
        inner = b"Content-Type: message/rfc822\r\n\r\n" + inner
    return (HEAD + "Subject: Poupées russes\r\nMessage-ID: <nested@x>\r\nMIME-Version: 1.0\r\n").encode() + inner


@pytest.mark.parametrize("levels", [300, 3000])
def test_a_post_that_cannot_be_made_valid_is_held_and_its_author_told(members, levels, caplog):
    assert members.post(_nested(levels))[0] == 250
    round_ = members.deliver()
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []  # a reason, not a traceback
    assert round_.sent == 0 and round_.failed == 0  # not tried copy by copy
    assert members.sink.received == []
    with session_scope(members.engine, readonly=True) as db:
        counts = queue_counts(db)
        [held] = pending_held(db)
        assert "nested" in held.reason and held.message_id == "nested@x"
    assert (counts["copies_failed"], counts["copies_pending"]) == (2, 0)
    deliver_due(members.engine, members.config)
    told = {rcpt: parsed(data) for _, [rcpt], data in members.sink.received}
    assert sorted(told) == ["alice@example.org", "carol@example.org"]
    assert "Poupées russes" in told["alice@example.org"]["Subject"]
    assert "nested" in told["alice@example.org"].get_content()
    assert "nested" in told["carol@example.org"].get_content()
    for data in (d for _, _, d in members.sink.received):
        assert_valid_rfc5322(data)


@pytest.mark.corpus
def test_every_corpus_message_makes_valid_copies(tmp_path):  # type: ignore[no-untyped-def]
    """The copy of each of the corpus's real messages (~1,500, many odd) is valid mail
    (built as the fan-out builds it; no database needed)."""
    require_corpus()
    config = config_from_mapping({"forum": {"address": FORUM, "name": "Forum Test",
                                            "base_url": "http://forum.example.org"}}, base_dir=tmp_path)
    set_aside: dict[str, str] = {}
    built = 0
    for label, raw in iter_corpus_messages():
        parsed_ = parse_message(raw, config.domain)
        post = PostFacts(1, raw, 1, parsed_.subject, parsed_.from_name, parsed_.from_address, "Org", "Droit",
                         parsed_.message_id, parsed_.date or datetime(2026, 11, 23, tzinfo=timezone.utc))
        try:
            template = build_copy_template(config, "secret", post)
        except CopyError as error:
            set_aside[label] = str(error)
            continue
        copy = template.render(config, "http://forum.example.org/unsubscribe/token")
        try:
            assert_valid_rfc5322(copy)
        except Exception as error:
            pytest.fail(f"{label}: {type(error).__name__}: {error}")
        built += 1
    assert built > 1000 and set_aside == {}
