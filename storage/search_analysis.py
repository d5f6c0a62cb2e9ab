"""How the search index reads words: the French analyser, the name analyser and the
keyword analysers of statuses and resolutions.

Query and document go through the same analyser, so a word matches when both end up as the
same term. French text: split into words, lower-cased, French stop words dropped, then
accents folded *before* Snowball's French stemmer (so that a word typed without accents
stems like the accented one), then a last step that joins the feminine forms the stemmer
leaves apart (frontalier/frontalière). English words pass through the same chain and still
match themselves.
"""

from __future__ import annotations

from whoosh.analysis import (
    Analyzer,
    CharsetFilter,
    Filter,
    LowercaseFilter,
    RegexTokenizer,
    StemFilter,
    StopFilter,
)
from whoosh.lang.snowball.french import FrenchStemmer
from whoosh.support.charset import accent_map

# Words with an apostrophe ("l'obstacle", "d'impôt") are split at it, so the article is
# a word of its own (a stop word) and the noun is found alone.
WORD_PATTERN = r"\w+(?:[.,]\d+)*"

_folding = CharsetFilter(accent_map)
_snowball = FrenchStemmer()


def fold(word: str) -> str:
    """Lower-cased, without accents (the form names and keywords are compared in)."""
    return word.lower().translate(accent_map)


def french_stem(word: str) -> str:
    """The index term of a French (or English) word: folded, stemmed, feminine joined.

    Snowball stems "frontalier" to "frontali" but "frontalière" to "frontalier", and
    "salarié"/"salariée" to "salar"/"salarie": the last step makes them meet.
    """
    stem = _snowball.stem(word.translate(accent_map))
    if len(stem) > 5 and stem.endswith(("er", "ie")):
        return stem[:-2]
    return stem


def french_analyzer() -> Analyzer:
    """Text of titles, subjects, bodies and attachment names.

    The stemming step is the only "morphological" one: a field with `spelling=True`
    keeps the words before it (accents included) for spelling suggestions.
    """
    return (RegexTokenizer(WORD_PATTERN) | LowercaseFilter() | StopFilter(lang="fr", minsize=2)
            | StemFilter(stemfn=french_stem, cachesize=100_000))


def name_analyzer() -> Analyzer:
    """People, organisations and categories: words folded, no stemming, no stop words
    ("Landkreis Lörrach" is found by "lorrach", "alice@example.org" by "alice")."""
    return RegexTokenizer(WORD_PATTERN) | LowercaseFilter() | _folding


class AliasFilter(Filter):
    """Maps the French (and other) words people use for a value onto the stored value,
    at indexing and query time alike: `statut:clos` finds status "closed"."""

    def __init__(self, aliases: dict[str, str]) -> None:
        self.aliases = aliases

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AliasFilter) and other.aliases == self.aliases

    def __call__(self, tokens):  # type: ignore[no-untyped-def]
        for t in tokens:
            t.text = self.aliases.get(t.text, t.text)
            yield t


STATUS_ALIASES = {"ouvert": "open", "ouverts": "open", "ouverte": "open", "en-cours": "open",
                  "clos": "closed", "close": "closed", "fermé": "closed", "ferme": "closed",
                  "résolu": "closed", "resolu": "closed"}
RESOLUTION_ALIASES = {"étude": "study", "etude": "study", "impossibilité": "legal-impossibility",
                      "impossibilite": "legal-impossibility", "escalade": "escalated",
                      "remonté": "escalated", "remonte": "escalated"}


def keyword_analyzer(aliases: dict[str, str]) -> Analyzer:
    """One value per field ("legal-impossibility" stays one term), lower-cased, aliased."""
    return RegexTokenizer(r"[^\s,]+") | LowercaseFilter() | AliasFilter(aliases)
