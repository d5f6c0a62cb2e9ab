"""The SMTP gateway end to end: smtplib → aiosmtpd on a free port → pipeline → database."""

from __future__ import annotations

import base64
import json

import pytest
from sqlalchemy import func, select, text

from mailfactory import make_mail
from mailgateway.addresses import topic_address
from mailgateway.delivery import deliver_due
from mailgateway.indexer import index_all_pending
from storage.db import session_scope
from storage.models import ControlMessage, HeldMessage, Message, OutboundMessage, Topic

MEMBER = "alice@example.org"


@pytest.fixture
def gw(gateway):  # type: ignore[no-untyped-def]
    gateway.instance.add_member(MEMBER, "Alice Martin")
    gateway.instance.add_member("bob@example.org", "Bob Weber", organisation="Landkreis Lörrach")
    return gateway


def stored(gw) -> list[tuple[str, int, str | None, str]]:  # type: ignore[no-untyped-def]
    """(message_id, topic_id, parent's message_id, subject) of every stored message, by id."""
    with session_scope(gw.instance.engine) as db:
        rows = db.execute(text(
            "SELECT m.message_id, m.topic_id, p.message_id, m.subject FROM messages m "
            "LEFT JOIN messages p ON p.id = m.parent_id ORDER BY m.id")).all()
    return [tuple(r) for r in rows]


def count(gw, model) -> int:  # type: ignore[no-untyped-def]
    with session_scope(gw.instance.engine) as db:
        return db.scalar(select(func.count()).select_from(model))


def test_new_topic_is_stored_and_answered_250_with_its_id(gw):
    code, reply = gw.send(make_mail())
    assert code == 250 and "obstacle-1@mairie.example.org" in reply
    [(mid, topic_id, parent, subject)] = stored(gw)
    assert (mid, parent, subject) == ("obstacle-1@mairie.example.org", None, "Obstacle : reconnaissance des diplômes")
    with session_scope(gw.instance.engine) as db:
        topic = db.get(Topic, topic_id)
        assert topic.subject == subject and topic.author.name == "Alice Martin"
        assert topic.status.value == "open"


def test_reply_by_in_reply_to_joins_the_topic(gw):
    gw.send(make_mail())
    gw.send(make_mail("Re: Obstacle : reconnaissance des diplômes", message_id="r1@lrr.example.de",
                      sender="Bob Weber <bob@example.org>", in_reply_to="obstacle-1@mairie.example.org"),
            mail_from="bob@example.org")
    (_, t1, _, _), (_, t2, parent, _) = stored(gw)
    assert t1 == t2 and parent == "obstacle-1@mairie.example.org"


def test_reply_by_references_only_with_rewritten_subject_joins_the_topic(gw):
    gw.send(make_mail())
    gw.send(make_mail("AW: Diplome - Antwort des Landkreises", message_id="r1@lrr.example.de",
                      sender="bob@example.org", references=["obstacle-1@mairie.example.org"]))
    gw.send(make_mail("RE : Réf. : autre chose", message_id="r2@x.example.org", sender=MEMBER,
                      references=["obstacle-1@mairie.example.org", "r1@lrr.example.de"]))
    rows = stored(gw)
    assert len({t for _, t, _, _ in rows}) == 1
    assert [p for _, _, p, _ in rows] == [None, "obstacle-1@mairie.example.org", "r1@lrr.example.de"]


def test_reply_to_the_per_topic_address_joins_that_topic_without_any_header(gw):
    gw.send(make_mail())
    topic_id = stored(gw)[0][1]
    address = topic_address(gw.instance.config, gw.instance.secret, topic_id)
    code, _ = gw.send(make_mail("Une remarque", message_id="r1@x.example.org"), to=address)
    assert code == 250
    assert stored(gw)[1][1:3] == (topic_id, "obstacle-1@mairie.example.org")


