"""Moderators' commands in German (issue 13): `#schließen <Lösung>`, `#wiedereröffnen`,
`#kategorie`, case and accents not mattering, answered in German."""

from __future__ import annotations

import pytest

from moderation_support import MODERATOR, body_of, dkim_key, forum, instance  # noqa: F401


@pytest.mark.parametrize("line, resolution", [
    ("#schließen Lösung", "solution"),
    ("#Schliessen LOESUNG", "solution"),
    ("#schliessen bat", "bat"),
    ("#schließen Studie", "study"),
    ("#schließen rechtliche-Unmöglichkeit", "legal-impossibility"),
    ("#SCHLIESSEN eskaliert", "escalated"),
])
def test_close_in_german_with_each_resolution_answered_in_german(forum, tmp_path, line, resolution):
    topic_id = forum.open_topic()
    code, _ = forum.command(f"{line}\n")
    assert code == 250
    forum.run_jobs()
    shown = forum.topic_json(topic_id, tmp_path)
    assert (shown["status"], shown["resolution"]) == ("closed", resolution)
    [answer] = forum.mail_to(MODERATOR, "command-answer")
    assert f"Erledigt: Das Thema #{topic_id}" in body_of(answer) and "ist geschlossen" in body_of(answer)
    assert answer["Subject"] == "Ihre Befehle an Forum Test"


def test_reopen_and_category_in_german(forum, tmp_path):
    topic_id = forum.open_topic()
    forum.command("#schließen eskaliert\n", message_id="c1@team.example.org")
    forum.run_jobs()
    forum.command("#Wiedereröffnen\n#Kategorie Beschäftigung\n", message_id="c2@team.example.org")
    forum.run_jobs()
    shown = forum.topic_json(topic_id, tmp_path)
    assert (shown["status"], shown["category"]) == ("open", "Beschäftigung")
    answer = forum.mail_to(MODERATOR, "command-answer")[-1]
    assert "ist wieder offen" in body_of(answer) and "ist in der Kategorie „Beschäftigung“" in body_of(answer)


def test_an_unknown_resolution_is_explained_in_german(forum, tmp_path):
    topic_id = forum.open_topic()
    forum.command("#schließen vielleicht\n")
    forum.run_jobs()
    assert forum.topic_json(topic_id, tmp_path)["status"] == "open"
    [answer] = forum.mail_to(MODERATOR, "command-answer")
    assert "„vielleicht“ ist keine bekannte Lösung" in body_of(answer)
