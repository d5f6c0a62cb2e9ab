"""Reporting upwards: the /obstacles page's counts by category, status and resolution; the
unresolved and escalated obstacles as CSV and as an Atom feed; and the periodic report job,
which mails them to the `[reporting]` recipients through the relay (the test's SMTP sink)."""

from __future__ import annotations

import csv
import email
import email.policy
import io
import xml.etree.ElementTree as ET
from datetime import datetime, timezone

import pytest

from archive_web import create_app
from mailfactory import make_mail
from mailgateway.delivery import deliver_due
from mailgateway.reporting import send_periodic_report
from storage.instance import initialise
from moderation_support import REPORT_TO, body_of, dkim_key, forum, instance  # noqa: F401
from webtools import text_of

ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
def obstacles(forum):  # type: ignore[no-untyped-def]
    """Four obstacles: one solved, one escalated, two open (one with a second organisation)."""
    ids = {}
    for n, (key, subject) in enumerate([("solved", "Obstacle : diplômes d'infirmier"),
                                        ("escalated", "Obstacle : double imposition des télétravailleurs"),
                                        ("open", "Obstacle : abonnements de bus"),
                                        ("bare", "Obstacle : ambulances à la frontière")]):
        ids[key] = forum.open_topic(subject, f"o{n}@mairie.example.org")
    forum.send(make_mail("Re: bus", body="Même chose chez nous.\n", message_id="bus-2@lrr.example.de",
                         sender="Bob <bob@example.org>", in_reply_to="o2@mairie.example.org"))
    forum.command("#clore solution\n#categorie Santé\n", in_reply_to="o0@mairie.example.org", message_id="c0@t")
    forum.command("#categorie Fiscalité\n#clore remonté\n", in_reply_to="o1@mairie.example.org", message_id="c1@t")
    forum.command("#categorie Transports\n", in_reply_to="o2@mairie.example.org", message_id="c2@t")
    forum.run_jobs()
    return ids


def test_the_obstacles_page_counts_by_status_resolution_and_category(forum, obstacles):
    page = text_of(create_app(forum.config, forum.engine).test_client().get("/obstacles"))
    assert "Transports 1" in page and "Fiscalité 1" in page and "Santé 1" in page
    assert "Sans catégorie 1" in page or "No category 1" in page
    assert "Ouvert 2" in page or "Open 2" in page


def test_the_csv_lists_unresolved_and_escalated_obstacles(forum, obstacles):
    response = create_app(forum.config, forum.engine).test_client().get("/obstacles.csv")
    assert response.mimetype == "text/csv" and "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    header, *lines = rows
    assert header[:6] == ["numéro", "titre", "statut", "résolution", "catégorie", "organisations"]
    by_id = {int(line[0]): line for line in lines}
    assert set(by_id) == {obstacles["escalated"], obstacles["open"], obstacles["bare"]}
    escalated = by_id[obstacles["escalated"]]
    assert escalated[1:5] == ["Obstacle : double imposition des télétravailleurs", "clos", "remonté (non résolu)",
                              "Fiscalité"]
    assert by_id[obstacles["open"]][5] == "Eurométropole; Landkreis Lörrach"
    assert by_id[obstacles["open"]][8] == f"http://forum.example.org/topics/{obstacles['open']}"


def test_the_atom_feed_has_one_entry_per_unresolved_or_escalated_obstacle(forum, obstacles):
    response = create_app(forum.config, forum.engine).test_client().get("/obstacles.atom")
    assert response.mimetype == "application/atom+xml"
    feed = ET.fromstring(response.get_data())
    entries = {e.find(f"{ATOM}title").text: e for e in feed.findall(f"{ATOM}entry")}
    assert set(entries) == {"Obstacle : double imposition des télétravailleurs", "Obstacle : abonnements de bus",
                            "Obstacle : ambulances à la frontière"}
    bus = entries["Obstacle : abonnements de bus"]
    assert bus.find(f"{ATOM}link").get("href") == f"http://forum.example.org/topics/{obstacles['open']}"
    assert bus.find(f"{ATOM}category").get("term") == "Transports"
    assert "Landkreis Lörrach" in bus.find(f"{ATOM}content").text


def test_the_periodic_report_is_mailed_to_the_configured_addresses(forum, obstacles):
    assert send_periodic_report(forum.engine, forum.config, now=datetime(2026, 12, 1, 8, tzinfo=timezone.utc)) == 2
    deliver_due(forum.engine, forum.config)
    received = [(rcpts, email.message_from_bytes(raw, policy=email.policy.default))
                for _from, rcpts, raw in forum.sink.wait_for(2) if set(rcpts) & set(REPORT_TO)]
    assert sorted(r for rcpts, _ in received for r in rcpts) == sorted(REPORT_TO)
    _, report = received[0]
    assert "Rapport sur les obstacles au 01/12/2026" in report["Subject"]
    text = body_of(report)
    assert "- remonté (non résolu) : 1" in text and "- Transports : 1" in text
    assert "abonnements de bus" in text and "Landkreis Lörrach" in text
    [attachment] = list(report.iter_attachments())
    assert attachment.get_filename() == "obstacles-2026-12-01.csv"
    assert "double imposition" in attachment.get_content()


def test_no_recipient_no_report(make_config):
    config = make_config()
    engine = initialise(config)
    try:
        assert send_periodic_report(engine, config) == 0
    finally:
        engine.dispose()