def test_a_forged_per_topic_address_is_refused(gw):
    gw.send(make_mail())
    topic_id = stored(gw)[0][1]
    good = topic_address(gw.instance.config, gw.instance.secret, topic_id)
    forged = good.replace(f"+t{topic_id}.", f"+t{topic_id + 1}.")
    code, reply = gw.send(make_mail(message_id="x@y"), to=forged)
    assert (code, reply[:5]) == (550, "5.1.1")


def test_foreign_recipients_are_refused_the_gateway_is_no_relay(gw):
    for address in ("someone@gmail.example", "forum@other.example.org", "postmaster@example.org"):
        code, reply = gw.send(make_mail(), to=address)
        assert code == 550 and reply.startswith("5.1.1"), (address, code, reply)
    assert count(gw, Message) == 0


def test_oversize_message_is_refused_552_534(make_config, tmp_path):
    from conftest import Gateway, Instance, free_port
    from mailgateway.server import start_gateway
    from storage.instance import initialise

    config = make_config(smtp={"max_message_size": 4096})
    engine = initialise(config)
    instance = Instance(config, engine)
    instance.add_member(MEMBER)
    port = free_port()
    controller = start_gateway(config, instance.secret, host="127.0.0.1", port=port)
    try:
        gw = Gateway(instance, controller, port)
        big = make_mail(body="x" * 70 + ("\n" + "y" * 70) * 100)
        code, reply = gw.send(big)
        assert (code, reply[:5]) == (552, "5.3.4") and "4096" in reply
        # A client that announces the size is refused before sending it.
        code, reply = gw.send(big, options=[f"SIZE={len(big)}"])
        assert (code, reply[:5]) == (552, "5.3.4")
        assert gw.send(make_mail(message_id="small@x"))[0] == 250
        assert count(gw, Message) == 1
    finally:
        controller.stop()
        engine.dispose()


def test_same_message_id_twice_is_stored_once_and_answered_250(gw):
    assert gw.send(make_mail())[0] == 250
    code, reply = gw.send(make_mail())
    assert code == 250 and "Already received" in reply
    assert count(gw, Message) == 1


def test_message_without_message_id_gets_one_and_a_retry_is_recognised(gw):
    raw = make_mail(message_id=None)
    assert gw.send(raw)[0] == 250
    assert gw.send(raw)[0] == 250
    [(mid, _, _, _)] = stored(gw)
    assert mid.startswith("relais.") and mid.endswith("@example.org")


def test_unknown_sender_is_held_not_published_and_told(gw):
    code, reply = gw.send(make_mail(sender="Mallory <mallory@elsewhere.example>", message_id="m@e"),
                          mail_from="mallory@elsewhere.example")
    assert code == 250 and "held" in reply
    assert count(gw, Message) == 0 and count(gw, Topic) == 0
    with session_scope(gw.instance.engine) as db:
        [held] = db.scalars(select(HeldMessage)).all()
        assert held.from_address == "mallory@elsewhere.example" and held.raw.startswith(b"From: Mallory")
    # The notice reaches the sender through the outgoing queue (here the Maildir spool).
    assert deliver_due(gw.instance.engine, gw.instance.config).sent == 1
    [notice] = [p.read_bytes() for p in (gw.instance.config.spool_dir / "new").iterdir()]
    assert b"Delivered-To: mallory@elsewhere.example" in notice
    # The sender proved nothing: the notice echoes none of their mail, Message-ID included.
    assert b"Auto-Submitted: auto-replied" in notice and b"In-Reply-To" not in notice
    # A retry of the held message is not held twice, and the sender is not told twice.
    gw.send(make_mail(sender="mallory@elsewhere.example", message_id="m@e"), mail_from="mallory@elsewhere.example")
    assert count(gw, HeldMessage) == 1 and count(gw, OutboundMessage) == 1


def test_held_mail_from_a_machine_is_never_answered(gw):
    gw.send(make_mail(sender="daemon@elsewhere.example", message_id="a1@e"), mail_from="")
    gw.send(make_mail(sender="robot@elsewhere.example", message_id="a2@e", Auto_Submitted="auto-replied"),
            mail_from="robot@elsewhere.example")
    assert count(gw, HeldMessage) == 2 and count(gw, OutboundMessage) == 0


