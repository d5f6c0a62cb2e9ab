"""The archive's pages through the real Flask app, with mail that arrived through the real
gateway: the home page and its filters, the thread page, categories, obstacles,
organisations, downloads, error pages."""

from __future__ import annotations

import mailbox
import re
from email.message import EmailMessage

import pytest

from mailfactory import make_mail
from mailgateway.indexer import index_all_pending
from storage.models import OrganisationKind, Resolution, Role, TopicStatus
from webtools import app, classify_topic, client, make_config, sign_in, text_of, visibility  # noqa: F401

ALICE = "Alice Martin <alice@example.org>"
BOB = "Bruno Keller <bruno@example.de>"


@pytest.fixture
def members(instance):  # type: ignore[no-untyped-def]
    instance.add_member("alice@example.org", "Alice Martin", "Eurométropole")
    instance.add_member("bruno@example.de", "Bruno Keller", "Ortenaukreis")
    instance.add_member("team@example.eu", "Tess Team", "Mission opérationnelle transfrontalière",
                        kind=OrganisationKind.TEAM, role=Role.MODERATOR)
    instance.add_member("prefet@example.gouv.fr", "Paul Préfecture", "Préfecture du Grand Est",
                        kind=OrganisationKind.STATE)
    return instance


def topic_ids(client) -> list[int]:  # type: ignore[no-untyped-def]
    return [int(i) for i in re.findall(r'href="/topics/(\d+)"', client.get("/").get_data(as_text=True))]


@pytest.mark.parametrize("visibility", ["members"])
def test_home_lists_recent_topics_with_their_facts_and_filters(gateway, members, client):
    gateway.send(make_mail("Reconnaissance des diplômes", message_id="d1@x", sender=ALICE))
    gateway.send(make_mail("Re: Reconnaissance des diplômes", message_id="d2@x", sender=BOB, in_reply_to="d1@x"))
    gateway.send(make_mail("Transport scolaire", message_id="t1@x", sender=BOB,
                           date="Tue, 24 Nov 2026 09:00:00 +0100"))
    transport, diplomas = topic_ids(client)
    classify_topic(members, diplomas, category="Santé", status=TopicStatus.CLOSED, resolution=Resolution.SOLUTION)

    page = text_of(client.get("/"))
    assert page.index("Transport scolaire") < page.index("Reconnaissance des diplômes")  # most recent first
    assert "2 messages" in page and "Santé" in page and "Clos" in page and "solution trouvée" in page
    assert "Eurométropole" not in page  # an author's organisation is for members here

    by_category = text_of(client.get("/?category=sante"))
    assert "Reconnaissance des diplômes" in by_category and "Transport scolaire" not in by_category
    open_only = text_of(client.get("/?status=open"))
    assert "Transport scolaire" in open_only and "Reconnaissance des diplômes" not in open_only
    unknown = client.get("/?category=nope")
    assert unknown.status_code == 200 and "Il n'y a pas de catégorie « nope »" in text_of(unknown)


@pytest.mark.parametrize("visibility", ["public"])
def test_home_is_paginated_and_shows_organisations_when_public(gateway, members, client):
    for i in range(31):
        gateway.send(make_mail(f"Sujet numéro {i:02d}", message_id=f"p{i}@x", sender=ALICE,
                               date=f"Mon, 23 Nov 2026 10:{i:02d}:00 +0100"))
    first = text_of(client.get("/"))
    assert "Sujet numéro 30" in first and "Sujet numéro 01" in first and "Sujet numéro 00" not in first
    assert "Eurométropole" in first and "Page suivante" in first
    second = text_of(client.get("/?page=2"))
    assert "Sujet numéro 00" in second and "Sujet numéro 01" not in second and "Page précédente" in second


