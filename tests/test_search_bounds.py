"""A search cannot be made to burn the CPU (issue 10, finding 2): prefixes too short or too
broad, ranges of words, too many words, words too common together and searches past their
time are left out or cut, and the page says so and why, in French and in English."""

from __future__ import annotations

import re
from html import unescape

import pytest

from searchforum import Forum, make_forum
from storage.search_bounds import TIME_LIMIT, TOO_COMMON, SearchLimits
from storage.search_query import SearchRequest, find


@pytest.fixture
def forum(gateway) -> Forum:  # type: ignore[no-untyped-def]
    return make_forum(gateway)


@pytest.fixture
def archive(forum: Forum) -> Forum:
    forum.post("Télétravail des frontaliers", "Les frontaliers dépassent le seuil de télétravail.\n")
    forum.post("Gare de Kembsheim", "La gare de Kembsheim ferme ; Kembsdorf garde la sienne.\n")
    forum.post("Navette Kembsheim", "Kembsheim et Kembsdorf partagent une navette.\n")
    forum.post("Pont sur le Rhin", "Le pont de Kembsried est fermé aux frontaliers.\n")
    forum.index()
    return forum


def text(html: str) -> str:
    """What the reader reads: the page without its tags."""
    return " ".join(unescape(re.sub(r"<[^>]+>", "", html)).split())


def test_a_prefix_of_one_or_two_letters_is_refused_and_the_page_says_why(archive: Forum):
    french = text(archive.page_in("fr", q="a* fr*"))
    assert "Votre recherche n’a pas été lancée : il ne restait rien à chercher une fois ces mots ignorés." in french
    assert "« a* » a été ignoré : un mot terminé par * doit avoir au moins 3 lettres avant l’astérisque." in french
    assert "« fr* » a été ignoré" in french
    assert "sujets trouvés" not in french and "sujet trouvé" not in french
    english = text(archive.page_in("en", q="a* fr*"))
    assert "Your search was not run: nothing was left to search once these words were left out." in english
    assert "“a*” was left out: a word ending in * needs at least 3 letters before the *." in english
    status, body = archive.json_in("en", q="a*")
    assert status == 400 and body["refused"] is True
    assert "“a*” was left out: a word ending in * needs at least 3 letters before the *." in body["errors"]


def test_a_short_prefix_beside_a_word_leaves_the_word_searched(archive: Forum):
    english = text(archive.page_in("en", q="fr* frontaliers"))
    assert "Your search was simplified:" in english and "“fr*” was left out" in english
    assert "Télétravail des frontaliers" in english
    result = archive.json(q="fr* frontaliers")
    assert {t["title"] for t in result["topics"]} == {"Télétravail des frontaliers", "Pont sur le Rhin"}
    assert [(c["kind"], c["text"]) for c in result["simplified"]] == [("short_prefix", "fr*")]


def test_a_prefix_standing_for_too_many_words_keeps_its_most_frequent(archive: Forum):
    assert len(archive.titles(q="kembs*")) == 3
    archive.with_search_settings(max_prefix_words=2)
    # Kembsheim (3 messages) and Kembsdorf (2) are kept; Kembsried (1) is not.
    assert set(archive.titles(q="kembs*")) == {"Gare de Kembsheim", "Navette Kembsheim"}
    french = text(archive.page_in("fr", q="kembs*"))
    assert "Votre recherche a été simplifiée :" in french
    assert "« kembs* » correspond à trop de mots : seuls les plus fréquents ont été cherchés." in french
    english = text(archive.page_in("en", q="kembs*"))
    assert "“kembs*” stands for too many words: only the most frequent of them were searched." in english


def test_only_the_first_words_of_a_long_search_are_used(archive: Forum):
    words = " OR ".join(["kembsheim", *(f"absent{i}" for i in range(9)), "frontaliers"])
    result = archive.json(q=words)
    assert [c["kind"] for c in result["simplified"]] == ["too_many_terms"]
    # The eleventh word was not searched: its topics are not found.
    assert {t["title"] for t in result["topics"]} == {"Gare de Kembsheim", "Navette Kembsheim"}
    assert "Seuls les 10 premiers mots de votre recherche ont été utilisés." in text(archive.page_in("fr", q=words))
    assert "Only the first 10 words of your search were used." in text(archive.page_in("en", q=words))


def test_a_range_of_words_is_left_out(archive: Forum):
    english = text(archive.page_in("en", q="body:[a TO z] frontaliers"))
    assert "“body:[a TO z]” was left out: ranges of words are not searched" in english
    assert "Télétravail des frontaliers" in english
    french = text(archive.page_in("fr", q="body:[a TO z]"))
    assert "« body:[a TO z] » a été ignoré : les intervalles de mots ne sont pas cherchés" in french
    # `*:*` (every document) is no syntax of the search box: it finds nothing.
    assert archive.json(q="*:*")["topics"] == []


def test_a_word_too_common_after_others_is_left_out(archive: Forum):
    archive.with_search_settings(max_terms=2, max_reads_percent=1)
    result = archive.json(q="frontaliers kembsheim")
    assert [(c["kind"], c["text"]) for c in result["simplified"]] == [("too_common", "kembsheim")]
    assert {t["title"] for t in result["topics"]} == {"Télétravail des frontaliers", "Pont sur le Rhin"}
    assert ("« kembsheim » a été ignoré : cherché avec les mots qui le précèdent, il aurait rendu la "
            "recherche trop longue.") in text(archive.page_in("fr", q="frontaliers kembsheim"))
    assert "“kembsheim” was left out: searched together with the words before it" in \
        text(archive.page_in("en", q="frontaliers kembsheim"))


def test_the_budget_never_leaves_out_the_first_word(archive: Forum):
    matches = find(archive.search, SearchRequest(text="frontaliers kembsheim"), True,
                   limits=SearchLimits(max_terms=1, max_reads_percent=1))
    assert {t.topic_id for t in matches.topics} and matches.cuts[0].kind != TOO_COMMON
    assert all(c.text != "frontaliers" for c in matches.cuts)


def test_a_search_past_its_time_stops_and_says_its_results_may_be_incomplete(archive: Forum):
    matches = find(archive.search, SearchRequest(text="frontaliers"), True, limits=SearchLimits(cpu_limit_ms=0))
    assert [c.kind for c in matches.cuts] == [TIME_LIMIT] and not matches.exact
    assert matches.total_topics >= len(matches.topics)
    with archive.app.test_request_context(headers={"Accept-Language": "fr"}):
        from archive_web.search import cut_message
        assert cut_message(matches.cuts[0]).startswith("La recherche a pris trop de temps et a été arrêtée")


def test_ordinary_searches_are_not_cut(archive: Forum):
    for q in ("frontaliers", "kembs*", '"gare de kembsheim"', "kembsheim OR kembsried", "navette -gare"):
        assert archive.json(q=q)["simplified"] == [], q


def test_criteria_still_apply_when_every_word_was_left_out(archive: Forum):
    result = archive.json(q="a*", status="open")
    assert len(result["topics"]) == 4
    assert [(c["kind"], c["text"]) for c in result["simplified"]] == [("short_prefix", "a*")]
    english = text(archive.page_in("en", q="a*", status="open"))
    assert "Your search was simplified:" in english and "4 topics found" in english
