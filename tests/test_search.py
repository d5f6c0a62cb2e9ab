"""Searching the archive on the web: French-aware matching, the query syntax, criteria,
results grouped by topic with highlighted snippets, pages, "did you mean", and the access
rule (an anonymous reader of a members-only archive searches titles only)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from searchforum import ALICE, BOB_FROM, Forum, make_forum


@pytest.fixture
def forum(gateway) -> Forum:  # type: ignore[no-untyped-def]
    return make_forum(gateway)


@pytest.fixture
def archive(forum: Forum) -> Forum:
    """A small archive: three topics, replies, an attachment, categories and statuses."""
    first = forum.post("Télétravail des frontaliers", "Bonjour,\n\nLes travailleurs frontalières "
                       "dépassent le seuil de 25 % de télétravail.\n\nCordialement,\nAlice")
    forum.post("Re: Télétravail des frontaliers", "La convention bilatérale avec la Suisse prévoit "
               "une tolérance.\n", sender=BOB_FROM, reply_to=first)
    forum.post("Re: Télétravail des frontaliers", "Pour l'Allemagne, la sécurité sociale reste "
               "celle de l'employeur.\n", reply_to=first)
    diploma = forum.post("Reconnaissance des diplômes d'aide-soignant", "Le diplôme allemand "
                         "n'est pas reconnu : voir le compte-rendu joint.\n", sender=BOB_FROM,
                         attachment="compte-rendu réunion.pdf", when=datetime(2025, 6, 1, tzinfo=timezone.utc))
    transport = forum.post("Desserte ferroviaire du dimanche soir", "Plus aucun train après 20 h : "
                           "les habitants sociale et sécurité se plaignent.\n")
    forum.index()
    forum.change_topic(diploma, category="Formation", status="closed", resolution="study")
    forum.change_topic(transport, category="Mobilité")
    forum.index()
    return forum


def test_accents_case_and_plurals_match(archive: Forum):
    assert archive.titles(q="frontaliere") == ["Télétravail des frontaliers"]
    assert archive.titles(q="TRAVAILLEUR") == ["Télétravail des frontaliers"]
    assert archive.titles(q="diplome") == ["Reconnaissance des diplômes d'aide-soignant"]
    assert archive.titles(q="teletravail") == ["Télétravail des frontaliers"]


def test_a_quoted_phrase_needs_the_words_together(archive: Forum):
    assert set(archive.titles(q="sécurité sociale")) == {"Télétravail des frontaliers",
                                                         "Desserte ferroviaire du dimanche soir"}
    assert archive.titles(q='"sécurité sociale"') == ["Télétravail des frontaliers"]


def test_a_minus_word_excludes(archive: Forum):
    assert set(archive.titles(q="sécurité")) == {"Desserte ferroviaire du dimanche soir",
                                                 "Télétravail des frontaliers"}
    assert archive.titles(q="sécurité -trains") == ["Télétravail des frontaliers"]


@pytest.mark.parametrize("params, expected", [
    ({"q": "auteur:weber"}, {"Télétravail des frontaliers", "Reconnaissance des diplômes d'aide-soignant"}),
    ({"q": "organisation:lorrach"}, {"Télétravail des frontaliers", "Reconnaissance des diplômes d'aide-soignant"}),
    ({"q": "category:formation"}, {"Reconnaissance des diplômes d'aide-soignant"}),
    ({"q": "statut:clos"}, {"Reconnaissance des diplômes d'aide-soignant"}),
    ({"q": "status:ouvert"}, {"Télétravail des frontaliers", "Desserte ferroviaire du dimanche soir"}),
    ({"q": "resolution:study"}, {"Reconnaissance des diplômes d'aide-soignant"}),
    ({"q": "pj:compte"}, {"Reconnaissance des diplômes d'aide-soignant"}),
    ({"category": "mobilite"}, {"Desserte ferroviaire du dimanche soir"}),
    ({"status": "closed"}, {"Reconnaissance des diplômes d'aide-soignant"}),
    ({"resolution": "study"}, {"Reconnaissance des diplômes d'aide-soignant"}),
    ({"author": "Bob"}, {"Télétravail des frontaliers", "Reconnaissance des diplômes d'aide-soignant"}),
    ({"organisation": "Eurométropole"}, {"Télétravail des frontaliers", "Desserte ferroviaire du dimanche soir"}),
    ({"from": "2025-05-01", "to": "2025-06-30"}, {"Reconnaissance des diplômes d'aide-soignant"}),
    ({"from": "2026-01-01"}, {"Télétravail des frontaliers", "Desserte ferroviaire du dimanche soir"}),
    ({"attachment": "1"}, {"Reconnaissance des diplômes d'aide-soignant"}),
    ({"q": "sociale", "title_only": "1"}, set()),
    ({"q": "dimanche", "title_only": "1"}, {"Desserte ferroviaire du dimanche soir"}),
    ({"q": "sociale", "status": "open", "organisation": "eurometropole"},
     {"Télétravail des frontaliers", "Desserte ferroviaire du dimanche soir"}),
    ({"q": "sécurité", "author": "weber"}, set()),
])
def test_each_criterion_narrows_the_search(archive: Forum, params, expected):
    assert set(archive.titles(**params)) == expected


def test_results_are_grouped_by_topic_with_highlighted_snippets(archive: Forum):
    result = archive.json(q="frontalières OR convention OR employeur")
    assert [t["title"] for t in result["topics"]] == ["Télétravail des frontaliers"]
    assert result["total_topics"] == 1 and result["total_messages"] == 3
    [topic] = result["topics"]
    assert len(topic["messages"]) == 3
    assert {m["author"] for m in topic["messages"]} == {"Alice Martin", "Bob Weber"}
    assert ["frontalières"] in [m["highlights"] for m in topic["messages"]]
    html = archive.page(q="frontaliere")
    assert "<mark>frontalières</mark>" in html
    assert "<mark>frontaliers</mark></a>" in html  # the topic title, highlighted too


def test_mail_text_is_escaped_in_snippets(forum: Forum):
    forum.post("Balises", 'Le formulaire <script>alert("x")</script> frontalier est refusé.\n')
    forum.index()
    html = forum.page(q="frontalier")
    assert "<script>alert" not in html and "&lt;script&gt;" in html


def test_relevance_or_date_order(forum: Forum):
    forum.post("Assurance chômage", "Une question sur le chômage.\n",
               when=datetime(2026, 1, 1, tzinfo=timezone.utc))
    forum.post("Chômage des frontaliers : chômage partiel et chômage total", "Chômage, chômage, chômage.\n",
               when=datetime(2025, 1, 1, tzinfo=timezone.utc))
    old = forum.post("Indemnités de chômage", "Chômage et retraite.\n", when=datetime(2024, 1, 1, tzinfo=timezone.utc))
    forum.index()
    by_relevance = forum.titles(q="chomage")
    assert by_relevance[0].startswith("Chômage des frontaliers")
    assert forum.titles(q="chomage", order="date") == [
        "Assurance chômage", "Chômage des frontaliers : chômage partiel et chômage total", "Indemnités de chômage"]
    # A topic ranks by its most recent matching message: an old topic with a new reply comes first.
    forum.post("Re: Indemnités de chômage", "Le chômage partiel aussi.\n", reply_to=old,
               when=datetime(2026, 2, 1, tzinfo=timezone.utc))
    forum.index()
    assert forum.titles(q="chomage", order="date")[0] == "Indemnités de chômage"


def test_pages_of_ten_topics_with_the_total(forum: Forum):
    for i in range(13):
        forum.post(f"Obstacle numéro {i}", f"Le formulaire A1 pose problème ({i}).\n")
    forum.index()
    first = forum.json(q="formulaire")
    second = forum.json(q="formulaire", page=2)
    assert first["total_topics"] == 13 and first["pages"] == 2
    assert len(first["topics"]) == 10 and len(second["topics"]) == 3
    assert not {t["id"] for t in first["topics"]} & {t["id"] for t in second["topics"]}
    html = forum.page(q="formulaire")
    assert "13 topics found" in html or "13 sujets" in html
    assert 'href="/search?page=2&amp;q=formulaire"' in html or 'href="/search?q=formulaire&amp;page=2"' in html


def test_did_you_mean_when_nothing_is_found(archive: Forum):
    result = archive.json(q="convnetion bilaterale")
    assert result["topics"] == [] and result["suggestion"] == "convention bilaterale"
    html = archive.page(q="convnetion bilaterale")
    assert ">convention bilaterale</a>" in html
    assert archive.titles(q=result["suggestion"]) == ["Télétravail des frontaliers"]
    assert archive.json(q="frontaliers")["suggestion"] is None


def test_anonymous_reader_of_a_members_only_archive_searches_titles_only(archive: Forum):
    # "convention" is only in a body: nothing, and no suggestion drawn from bodies.
    assert archive.json(None, q="convention")["topics"] == []
    assert archive.json(None, q="convnetion")["suggestion"] is None
    # Title words find their topic, without messages, snippets or authors.
    result = archive.json(None, q="frontaliere")
    assert [t["title"] for t in result["topics"]] == ["Télétravail des frontaliers"]
    assert "messages" not in result["topics"][0] and "total_messages" not in result
    html = archive.page(None, q="frontaliere")
    assert "Télétravail des" in html and "Alice Martin" not in html and "seuil" not in html
    # Field syntax and member criteria cannot reach bodies or authors.
    assert archive.json(None, q="auteur:weber")["topics"] == []
    assert archive.json(None, q="body:convention")["topics"] == []
    assert archive.json(None, q="frontaliere", author="nobody")["ignored_criteria"] == ["author"]
    # Public criteria still work.
    assert archive.titles(None, status="closed") == ["Reconnaissance des diplômes d'aide-soignant"]
    # A member searches everything.
    assert archive.titles(ALICE, q="convention") == ["Télétravail des frontaliers"]


def test_anonymous_reader_of_a_public_archive_searches_everything(make_config, tmp_path):
    from conftest import Gateway, Instance, free_port
    from mailgateway.server import start_gateway
    from storage.instance import initialise

    config = make_config(archive={"visibility": "public"})
    instance = Instance(config, initialise(config))
    port = free_port()
    controller = start_gateway(config, instance.secret, host="127.0.0.1", port=port)
    try:
        forum = make_forum(Gateway(instance, controller, port))
        forum.post("Navette", "La convention est signée.\n")
        forum.index()
        assert forum.titles(None, q="convention") == ["Navette"]
    finally:
        controller.stop()
        instance.engine.dispose()


def test_signature_is_left_out_and_quoted_text_weighs_less(forum: Forum):
    first = forum.post("Seuil fiscal", "Le seuil est atteint.\n\n-- \nAlice Martin, cheffe de "
                       "projet Interreg\n")
    forum.post("Re: Seuil fiscal", "D'accord.\n\n> Le seuil est atteint.\n", reply_to=first)
    forum.post("Autre sujet", "Le seuil, encore le seuil.\n")
    forum.index()
    assert forum.titles(q="interreg") == []
    result = forum.json(q="seuil")
    [fiscal] = [t for t in result["topics"] if t["title"] == "Seuil fiscal"]
    assert fiscal["messages"][0]["subject"] == "Seuil fiscal"  # the original before the quote


def test_bad_parameters_get_a_clear_answer(archive: Forum):
    html = archive.page(q="frontaliere", **{"from": "31/12/2025"})
    assert "31/12/2025" in html and "Télétravail des" in html
    response = archive.client(ALICE).get("/search.json", query_string={"q": "x", "status": "bof"})
    assert response.status_code == 400 and "bof" in response.get_json()["errors"][0]
    response = archive.client(ALICE).get("/search.json")
    assert response.status_code == 400
    assert 'id="search-q"' in archive.page(q='"unclosed (phrase OR')  # a page, not an error


def test_the_help_page_documents_the_syntax(forum: Forum):
    response = forum.client().get("/search/help")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    for syntax in ("author:", "category:", "status:", "&#34;sécurité sociale&#34;", "-suisse"):
        assert syntax in html or syntax.replace("&#34;", '"') in html
