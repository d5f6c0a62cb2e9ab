"""What the moderation tests share: an instance whose relay is the test's SMTP sink, a forum
with a moderator (at team.example.org, whose DKIM key the test generates) and members, mail
signed with that key (dkimpy) and a DNS lookup function that publishes its public key, and
reading the mail Relais queued as a mail client would.

Import the fixtures in a test module (`from moderation_support import instance, forum, dkim_key`).
"""

from __future__ import annotations

import base64
import contextlib
import email
import email.policy
import io
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import dkim
import pytest
from sqlalchemy import func, select

from conftest import FORUM, Gateway, Instance, Sink
from delivery_support import Forum as DeliveryForum
from delivery_support import relay_settings
from mailfactory import make_mail
from mailgateway.commands_moderation import process_command_mails
from mailgateway.requests import process_requests
from relais.cli import main
from storage.db import session_scope
from storage.instance import initialise
from storage.models import (
    DeliveryMode,
    Fanout,
    HeldMessage,
    Message,
    ModerationLogEntry,
    OrganisationKind,
    OutboundMessage,
    Role,
    Topic,
)
from storage.people import MemberRow, upsert_member

__all__ = ["FORUM", "MODERATOR", "TRUSTED", "Forum", "dkim_key", "forum", "instance"]

MODERATOR = "modo@team.example.org"
SELECTOR = "mail2026"
TRUSTED = "mx.forum.example.org"
REPORT_TO = ["coordination@anct.example.fr", "europe@mot.example.eu"]


@dataclass(frozen=True)
class DkimKey:
    private_pem: bytes
    record: bytes  # the TXT record published at <selector>._domainkey.<domain>

    def sign(self, raw: bytes, domain: str = "team.example.org", **options: Any) -> bytes:
        signature = dkim.sign(raw, SELECTOR.encode(), domain.encode(), self.private_pem,
                              include_headers=[b"from", b"to", b"subject", b"date", b"message-id",
                                               b"in-reply-to", b"references"], **options)
        return signature + raw

    def dnsfunc(self, name: bytes | str, timeout: int = 5) -> bytes | None:
        name = name.decode() if isinstance(name, bytes) else name
        return self.record if name.rstrip(".") == f"{SELECTOR}._domainkey.team.example.org" else None


@pytest.fixture(scope="session")
def dkim_key(tmp_path_factory: pytest.TempPathFactory) -> DkimKey:
    """A 2048-bit RSA key made for the test run (openssl), and its DNS record."""
    path = tmp_path_factory.mktemp("dkim") / "key.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(path), "2048"], check=True, capture_output=True)
    public = subprocess.run(["openssl", "rsa", "-in", str(path), "-pubout", "-outform", "DER"],
                            check=True, capture_output=True).stdout
    return DkimKey(path.read_bytes(), b"v=DKIM1; k=rsa; p=" + base64.b64encode(public))


@pytest.fixture
def instance(make_config, sink: Sink) -> Iterator[Instance]:  # type: ignore[no-untyped-def]
    config = make_config(
        delivery=relay_settings(sink),
        moderation={"trusted_authserv_id": TRUSTED},
        reporting={"recipients": REPORT_TO})
    engine = initialise(config)
    yield Instance(config, engine)
    engine.dispose()