def thread_mails() -> list[bytes]:
    first = make_mail("Frontaliers et assurance chômage", message_id="f1@x", sender=ALICE,
                      body="Bonjour à tous,\n\nQui a déjà traité ce cas ?\n\n-- \nAlice Martin\nEurométropole\n")
    reply = make_mail("Re: Frontaliers et assurance chômage", message_id="f2@x", sender=BOB, in_reply_to="f1@x",
                      references=["f1@x"], date="Mon, 23 Nov 2026 11:00:00 +0100",
                      body="Oui, voyez la convention de 2019.\n\nLe lundi, Alice a écrit :\n"
                           "> Bonjour à tous,\n> Qui a déjà traité ce cas ?\n")
    with_file = EmailMessage()
    with_file["From"], with_file["To"] = "Tess Team <team@example.eu>", "forum@example.org"
    with_file["Subject"], with_file["Message-ID"] = "Re: Frontaliers et assurance chômage", "<f3@x>"
    with_file["In-Reply-To"], with_file["Date"] = "<f2@x>", "Mon, 23 Nov 2026 12:00:00 +0100"
    with_file.set_content("La note de synthèse est jointe.\n")
    with_file.add_attachment(b"%PDF-1.4 note de synthese", maintype="application", subtype="pdf",
                             filename="note de synthèse.pdf")
    html_only = EmailMessage()
    html_only["From"], html_only["To"] = "Paul Préfecture <prefet@example.gouv.fr>", "forum@example.org"
    html_only["Subject"], html_only["Message-ID"] = "Re: Frontaliers et assurance chômage", "<f4@x>"
    html_only["In-Reply-To"], html_only["Date"] = "<f1@x>", "Mon, 23 Nov 2026 13:00:00 +0100"
    html_only.set_content('<p>La <b>préfecture</b> confirme.<script>alert("x")</script>'
                          '<img src="https://tracker.example.com/p.gif" alt="logo préfecture">'
                          '<a href="javascript:alert(1)">lien</a></p>', subtype="html")
    return [first, reply, with_file.as_bytes(), html_only.as_bytes()]


@pytest.mark.parametrize("visibility", ["public"])
def test_topic_page_shows_the_thread_as_a_tree_with_folded_quotes_files_and_safe_html(gateway, members, client):
    for raw in thread_mails():
        assert gateway.send(raw)[0] == 250
    index_all_pending(members.engine, members.config)
    [topic_id] = topic_ids(client)
    response = client.get(f"/topics/{topic_id}")
    page, markup = text_of(response), response.get_data(as_text=True)

    # Thread order, depth and "in reply to" marks.
    assert page.index("Qui a déjà traité") < page.index("convention de 2019") < page.index("note de synthèse est jointe")
    assert page.index("note de synthèse est jointe") < page.index("préfecture confirme")
    assert markup.count('class="message depth-0"') == 1 and 'class="message depth-2"' in markup
    assert "en réponse à Bruno Keller" in page and "en réponse à Alice Martin" in page
    # Quoted text and signature folded.
    assert re.search(r"<details><summary>Texte cité</summary><div class=\"text\">Le lundi, Alice a écrit :\n&gt; Bonjour", markup)
    assert re.search(r"<details><summary>Signature</summary><div class=\"text\">Alice Martin\nEurométropole", markup)
    # Marks for the technical team and the state services.
    assert "Équipe technique" in page and "Services de l'État" in page
    # HTML-only mail: sanitised, remote image not loaded.
    assert "<b>préfecture</b>" in markup and "<script" not in markup.split("<main")[1]
    assert "tracker.example.com" not in markup and "javascript:" not in markup
    assert "Les images venant d'autres sites ne sont pas affichées" in page
    # Permalinks and attachments.
    anchors = re.findall(r'<article class="message depth-\d" id="m(\d+)"', markup)
    assert len(anchors) == 4
    assert client.get(f"/messages/{anchors[0]}").headers["Location"].endswith(f"/topics/{topic_id}#m{anchors[0]}")
    assert "note de synthèse.pdf" in page and "(application/pdf, 25 octets)" in page
    link = re.search(r'href="(/messages/\d+/attachments/0)"', markup).group(1)
    download = client.get(link)
    assert download.status_code == 200 and download.data == b"%PDF-1.4 note de synthese"
    assert "attachment" in download.headers["Content-Disposition"]
    assert "Télécharger le sujet au format mbox" not in page  # mbox: signed-in members only