def test_storage_failure_is_answered_451_and_nothing_is_half_stored(gw):
    # Break the last table the store step writes to: the topic and message written before
    # it in the same transaction must be rolled back, and the sender told to retry.
    with session_scope(gw.instance.engine) as db:
        db.execute(text("ALTER TABLE message_references RENAME TO message_references_away"))
    code, reply = gw.send(make_mail())
    assert (code, reply[:5]) == (451, "4.3.0")
    assert count(gw, Message) == 0 and count(gw, Topic) == 0
    with session_scope(gw.instance.engine) as db:
        db.execute(text("ALTER TABLE message_references_away RENAME TO message_references"))
    # The sending MTA's retry then succeeds.
    assert gw.send(make_mail())[0] == 250 and count(gw, Message) == 1


def test_parent_arriving_after_its_reply_is_linked_and_topics_merge(gw):
    gw.send(make_mail("Re: Obstacle", message_id="reply@x", sender=MEMBER,
                      in_reply_to="root@x", references=["root@x"]))
    gw.send(make_mail("Re: Obstacle", message_id="sibling@x", sender=MEMBER,
                      in_reply_to="root@x", references=["root@x"]))
    # Two replies to the same missing message already share one topic.
    assert len({t for _, t, _, _ in stored(gw)}) == 1
    gw.send(make_mail("Obstacle", message_id="root@x", sender=MEMBER, date="Sun, 22 Nov 2026 09:00:00 +0100"))
    rows = {mid: (t, parent) for mid, t, parent, _ in stored(gw)}
    assert rows["reply@x"][1] == "root@x" and rows["sibling@x"][1] == "root@x"
    assert len({t for t, _ in rows.values()}) == 1
    with session_scope(gw.instance.engine) as db:
        assert db.scalar(select(Topic.subject)) == "Obstacle"


def test_a_late_message_linking_two_topics_merges_them(gw):
    gw.send(make_mail("Obstacle A", message_id="a@x", sender=MEMBER))
    gw.send(make_mail("Re: B", message_id="b2@x", sender=MEMBER, in_reply_to="b@x"))
    assert len({t for _, t, _, _ in stored(gw)}) == 2
    # b@x answers a@x: it arrives late and joins both sides into the older topic.
    gw.send(make_mail("Re: Obstacle A", message_id="b@x", sender=MEMBER, in_reply_to="a@x"))
    assert len({t for _, t, _, _ in stored(gw)}) == 1 and count(gw, Topic) == 1


def _thread_index(conversation: bytes, *blocks: bytes) -> str:
    return base64.b64encode(conversation + b"".join(blocks)).decode()


def test_outlook_thread_index_threads_a_reply_without_references(gw):
    conversation = bytes(range(22))
    gw.send(make_mail("Obstacle", message_id="o1@x", Thread_Index=_thread_index(conversation)))
    gw.send(make_mail("AW: Obstacle", message_id="o2@x", sender="bob@example.org",
                      Thread_Index=_thread_index(conversation, b"\x01\x02\x03\x04\x05")))
    gw.send(make_mail("Sans rapport", message_id="o3@x", Thread_Index=_thread_index(bytes(22))))
    rows = stored(gw)
    assert rows[1][1:3] == (rows[0][1], "o1@x")
    assert rows[2][1] != rows[0][1]


