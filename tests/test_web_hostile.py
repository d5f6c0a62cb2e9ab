"""The web archive against hostile visitors and hostile mail (issue 10): redirects that never
leave the site, addresses never shown to visitors and obfuscated for members wherever they
hide (names, subjects, categories, feeds, CSV), spreadsheet-safe CSV, well-formed feeds
whatever mail carries, a sign-in that does the same work for everyone, and attachments
whose names download and show as they are."""

from __future__ import annotations

import csv
import email
import email.policy
import http.client
import io
import re
import threading
import xml.etree.ElementTree as ET
from urllib.parse import unquote
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from archive_web import create_app
from sqlalchemy import event, select
from werkzeug.serving import make_server

from mailfactory import make_mail
from mailgateway.delivery import deliver_due
from mailgateway.indexer import index_all_pending
from mailgateway.reporting import send_periodic_report
from storage.db import session_scope
from storage.models import Attachment, OutboundMessage, SignInLink
from webtools import (  # noqa: F401
    app,
    classify_topic,
    client,
    csrf_token,
    link_in,
    mails_to,
    make_config,
    path_of,
    sign_in,
    submit,
    text_of,
    visibility,
)

ATOM = "{http://www.w3.org/2005/Atom}"
ANY_ADDRESS = re.compile(r"[\w.+'-]+(@|%40|＠)[\w-]+(\.[\w-]+)+")
FORUM_OWN = {"forum@example.org", "forum-request@example.org"}


# --- 7. Redirects chosen by a request stay on the site --------------------------------------

OFF_SITE = ["//evil.example.com", "/\\evil.example.com", "/\t/evil.example.com", "/%09/evil.example.com",
            "\t//evil.example.com", "https:evil.example.com", "/%2F%2Fevil.example.com",
            "https://evil.example.com/", "/\r\n/evil.example.com", " //evil.example.com",
            "\\\\evil.example.com", "/\\/evil.example.com", "%2F%2Fevil.example.com", "/%5Cevil.example.com",
            "javascript:alert(1)", "\u202e//evil.example.com", "///evil.example.com", "/%0a/evil.example.com"]


@pytest.mark.parametrize("visibility", ["public"])
def test_the_language_switch_never_sends_the_reader_to_another_site(client):
    for target in OFF_SITE:
        response = client.get("/language/en", query_string={"next": target})
        assert response.status_code == 302 and response.headers["Location"] == "/", target


@pytest.mark.parametrize("visibility", ["public"])
def test_the_language_switch_brings_the_reader_back_to_the_page(client):
    for target in ("/help", "/obstacles?status=open", "/search?q=a%20b", "/topics/3#m4"):
        assert client.get("/language/en", query_string={"next": target}).headers["Location"] == target


@pytest.mark.parametrize("visibility", ["members"])
def test_after_signing_in_the_reader_never_lands_on_another_site(instance, make_config, sink):
    instance.add_member("alice@example.org", "Alice Martin")
    client = create_app(make_config(web={"sign_in_limit_per_address": 100}), instance.engine).test_client()
    for n, target in enumerate(OFF_SITE + ["/topics/7"]):
        expected = "/topics/7" if target == "/topics/7" else "/"
        form = client.get("/sign-in", query_string={"next": target}).get_data(as_text=True)
        assert f'name="next" value="{expected}"' in form, target
        response = submit(client, "/sign-in", "/sign-in", address="alice@example.org", next=target)
        assert response.status_code == 200
        deliver_due(instance.engine, instance.config)
        link = path_of(link_in(mails_to(sink, "alice@example.org", n + 1)[-1]))
        used = submit(client, link, link)
        assert used.status_code == 302 and used.headers["Location"] == expected, target


# --- 8. Addresses: hidden from visitors, obfuscated for members, wherever they are ----------

@pytest.fixture
def addressed(instance, gateway):  # type: ignore[no-untyped-def]
    """A topic whose author's display name is an address, with addresses in its subject, a
    reply's subject, its body, an attachment's name, its category and its author's organisation."""
    instance.add_member("carol@example.net", "Carol Dupont", "Mairie contact@mairie.example.fr")
    instance.add_member("bruno@example.de", "Bruno Keller", "Ortenaukreis")
    first = make_mail("Contact dan@example.com pour les frontaliers", message_id="a1@x",
                      sender='"carol@example.net" <carol@example.net>',
                      body="Bonjour,\n\nÉcrire à eve@example.org pour le détail.\n")
    reply = make_mail("Re: Contact dan@example.com — voir gina@example.org ou frank%40example.org", message_id="a2@x",
                      sender="Bruno Keller <bruno@example.de>", in_reply_to="a1@x")
    with_file = email.message_from_bytes(first, policy=email.policy.default)
    with_file.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf", filename="CR hugo@example.org.pdf")
    for raw in (with_file.as_bytes(), reply):
        assert gateway.send(raw)[0] == 250
    index_all_pending(instance.engine, instance.config)
    classify_topic(instance, 1, category="Liste ops@example.org")
    return instance


