"""What the index reads of a message: the author's own words (not the quoted text nor the
signature), and French words folded and stemmed so that forms of a word meet."""

from __future__ import annotations

import pytest

from storage.search_analysis import french_analyzer
from storage.search_text import split_quoted


def terms(text: str) -> list[str]:
    return [t.text for t in french_analyzer()(text)]


@pytest.mark.parametrize("a, b", [
    ("frontaliere", "frontalières"), ("frontalier", "frontalières"), ("travailleur", "travailleurs"),
    ("securite", "Sécurité"), ("salarié", "salariées"), ("diplome", "diplômes"), ("impots", "d'impôt"),
    ("workers", "worker"),
])
def test_forms_of_a_word_meet(a: str, b: str):
    assert terms(a) == terms(b) != []


def test_french_stop_words_are_dropped_and_english_words_kept():
    assert terms("le dossier de la caisse") == terms("dossier caisse")
    assert terms("cross-border workers") == ["cross", "bord", "work"]


def test_bottom_quoting_and_its_attribution_are_quoted():
    parts = split_quoted("Je suis d'accord.\n\nLe 3 mars 2026, Alice Martin a écrit :\n> Le seuil est atteint.\n"
                         "> Qu'en pensez-vous ?\n\nBien à vous")
    assert parts.own == "Je suis d'accord.\n\n\nBien à vous"
    assert parts.quoted == "Le seuil est atteint.\nQu'en pensez-vous ?"


def test_outlook_top_posting_quotes_everything_below():
    text = ("Voir ci-dessous.\n\nDe : Bob Weber\nEnvoyé : lundi 2 mars 2026 10:00\nÀ : forum\n"
            "Objet : Navette\n\nLes horaires changent.")
    parts = split_quoted(text)
    assert parts.own == "Voir ci-dessous." and "Les horaires changent." in parts.quoted
    assert split_quoted("Oui.\n-----Original Message-----\nFrom: x\nNon.").own == "Oui."


def test_a_forwarded_message_is_the_authors_own():
    text = "Pour information.\n\n---------- Message transféré ---------\nDe : préfecture\nLe décret paraît."
    assert "Le décret paraît." in split_quoted(text).own


def test_the_signature_is_left_out():
    parts = split_quoted("Le seuil est atteint.\n-- \nAlice Martin\nEurométropole")
    assert parts.own == "Le seuil est atteint." and "Eurométropole" not in parts.quoted