def test_subject_fallback_only_without_headers_and_only_when_unambiguous(gw):
    gw.send(make_mail("Travailleurs frontaliers : télétravail", message_id="t1@x"))
    # A reply whose client dropped the threading headers joins by subject…
    gw.send(make_mail("RE : Travailleurs frontaliers : télétravail", message_id="t2@x",
                      date="Tue, 24 Nov 2026 10:00:00 +0100"))
    # …but not a message that merely repeats the subject without a reply prefix…
    gw.send(make_mail("Travailleurs frontaliers : télétravail", message_id="t3@x"))
    # …and not when two topics carry that subject.
    gw.send(make_mail("AW: Travailleurs frontaliers : télétravail", message_id="t4@x"))
    rows = {mid: (t, p) for mid, t, p, _ in stored(gw)}
    assert rows["t2@x"] == (rows["t1@x"][0], "t1@x")
    assert rows["t3@x"][0] != rows["t1@x"][0]
    assert rows["t4@x"][0] not in (rows["t1@x"][0], rows["t3@x"][0])


def test_subject_fallback_ignores_topics_quiet_for_more_than_30_days(gw):
    gw.send(make_mail("Marchés publics", message_id="p1@x", date="Mon, 01 Jun 2026 10:00:00 +0200"))
    gw.send(make_mail("Re: Marchés publics", message_id="p2@x", date="Mon, 23 Nov 2026 10:00:00 +0100"))
    assert len({t for _, t, _, _ in stored(gw)}) == 2


def test_mail_to_request_and_bounces_addresses_is_kept_for_processing(gw):
    assert gw.send(make_mail("subscribe", message_id="c1@x"), to="forum-request@example.org")[0] == 250
    assert gw.send(make_mail("Undelivered", message_id="c2@x"), to="forum-bounces+abc@example.org")[0] == 250
    with session_scope(gw.instance.engine) as db:
        kinds = sorted(c.kind for c in db.scalars(select(ControlMessage)))
    assert kinds == ["bounces", "request"] and count(gw, Message) == 0


def test_utf8_headers_and_8bit_body_are_kept_byte_for_byte(gw):
    raw = ("From: Élodie Müller <alice@example.org>\r\nTo: forum@example.org\r\n"
           "Subject: Coopération transfrontalière — Straßburg\r\nMessage-ID: <u8@x>\r\n"
           "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
           "Content-Transfer-Encoding: 8bit\r\n\r\nÇa marche très bien.\r\n").encode()
    assert gw.send(raw, options=["SMTPUTF8"])[0] == 250
    assert index_all_pending(gw.instance.engine, gw.instance.config) == 1
    with session_scope(gw.instance.engine) as db:
        m = db.scalar(select(Message))
        assert m.raw == raw and m.subject == "Coopération transfrontalière — Straßburg"
        assert m.from_name == "Élodie Müller" and "Ça marche très bien." in m.text


def test_topics_show_json_lists_the_thread(gw, capsys):
    from relais.cli import main

    gw.send(make_mail())
    gw.send(make_mail("Re: x", message_id="r1@x", in_reply_to="obstacle-1@mairie.example.org"))
    topic_id = stored(gw)[0][1]
    config = gw.instance.config
    # The CLI reads its config from a file, as an operator's would.
    path = config.base_dir / "relais.toml"
    path.write_text(f'[forum]\naddress = "forum@example.org"\n[storage]\ndatabase_url = "{config.database_url}"\n')
    assert main(["--config", str(path), "topics", "show", str(topic_id), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [(m["message_id"], m["parent"]) for m in shown["messages"]] == [
        ("obstacle-1@mairie.example.org", None), ("r1@x", "obstacle-1@mairie.example.org")]
    assert shown["status"] == "open" and shown["messages"][0]["from"] == MEMBER


def test_a_crashed_writer_process_costs_a_retry_never_a_message(gw):
    import os
    import signal

    writer = gw.controller.writer
    process = writer._process
    os.kill(process.pid, signal.SIGKILL)
    process.join(timeout=10)
    first, reply = gw.send(make_mail(message_id="during@x"))
    # Either the gateway already noticed and restarted its writer, or it asks to retry.
    assert first == 250 or (first, reply[:5]) == (451, "4.3.0")
    assert gw.send(make_mail(message_id="during@x"))[0] == 250
    assert writer._process.pid != process.pid
    assert [mid for mid, _, _, _ in stored(gw)] == ["during@x"]
