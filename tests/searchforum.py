"""A forum to search in tests: members write through the real gateway, the real indexing
job indexes, and readers search through the real web app (anonymous or signed in)."""

from __future__ import annotations

import email.utils
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select

from archive_web import create_app
from mailgateway.indexer import index_all_pending
from storage.db import session_scope
from storage.models import Category, Message, Topic, utcnow
from storage.people import person_by_address
from storage.search_queue import mark_topic_for_reindex
from storage.search_index import SearchIndex
from storage.web_sessions import open_web_session

ALICE = "alice@example.org"
BOB = "bob@example.org"
ALICE_FROM = f"Alice Martin <{ALICE}>"
BOB_FROM = f"Bob Weber <{BOB}>"
START = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


@dataclass
class Forum:
    gateway: Any
    search: SearchIndex = field(init=False)
    sent: int = 0

    def __post_init__(self) -> None:
        config = self.gateway.instance.config
        self.search = SearchIndex(config.index_dir)
        self.app = create_app(config, self.gateway.instance.engine)
        self.app.extensions["relais.search"] = self.search

    def with_search_settings(self, **settings: Any) -> None:
        """Serve the web app again with these [search] settings (as config.toml would set them)."""
        config = self.gateway.instance.config
        self.app = create_app(replace(config, search=replace(config.search, **settings)), self.engine)
        self.app.extensions["relais.search"] = self.search

    @property
    def engine(self):  # type: ignore[no-untyped-def]
        return self.gateway.instance.engine

    def post(self, subject: str, body: str, *, sender: str = ALICE_FROM, reply_to: str | None = None,
             when: datetime | None = None, attachment: str | None = None) -> str:
        """Send a message through the gateway; returns its Message-ID."""
        self.sent += 1
        message_id = f"m{self.sent}@test.example.org"
        msg = EmailMessage()
        msg["From"] = sender
        msg["To"] = "forum@example.org"
        msg["Subject"] = subject
        msg["Date"] = email.utils.format_datetime(when or START + timedelta(hours=self.sent))
        msg["Message-ID"] = f"<{message_id}>"
        if reply_to:
            msg["In-Reply-To"] = f"<{reply_to}>"
            msg["References"] = f"<{reply_to}>"
        msg.set_content(body)
        if attachment:
            msg.add_attachment(b"%PDF-1.4 test", maintype="application", subtype="pdf", filename=attachment)
        code, reply = self.gateway.send(msg.as_bytes(), mail_from=email.utils.parseaddr(sender)[1])
        assert code == 250, reply
        return message_id

    def index(self) -> int:
        return index_all_pending(self.engine, self.gateway.instance.config, self.search)

    def topic_of(self, message_id: str) -> int:
        with session_scope(self.engine, readonly=True) as db:
            return db.scalar(select(Message.topic_id).where(Message.message_id == message_id))

    def change_topic(self, message_id: str, *, category: str | None = None, status: str | None = None,
                     resolution: str | None = None) -> None:
        """What a moderator's change does (issue 6): change the topic, mark it for the index."""
        topic_id = self.topic_of(message_id)
        with session_scope(self.engine) as db:
            topic = db.get(Topic, topic_id)
            if category:
                slug = category.lower().replace(" ", "-").replace("é", "e")
                found = db.scalar(select(Category).where(Category.slug == slug))
                topic.category = found or Category(name=category, slug=slug)
            if status:
                topic.status = status
            if resolution:
                topic.resolution = resolution
            mark_topic_for_reindex(db, topic_id)

    def client(self, member: str | None = None) -> FlaskClient:
        client = self.app.test_client()
        if member:
            with session_scope(self.engine) as db:  # a signed-in browser, as sign-in opens one
                sid = open_web_session(db, person_by_address(db, member).id, "mail", "", utcnow())
            with client.session_transaction() as session:
                session["sid"] = sid
        return client

    def json(self, member: str | None = ALICE, **params: Any) -> dict[str, Any]:
        response = self.client(member).get("/search.json", query_string=params)
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_json()

    def json_in(self, language: str, member: str | None = ALICE, **params: Any) -> tuple[int, dict[str, Any]]:
        response = self.client(member).get("/search.json", query_string=params,
                                           headers={"Accept-Language": language})
        return response.status_code, response.get_json()

    def page_in(self, language: str, member: str | None = ALICE, **params: Any) -> str:
        """The search page as a reader of that language sees it."""
        response = self.client(member).get("/search", query_string=params, headers={"Accept-Language": language})
        assert response.status_code == 200
        return response.get_data(as_text=True)

    def titles(self, member: str | None = ALICE, **params: Any) -> list[str]:
        return [t["title"] for t in self.json(member, **params)["topics"]]

    def page(self, member: str | None = ALICE, **params: Any) -> str:
        response = self.client(member).get("/search", query_string=params)
        assert response.status_code == 200
        return response.get_data(as_text=True)


def make_forum(gateway: Any) -> Forum:
    gateway.instance.add_member(ALICE, "Alice Martin", organisation="Eurométropole")
    gateway.instance.add_member(BOB, "Bob Weber", organisation="Landkreis Lörrach")
    return Forum(gateway)
