"""Every message of the shared corpus goes through the real gateway: stored, held or cleanly
refused with a 5xx and an enhanced status code — never a crash, never a 4xx."""

from __future__ import annotations

import re
import smtplib
from collections import Counter

import pytest
from sqlalchemy import func, select

from conftest import FORUM, free_port
from corpus import iter_corpus_messages, require_corpus
from mailgateway.indexer import index_all_pending
from mailgateway.parse import parse_message
from mailgateway.server import start_gateway
from storage.config import secret_key
from storage.db import session_scope
from storage.instance import initialise
from storage.models import Message

pytestmark = pytest.mark.corpus


def as_an_mta_sends_it(raw: bytes) -> bytes:
    """Lines ending in CRLF, as SMTP requires and as an MTA such as Postfix sends them
    (smtplib sends bytes as given: bare LF files would arrive as one endless line)."""
    data = re.sub(rb"(?:\r\n|\n|\r(?!\n))", b"\r\n", raw)
    return data if data.endswith(b"\r\n") else data + b"\r\n"


def test_every_corpus_message_is_stored_or_cleanly_refused(make_config):  # type: ignore[no-untyped-def]
    require_corpus()
    config = make_config(moderation={"nonmember_action": "accept"})
    engine = initialise(config)
    port = free_port()
    controller = start_gateway(config, secret_key(config), host="127.0.0.1", port=port)
    outcomes: Counter[str] = Counter()
    refused: dict[str, str] = {}
    sent: dict[str, bytes] = {}
    client = smtplib.SMTP("127.0.0.1", port, timeout=60)
    try:
        for label, raw in iter_corpus_messages():
            data = as_an_mta_sends_it(raw)
            try:
                client.sendmail("archive@example.net", [FORUM], data)
                outcomes["250"] += 1
                sent.setdefault(parse_message(data, config.domain).message_id, data)
            except smtplib.SMTPDataError as error:
                assert 500 <= error.smtp_code < 600, (label, error.smtp_code, error.smtp_error)
                assert re.match(rb"5\.\d\.\d ", error.smtp_error), (label, error.smtp_error)
                refused[label] = error.smtp_error.decode()
                outcomes["5xx"] += 1
        # Still alive and answering.
        assert client.noop()[0] == 250
    finally:
        client.quit()
        controller.stop()

    # Every stored body can be read and indexed after the commit, whatever its MIME.
    indexed = index_all_pending(engine, config)
    with session_scope(engine) as db:
        stored = {m.message_id: m.raw for m in db.scalars(select(Message))}
        assert db.scalar(select(func.count()).select_from(Message).where(Message.indexed_at.is_(None))) == 0
    engine.dispose()
    assert indexed == len(stored)
    total = sum(outcomes.values())
    assert total > 1400
    # Refusals are for what is not a message at all.
    assert {label: r for label, r in refused.items() if "5.6.0" not in r} == {}
    assert len(refused) < 12, refused
    # Each stored message is kept byte for byte as it arrived (the first copy of a duplicate).
    assert stored and all(stored[mid] == sent[mid] for mid in stored if mid in sent)
    assert set(stored) <= set(sent)