PLANTED = ["carol@example.net", "dan@example.com", "eve@example.org", "frank%40example.org",
           "gina@example.org", "hugo@example.org", "contact@mairie.example.fr", "ops@example.org"]
EVERYWHERE = ["/", "/topics/1", "/categories", "/categories/liste-ops-example-org", "/obstacles",
              "/obstacles.csv", "/obstacles.atom", "/feeds/topics.atom", "/feeds/topics/1.atom",
              "/feeds/categories/liste-ops-example-org.atom", "/good-practices", "/help"]


def all_that_is_shown(client) -> str:  # type: ignore[no-untyped-def]
    out = []
    for path in EVERYWHERE:
        response = client.get(path)
        assert response.status_code == 200, path
        out.append(response.get_data(as_text=True))
    return "\n".join(out)


@pytest.mark.parametrize("visibility", ["public", "members"])
def test_a_visitor_never_sees_an_address(addressed, client):
    shown = all_that_is_shown(client)
    assert {m.group(0) for m in ANY_ADDRESS.finditer(shown)} <= FORUM_OWN
    assert "Contact (adresse masquée) pour les frontaliers" in shown  # the title stays readable


@pytest.mark.parametrize("visibility", ["public"])
def test_a_member_sees_every_address_obfuscated(addressed, client, sink):
    sign_in(client, addressed, sink, "bruno@example.de")
    shown = all_that_is_shown(client) + client.get("/organisations").get_data(as_text=True)
    assert {m.group(0) for m in ANY_ADDRESS.finditer(shown)} <= FORUM_OWN
    for planted in PLANTED:
        local, domain = re.split("@|%40", planted)
        assert f"{local} (at) {domain}" in shown, planted


@pytest.mark.parametrize("visibility", ["public"])
def test_hiding_addresses_in_hostile_text_takes_linear_time(instance, gateway, client):
    """A 100,000-character word ending in "@" (quoted-printable joins it into one line) once
    cost the address search quadratic time: minutes for this feed, now milliseconds."""
    instance.add_member("alice@example.org", "Alice Martin")
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "Alice Martin <alice@example.org>", "forum@example.org", "Mot long"
    msg["Message-ID"] = "<long@x>"
    msg.set_content("a" * 100_000 + "@ et alice@example.org\n", cte="quoted-printable")
    assert gateway.send(msg.as_bytes(policy=email.policy.SMTP))[0] == 250
    index_all_pending(instance.engine, instance.config)
    answered: list[Any] = []
    reading = threading.Thread(target=lambda: answered.append(client.get("/feeds/topics/1.atom")), daemon=True)
    reading.start()
    reading.join(timeout=20)
    assert answered and answered[0].status_code == 200, "the feed did not answer within 20 s"
    assert "(adresse masquée)" in answered[0].get_data(as_text=True)


# --- 11. Spreadsheet formulas, control characters in feeds -----------------------------------

FORMULAS = ['=HYPERLINK("http://evil.example.com","clic")', "+33 1 23 45 67 89", "-2+3", "@SUM(A1:A9)"]


def csv_titles(text: str) -> set[str]:
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    return {row[1] for row in rows[1:]}


@pytest.mark.parametrize("visibility", ["public"])
def test_csv_cells_never_run_as_formulas(instance, make_config, gateway, client, sink):
    instance.add_member("alice@example.org", "Alice Martin")
    for n, title in enumerate(FORMULAS):
        assert gateway.send(make_mail(title, message_id=f"f{n}@x"))[0] == 250
    expected = {"'" + title for title in FORMULAS}
    assert csv_titles(client.get("/obstacles.csv").get_data(as_text=True)) == expected

    config = make_config(reporting={"recipients": ["coordination@example.gouv.fr"]})
    assert send_periodic_report(instance.engine, config) == 1
    deliver_due(instance.engine, config)
    [report] = mails_to(sink, "coordination@example.gouv.fr")
    [attachment] = list(report.iter_attachments())
    assert csv_titles(attachment.get_content()) == expected


