"""What each reader may see, for both settings of [archive] visibility: titles, categories,
statuses and resolutions for everyone; bodies, authors and attachments for members unless the
archive is public; email addresses never for visitors, obfuscated for members."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from email.message import EmailMessage

import pytest

from mailgateway.indexer import index_all_pending
from storage.models import Resolution, TopicStatus
from webtools import app, classify_topic, client, make_config, sign_in, visibility  # noqa: F401

SECRET = "Le montant exact est de 4321 euros"
ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
def archive(instance, gateway):  # type: ignore[no-untyped-def]
    instance.add_member("alice@example.org", "Alice Martin", "Eurométropole")
    instance.add_member("bruno@example.de", "Bruno Keller", "Ortenaukreis")
    msg = EmailMessage()
    msg["From"], msg["To"] = "Alice Martin <alice@example.org>", "forum@example.org"
    msg["Subject"], msg["Message-ID"] = "Indemnités des frontaliers", "<v1@x>"
    msg["Date"] = "Mon, 23 Nov 2026 10:00:00 +0100"
    msg.set_content(f"{SECRET}.\nÉcrivez-moi à alice@example.org pour le détail.\n")
    msg.add_attachment(b"tableau", maintype="text", subtype="csv", filename="montants.csv")
    assert gateway.send(msg.as_bytes())[0] == 250
    index_all_pending(instance.engine, instance.config)
    topic_id = 1
    classify_topic(instance, topic_id, category="Emploi", status=TopicStatus.CLOSED, resolution=Resolution.STUDY)
    return instance


PAGES = ["/", "/topics/1", "/categories", "/categories/emploi", "/obstacles"]
FEEDS = ["/feeds/topics.atom", "/feeds/topics/1.atom", "/feeds/categories/emploi.atom"]


def everything(client) -> str:  # type: ignore[no-untyped-def]
    """Every page and feed a reader can open about the topic, as one text."""
    out = []
    for path in PAGES + FEEDS:
        response = client.get(path)
        assert response.status_code == 200, path
        out.append(response.get_data(as_text=True))
    return "\n".join(out)


def assert_public_facts(seen: str) -> None:
    for fact in ("Indemnités des frontaliers", "Emploi", "Clos", "étude"):
        assert fact in seen


@pytest.mark.parametrize("visibility", ["members"])
def test_a_visitor_of_a_members_archive_sees_titles_and_statuses_only(archive, client):
    seen = everything(client)
    assert_public_facts(seen)
    for private in (SECRET, "Alice", "Eurométropole", "alice@", "alice (at)", "montants.csv"):
        assert private not in seen, private
    assert "réservé aux membres" in seen
    assert client.get("/messages/1/attachments/0").status_code == 403
    assert client.get("/topics/1.mbox").status_code == 403
    entry = ET.fromstring(client.get("/feeds/topics.atom").data).find(f"{ATOM}entry")
    assert entry.find(f"{ATOM}title").text == "Indemnités des frontaliers"
    assert entry.find(f"{ATOM}content") is None and entry.find(f"{ATOM}author") is None


@pytest.mark.parametrize("visibility", ["public"])
def test_a_visitor_of_a_public_archive_reads_everything_but_addresses(archive, client):
    seen = everything(client)
    assert_public_facts(seen)
    assert SECRET in seen and "Alice Martin" in seen and "montants.csv" in seen
    assert "alice@" not in seen and "alice (at)" not in seen and "(adresse masquée)" in seen
    assert client.get("/messages/1/attachments/0").data == b"tableau"
    assert client.get("/topics/1.mbox").status_code == 403  # the raw mail carries addresses
    content = ET.fromstring(client.get("/feeds/topics/1.atom").data).find(f"{ATOM}entry/{ATOM}content").text
    assert SECRET in content and "alice@" not in content


def test_a_member_reads_everything_with_addresses_obfuscated(archive, client, sink):
    sign_in(client, archive, sink, "bruno@example.de")
    seen = everything(client)
    assert_public_facts(seen)
    assert SECRET in seen and "Alice Martin" in seen and "Eurométropole" in seen and "montants.csv" in seen
    assert "alice (at) example.org" in seen
    assert not re.search(r"alice@example\.org", seen)
    assert client.get("/messages/1/attachments/0").data == b"tableau"