@dataclass
class Forum(DeliveryForum):
    """The delivery tests' forum (config, engine, members), with the moderator's DKIM key."""

    dkim: DkimKey

    def send(self, raw: bytes, to: str = FORUM, mail_from: str | None = None) -> tuple[int, str]:
        sender = mail_from or email.message_from_bytes(raw)["From"].split("<")[-1].strip(">").strip()
        return self.gateway.send(raw, to=to, mail_from=sender)

    def open_topic(self, subject: str = "Obstacle : reconnaissance des diplômes",
                   message_id: str = "obstacle-1@mairie.example.org") -> int:
        code, _ = self.send(make_mail(subject, message_id=message_id))
        assert code == 250
        with session_scope(self.engine) as db:
            return db.scalar(select(Message.topic_id).where(Message.message_id == message_id))

    def command(self, body: str, *, signed: bool = True, in_reply_to: str | None = "obstacle-1@mairie.example.org",
                message_id: str = "cmd-1@team.example.org", to: str = FORUM, **headers: str) -> tuple[int, str]:
        """A moderator's reply carrying commands, DKIM-signed by their domain unless told not to."""
        raw = make_mail("Re: Obstacle : reconnaissance des diplômes", body=body, message_id=message_id,
                        sender=f"Modo Team <{MODERATOR}>", to=to, in_reply_to=in_reply_to,
                        references=[in_reply_to] if in_reply_to else None, **headers)
        return self.send(self.dkim.sign(raw) if signed else raw, to=to)

    def run_jobs(self) -> None:
        """What the scheduler does after the commits: request mail, then command mails."""
        process_requests(self.engine, self.config)
        process_command_mails(self.engine, self.config, dnsfunc=self.dkim.dnsfunc)

    def topic_json(self, topic_id: int, tmp_path: Path) -> dict[str, Any]:
        """`relais topics show ID --json`, as an operator runs it."""
        path = tmp_path / "relais.toml"
        path.write_text(f'[forum]\naddress = "{FORUM}"\n[storage]\ndatabase_url = "{self.config.database_url}"\n'
                        f'[search]\nindex_dir = "{self.config.index_dir}"\n')
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert main(["--config", str(path), "topics", "show", str(topic_id), "--json"]) == 0
        return json.loads(out.getvalue())

    def mail_to(self, address: str, purpose: str | None = None) -> list[EmailMessage]:
        """The mail Relais queued for an address (oldest first), as its mail client reads it."""
        with session_scope(self.engine) as db:
            query = select(OutboundMessage.raw).where(OutboundMessage.recipient == address)
            if purpose:
                query = query.where(OutboundMessage.purpose == purpose)
            raws = list(db.scalars(query.order_by(OutboundMessage.id)))
        return [email.message_from_bytes(raw, policy=email.policy.default) for raw in raws]  # type: ignore[misc]

    def count(self, model: Any, *where: Any) -> int:
        with session_scope(self.engine) as db:
            return db.scalar(select(func.count()).select_from(model).where(*where)) or 0

    def topic(self, topic_id: int) -> Topic:
        with session_scope(self.engine) as db:
            topic = db.get(Topic, topic_id)
            assert topic is not None
            _ = topic.category
            return topic

    def log(self) -> list[tuple[str, str | None, str, str, str]]:
        """(action, actor's name, via, before, after) of the audit rows, oldest first."""
        with session_scope(self.engine) as db:
            return [(e.action, e.actor.name if e.actor else None, e.via, e.before, e.after)
                    for e in db.scalars(select(ModerationLogEntry).order_by(ModerationLogEntry.id))]

    def held(self) -> list[HeldMessage]:
        with session_scope(self.engine) as db:
            return list(db.scalars(select(HeldMessage).order_by(HeldMessage.id)))

    def posts_queued(self) -> int:
        return self.count(Fanout)


def body_of(message: EmailMessage) -> str:
    return message.get_body(("plain",)).get_content()  # type: ignore[union-attr]


@pytest.fixture
def forum(gateway: Gateway, sink: Sink, dkim_key: DkimKey) -> Forum:
    instance = gateway.instance
    with session_scope(instance.engine) as db:
        for address, name, org, kind, role in (
                (MODERATOR, "Modo Team", "MOT", OrganisationKind.TEAM, Role.MODERATOR),
                ("alice@example.org", "Alice Martin", "Eurométropole", OrganisationKind.MEMBER, Role.MEMBER),
                ("bob@example.org", "Bob Weber", "Landkreis Lörrach", OrganisationKind.MEMBER, Role.MEMBER)):
            upsert_member(db, MemberRow(address, name, org, kind, role), DeliveryMode.ALL)
    return Forum(gateway, sink, dkim_key)