@pytest.mark.parametrize("visibility", ["public"])
def test_a_message_just_stored_is_shown_before_the_indexing_job_reads_it(gateway, members, client):
    gateway.send(thread_mails()[2])
    [topic_id] = topic_ids(client)
    page = text_of(client.get(f"/topics/{topic_id}"))
    assert "La note de synthèse est jointe." in page and "note de synthèse.pdf" in page


@pytest.mark.parametrize("visibility", ["members"])
def test_members_download_a_topic_as_mbox(gateway, members, client, sink, tmp_path):
    for raw in thread_mails()[:2]:
        gateway.send(raw)
    [topic_id] = topic_ids(client)
    assert client.get(f"/topics/{topic_id}.mbox").status_code == 403
    sign_in(client, members, sink, "bruno@example.de")
    assert "Télécharger le sujet au format mbox" in text_of(client.get(f"/topics/{topic_id}"))
    download = client.get(f"/topics/{topic_id}.mbox")
    (tmp_path / "t.mbox").write_bytes(download.data)
    box = mailbox.mbox(tmp_path / "t.mbox", create=False)
    ids = [m["Message-ID"] for m in box]
    box.close()
    assert ids == ["<f1@x>", "<f2@x>"]


def test_categories_and_obstacles_list_titles_for_everyone(gateway, members, client):
    gateway.send(make_mail("Apprentissage transfrontalier", message_id="a1@x", sender=ALICE,
                           body="Texte réservé du corps."))
    gateway.send(make_mail("Permis de conduire", message_id="b1@x", sender=BOB))
    apprenticeship = topic_ids(client)[1]
    classify_topic(members, apprenticeship, category="Formation", status=TopicStatus.CLOSED,
                   resolution=Resolution.ESCALATED)

    categories = text_of(client.get("/categories"))
    assert "Formation" in categories
    category = text_of(client.get("/categories/formation"))
    assert "Apprentissage transfrontalier" in category and "Permis de conduire" not in category
    assert client.get("/categories/absent").status_code == 404

    obstacles = text_of(client.get("/obstacles"))
    assert "Apprentissage transfrontalier" in obstacles and "Permis de conduire" in obstacles
    assert "remonté" in obstacles and "2 obstacles au total" in obstacles
    assert "Texte réservé du corps" not in obstacles and "Alice" not in obstacles


@pytest.mark.parametrize("visibility", ["public"])
def test_organisations_are_for_members_only(members, client, sink):
    refused = client.get("/organisations")
    assert refused.status_code == 403 and "Cette page est réservée aux membres" in text_of(refused)
    sign_in(client, members, sink, "alice@example.org")
    page = text_of(client.get("/organisations"))
    assert "Préfecture du Grand Est" in page and "Services de l'État" in page and "Bruno Keller" in page


def test_error_pages_speak_the_readers_language(client):
    french = client.get("/no/such/page")
    assert french.status_code == 404 and "Page introuvable" in text_of(french)
    english = client.get("/topics/999", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert english.status_code == 404 and "Page not found" in text_of(english)
    assert '<html lang="en">' in english.get_data(as_text=True)


def test_pages_send_protective_headers(client):
    response = client.get("/")
    assert "img-src 'self' data:" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_a_server_error_gets_a_page_in_the_readers_language(gateway, members, client):
    from sqlalchemy import text

    from storage.db import session_scope

    gateway.send(make_mail("Reconnaissance des diplômes", message_id="d1@x", sender=ALICE))
    with session_scope(members.engine) as db:  # a value no version of Relais wrote: a bug, not an outage
        db.execute(text("UPDATE topics SET status = 'lost'"))
    french = client.get("/")
    assert french.status_code == 500 and "Un problème est survenu de notre côté" in text_of(french)
    english = client.get("/topics/1", headers={"Accept-Language": "en"})
    assert english.status_code == 500 and "Something went wrong on our side" in text_of(english)