@pytest.mark.parametrize("visibility", ["members"])
def test_the_mailed_report_hides_addresses(instance, make_config, gateway, client, sink):
    instance.add_member("alice@example.org", "Alice Martin", "Mairie accueil@mairie.example.fr")
    assert gateway.send(make_mail("Écrire à ivan@example.org pour les permis", message_id="r1@x"))[0] == 250
    classify_topic(instance, 1, category="Permis jules@example.org")
    config = make_config(reporting={"recipients": ["coordination@example.gouv.fr"]})
    assert send_periodic_report(instance.engine, config) == 1
    deliver_due(instance.engine, config)
    [report] = mails_to(sink, "coordination@example.gouv.fr")
    text = report.get_body(("plain",)).get_content()
    [attachment] = list(report.iter_attachments())
    for shown in (text, attachment.get_content()):
        assert "Écrire à (adresse masquée) pour les permis" in shown and "Permis (adresse masquée)" in shown
        assert {m.group(0) for m in ANY_ADDRESS.finditer(shown)} <= FORUM_OWN, shown


def raw_mail_with_controls(n: int) -> bytes:
    return (f"From: =?utf-8?q?Alice=01=0BMartin?= <alice@example.org>\r\n"
            f"To: forum@example.org\r\nSubject: =?utf-8?q?Obstacle=1B=5B31m_n=C2=B0{n}=0C?=\r\n"
            f"Message-ID: <ctl{n}@x>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0100\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n"
            "Texte avec \x1b[2J, \x08, \x0b et \x7f dedans.\r\n").encode()


@pytest.mark.parametrize("visibility", ["public"])
def test_feeds_stay_well_formed_whatever_the_mail_carries(instance, gateway, client):
    instance.add_member("alice@example.org", "Alice Martin")
    for n in range(2):
        assert gateway.send(raw_mail_with_controls(n))[0] == 250
    index_all_pending(instance.engine, instance.config)
    classify_topic(instance, 1, category="Contrôles")
    for path in ("/feeds/topics.atom", "/feeds/topics/1.atom", "/feeds/categories/controles.atom", "/obstacles.atom"):
        feed = ET.fromstring(client.get(path).get_data())  # raises on a character XML forbids
        titles = [e.find(f"{ATOM}title").text for e in feed.findall(f"{ATOM}entry")]
        assert any(t.startswith("Obstacle[31m n°") for t in titles), (path, titles)
    entry = ET.fromstring(client.get("/feeds/topics/1.atom").get_data()).find(f"{ATOM}entry")
    assert entry.find(f"{ATOM}author/{ATOM}name").text == "AliceMartin"
    assert "Texte avec [2J" in entry.find(f"{ATOM}content").text


# --- 11. Sign-in: the same work for members and strangers ------------------------------------

