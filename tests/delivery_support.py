"""What the delivery tests share: an instance whose relay is the test's SMTP sink (so the
conftest `gateway` fixture runs against it), members with a delivery mode, and reading
what the sink received as the members' mail clients would.

Import the fixtures in a test module (`from delivery_support import instance, forum`):
this `instance` replaces conftest's for that module.
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import insert, select

from conftest import FORUM, Gateway, Instance, Sink, free_port
from rfc5322 import assert_valid_rfc5322
from mailgateway.fanout import deliver_posts
from mailgateway.delivery import DeliveryRound
from mailgateway.server import start_gateway
from storage.db import session_scope
from storage.instance import initialise
from storage.models import (
    Address,
    DeliveryMode,
    Organisation,
    OrganisationKind,
    Person,
    Role,
    Subscription,
    utcnow,
)
from storage.people import MemberRow, person_by_address, upsert_member

# Test modules take the fixtures with `from delivery_support import *`.
__all__ = ["FORUM", "Forum", "add_subscribers", "delivery_settings", "forum", "instance", "relay_settings", "running_forum",
           "sink_on", "text_parts"]


def relay_settings(sink: Sink, **delivery: Any) -> dict[str, Any]:
    return {"relay_host": "127.0.0.1", "relay_port": sink.port, "relay_starttls": False, **delivery}


@pytest.fixture
def delivery_settings(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Extra [delivery] settings for a test's instance:
    `@pytest.mark.parametrize("delivery_settings", [{...}], indirect=True)`."""
    return getattr(request, "param", {})


@pytest.fixture
def instance(make_config, sink: Sink, delivery_settings: dict[str, Any]) -> Iterator[Instance]:  # type: ignore[no-untyped-def]
    config = make_config(delivery=relay_settings(sink, **delivery_settings))
    engine = initialise(config)
    yield Instance(config, engine)
    engine.dispose()


@dataclass
class Forum:
    gateway: Gateway
    sink: Sink

    @property
    def config(self):  # type: ignore[no-untyped-def]
        return self.gateway.instance.config

    @property
    def engine(self):  # type: ignore[no-untyped-def]
        return self.gateway.instance.engine

    def member(self, address: str, name: str = "", mode: DeliveryMode = DeliveryMode.ALL,
               organisation: str = "Eurométropole", role: Role = Role.MEMBER) -> int:
        """Add a member in a delivery mode; returns their subscription id."""
        with session_scope(self.engine) as db:
            upsert_member(db, MemberRow(address, name or address.split("@")[0].title(), organisation,
                                        OrganisationKind.MEMBER, role), DeliveryMode.ALL)
            person = person_by_address(db, address)
            person.subscription.mode = mode
            return person.subscription.id

    def person_id(self, address: str) -> int:
        with session_scope(self.engine) as db:
            return person_by_address(db, address).id

    def subscription(self, subscription_id: int) -> Subscription:
        with session_scope(self.engine) as db:
            return db.scalar(select(Subscription).where(Subscription.id == subscription_id))

    def post(self, raw: bytes, mail_from: str = "alice@example.org", to: str = FORUM) -> tuple[int, str]:
        return self.gateway.send(raw, mail_from=mail_from, to=to)

    def deliver(self, **kwargs: Any) -> DeliveryRound:
        return deliver_posts(self.engine, self.config, **kwargs)

    def received(self) -> list[tuple[str, str, EmailMessage]]:
        """(envelope sender, recipient, message) of everything the relay accepted, each
        checked to be mail a strict relay accepts (tests/rfc5322.py)."""
        with self.sink.lock:
            got = list(self.sink.received)
        for _, _, raw in got:
            assert_valid_rfc5322(raw)
        return [(mail_from, rcpt, email.message_from_bytes(raw, policy=email.policy.default))
                for mail_from, rcpts, raw in got for rcpt in rcpts]

    def copies_to(self, address: str) -> list[EmailMessage]:
        return [msg for _, rcpt, msg in self.received() if rcpt == address]

    def recipients(self) -> list[str]:
        return sorted(rcpt for _, rcpt, _ in self.received())

    def clear(self) -> None:
        with self.sink.lock:
            self.sink.received.clear()


@pytest.fixture
def forum(gateway: Gateway, sink: Sink) -> Forum:
    return Forum(gateway, sink)


def text_parts(msg: EmailMessage) -> list[str]:
    """The decoded text of every text/plain and text/html part that is not an attachment
    (line ends read as a mail client shows them)."""
    return [part.get_content().replace("\r\n", "\n") for part in msg.walk()
            if part.get_content_type() in ("text/plain", "text/html")
            and part.get_content_disposition() != "attachment"]


@contextmanager
def running_forum(make_config, sink: Sink, relay_port: int | None = None,  # type: ignore[no-untyped-def]
                  **delivery: Any) -> Iterator[Forum]:
    """A forum with its gateway running, whose relay is `relay_port` (default: the sink's)."""
    config = make_config(delivery={**relay_settings(sink, **delivery), "relay_port": relay_port or sink.port})
    engine = initialise(config)
    instance_ = Instance(config, engine)
    port = free_port()
    controller = start_gateway(config, instance_.secret, host="127.0.0.1", port=port)
    try:
        yield Forum(Gateway(instance_, controller, port), sink)
    finally:
        controller.stop()
        engine.dispose()


@contextmanager
def sink_on(sink: Sink) -> Iterator[Sink]:
    """Run an SMTP sink (or a subclass with other answers) on its port until the block ends."""
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port, decode_data=False)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


def add_subscribers(engine, count: int) -> list[str]:  # type: ignore[no-untyped-def]
    """`count` members subscribed in mode all, inserted in bulk (a big list in seconds);
    returns their addresses."""
    now = utcnow()
    addresses = [f"member{i}@list{i % 50}.example.net" for i in range(count)]
    with session_scope(engine) as db:
        org_id = db.execute(insert(Organisation).values(name="Liste", kind="member")).inserted_primary_key[0]
        db.execute(insert(Person), [{"name": f"Membre {i}", "organisation_id": org_id, "role": "member",
                                     "created_at": now} for i in range(count)])
        ids = list(db.scalars(select(Person.id).where(Person.organisation_id == org_id).order_by(Person.id)))
        db.execute(insert(Address), [{"email": a, "person_id": pid} for a, pid in zip(addresses, ids)])
        db.execute(insert(Subscription), [{"person_id": pid, "mode": "all", "created_at": now,
                                           "bounce_score": 0} for pid in ids])
    return addresses
