"""Helpers for the web archive's tests: the real Flask app over a real instance (messages
arrive through the real gateway), forms sent with their CSRF token as a browser would, and
the sign-in link read from the mail that the SMTP sink received."""

from __future__ import annotations

import email
import email.policy
import html
import re
import unicodedata
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from archive_web import create_app
from mailgateway.delivery import deliver_due
from storage.db import session_scope
from storage.models import Category, Resolution, Topic, TopicStatus

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
LINK = re.compile(r"https?://\S+")


@pytest.fixture(params=["members", "public"])
def visibility(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def make_config(make_config, sink, visibility):  # type: ignore[no-untyped-def]
    """The conftest's make_config, with the archive's visibility and the sink as the relay."""
    def make(**sections: dict[str, Any]) -> Any:
        merged = {"archive": {"visibility": visibility},
                  "delivery": {"relay_host": "127.0.0.1", "relay_port": sink.port, "relay_starttls": False}}
        for name, values in sections.items():
            merged.setdefault(name, {}).update(values)
        return make_config(**merged)
    return make


@pytest.fixture
def app(instance) -> Flask:  # type: ignore[no-untyped-def]
    return create_app(instance.config, instance.engine)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def text_of(response: Any) -> str:
    """The page's text as a reader sees it (tags dropped, entities decoded)."""
    page = response.get_data(as_text=True)
    page = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", page)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def csrf_token(client: FlaskClient, path: str) -> str:
    found = CSRF.search(client.get(path).get_data(as_text=True))
    assert found, f"no form with a CSRF token on {path}"
    return found.group(1)


def submit(client: FlaskClient, form_page: str, action: str, **fields: Any) -> Any:
    """POST a form as a browser would: with the token of the page that shows it."""
    return client.post(action, data={"csrf_token": csrf_token(client, form_page), **fields})


def mails_to(sink: Any, address: str, count: int = 1) -> list[email.message.EmailMessage]:
    received = sink.wait_for(count)
    return [email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[misc]
            for _from, rcpts, raw in received if address.lower() in rcpts]


def mail_with_subject(sink: Any, address: str, start: str, timeout: float = 30) -> email.message.EmailMessage:
    """Wait until the sink has received, for `address`, a mail whose subject starts so."""
    def found() -> list[email.message.EmailMessage]:
        return [m for m in (email.message_from_bytes(raw, policy=email.policy.default)
                            for _from, rcpts, raw in sink.received if address in rcpts)
                if str(m["Subject"]).startswith(start)]
    with sink.arrived:
        assert sink.arrived.wait_for(found, timeout=timeout), f"no mail “{start}…” reached {address}"
        return found()[-1]  # type: ignore[return-value]


def link_in(message: email.message.EmailMessage) -> str:
    body = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    found = LINK.search(body)
    assert found, body
    return found.group(0)


def request_sign_in_link(client: FlaskClient, instance: Any, sink: Any, address: str) -> str:
    """Ask for a link on the sign-in page and read it from the mail the relay received."""
    before = len(sink.received)
    response = submit(client, "/sign-in", "/sign-in", address=address)
    assert response.status_code == 200, response.status_code
    deliver_due(instance.engine, instance.config)
    mails = mails_to(sink, address, before + 1)
    assert mails, f"no sign-in mail reached {address}"
    return link_in(mails[-1])


def path_of(link: str) -> str:
    return re.sub(r"^https?://[^/]+", "", link)


def sign_in(client: FlaskClient, instance: Any, sink: Any, address: str) -> None:
    link = path_of(request_sign_in_link(client, instance, sink, address))
    response = submit(client, link, link)
    assert response.status_code == 302, response.status_code


def classify_topic(instance: Any, topic_id: int, *, category: str | None = None,
                   status: TopicStatus = TopicStatus.OPEN, resolution: Resolution | None = None) -> None:
    """What moderators do by mail (another area's work): set here directly in storage."""
    with session_scope(instance.engine) as db:
        topic = db.get(Topic, topic_id)
        if category:
            plain = unicodedata.normalize("NFKD", category.lower()).encode("ascii", "ignore").decode()
            slug = re.sub(r"[^a-z0-9]+", "-", plain).strip("-")
            found = db.query(Category).filter_by(slug=slug).one_or_none()
            topic.category = found or Category(name=category, slug=slug)
        topic.status, topic.resolution = status, resolution