@pytest.fixture
def statements(instance) -> Iterator[list[str]]:  # type: ignore[no-untyped-def]
    """The SQL statements the application runs, as they reach the database."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(" ".join(statement.split()))
    event.listen(instance.engine, "before_cursor_execute", record)
    yield seen
    event.remove(instance.engine, "before_cursor_execute", record)


def shape(sql: list[str]) -> list[str]:
    return [re.sub(r"\b\d+\b", "N", s) for s in sql]


@pytest.mark.parametrize("visibility", ["members"])
def test_sign_in_does_the_same_work_for_a_member_and_a_stranger(instance, client, sink, statements):
    instance.add_member("alice@example.org", "Alice Martin")
    work = {}
    for address in ("alice@example.org", "nobody@example.org"):
        token = csrf_token(client, "/sign-in")
        statements.clear()
        response = client.post("/sign-in", data={"csrf_token": token, "address": address, "next": "/"})
        assert response.status_code == 200
        work[address] = shape(statements)
    member, stranger = work["alice@example.org"], work["nobody@example.org"]
    # The same statements in the same order: a link recorded, a mail queued. A stranger's are
    # withdrawn at the end (back to the savepoint) instead of kept.
    assert any(s.startswith("INSERT INTO sign_in_links") for s in member)
    assert any(s.startswith("INSERT INTO outbound_messages") for s in member)
    assert [s for s in member if not s.startswith("RELEASE SAVEPOINT")] == \
        [s for s in stranger if not s.startswith("ROLLBACK TO SAVEPOINT")]
    with session_scope(instance.engine) as db:
        assert db.scalars(select(SignInLink.address)).all() == ["alice@example.org"]
        assert db.scalars(select(OutboundMessage.recipient)).all() == ["alice@example.org"]


# --- 11. Attachments: their names, and reading one part only ---------------------------------

@pytest.fixture
def served(app) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The application behind a real HTTP server; yields its host:port."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


def download(host: str, path: str) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(host, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def downloaded_name(content_disposition: str) -> str:
    """The file name a browser takes from the header: RFC 6266's filename* (UTF-8) if there
    is one, else filename."""
    extended = re.search(r"filename\*=UTF-8''([^;\s]+)", content_disposition)
    if extended:
        return unquote(extended.group(1))
    plain = re.search(r'filename=(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))', content_disposition)
    assert plain, content_disposition
    return re.sub(r"\\(.)", r"\1", plain.group(1)) if plain.group(1) is not None else plain.group(2)


@pytest.mark.parametrize("visibility", ["public"])
def test_attachment_names_download_whole_and_show_what_they_are(instance, gateway, client, served):
    instance.add_member("alice@example.org", "Alice Martin")
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "Alice Martin <alice@example.org>", "forum@example.org", "Pièces"
    msg["Message-ID"] = "<pj@x>"
    msg.set_content("Voir les pièces jointes.")
    msg.add_attachment(b"%PDF-1.4 note", maintype="application", subtype="pdf", filename="Note d’information.pdf")
    msg.add_attachment(b"MZ\x90\x00", maintype="application", subtype="octet-stream",
                       filename="facture\u202efdp.exe")
    assert gateway.send(msg.as_bytes())[0] == 250
    index_all_pending(instance.engine, instance.config)

    status, headers, body = download(served, "/messages/1/attachments/0")
    assert status == 200 and body == b"%PDF-1.4 note"
    assert headers["Content-Disposition"].isascii()
    assert downloaded_name(headers["Content-Disposition"]) == "Note d’information.pdf"
    status, headers, body = download(served, "/messages/1/attachments/1")
    assert status == 200 and body == b"MZ\x90\x00"
    assert downloaded_name(headers["Content-Disposition"]) == "facturefdp.exe"
    page = client.get("/topics/1").get_data(as_text=True)
    assert "facturefdp.exe" in page and "\u202e" not in page and "Note d’information.pdf" in page


@pytest.mark.parametrize("visibility", ["public"])
def test_a_download_reads_its_part_only(instance, gateway, client, statements):
    instance.add_member("alice@example.org", "Alice Martin")
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "Alice Martin <alice@example.org>", "forum@example.org", "Annexes"
    msg["Message-ID"] = "<many@x>"
    msg.set_content("Les annexes.")
    for n in range(300):
        msg.add_attachment(f"annexe {n}\n".encode() * (n % 7 + 1), maintype="application",
                           subtype="octet-stream", filename=f"annexe-{n}.bin")
    assert gateway.send(msg.as_bytes(policy=email.policy.SMTP))[0] == 250  # CRLF: past 64 KB, SMTP needs it
    index_all_pending(instance.engine, instance.config)

    assert client.get("/messages/1/attachments/5").data == b"annexe 5\n" * 6  # maps the parts
    with session_scope(instance.engine) as db:
        assert None not in db.scalars(select(Attachment.part_start).where(Attachment.message_pk == 1)).all()
    for n in (0, 151, 299):
        statements.clear()
        assert client.get(f"/messages/1/attachments/{n}").data == f"annexe {n}\n".encode() * (n % 7 + 1)
        raw_reads = [s for s in statements if "messages.raw" in s]
        assert raw_reads and all("substr(messages.raw" in s for s in raw_reads), raw_reads
    statements.clear()
    assert client.get("/messages/1/attachments/300").status_code == 404
    assert not [s for s in statements if "messages.raw" in s]  # its attachments are all listed


@pytest.mark.parametrize("visibility", ["public"])
def test_a_message_that_cannot_be_mapped_is_read_whole_and_never_mapped_again(instance, gateway, client, statements):
    instance.add_member("alice@example.org", "Alice Martin")
    raw = (b"From: Alice Martin <alice@example.org>\r\nTo: forum@example.org\r\nSubject: Sans borne\r\n"
           b"Message-ID: <nobound@x>\r\nContent-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n"
           b"--outer\r\nContent-Type: text/plain\r\n\r\nFoo\r\n\r\n"
           b"--outer\r\nContent-Type: multipart/alternative; boundary=\"inner\"\r\n\r\nAAA\r\n\r\n"
           b"--outer--\r\n")  # the inner part never uses its boundary (from mime4j's test messages)
    assert gateway.send(raw)[0] == 250
    index_all_pending(instance.engine, instance.config)
    first = client.get("/messages/1/attachments/0")
    assert first.status_code == 200 and b"AAA" in first.data
    statements.clear()
    again = client.get("/messages/1/attachments/0")
    assert again.status_code == 200 and again.data == first.data
    assert not [s for s in statements if s.startswith("UPDATE attachments")]
    with session_scope(instance.engine) as db:
        assert db.scalars(select(Attachment.part_start)).all() == [-1]
