"""Bounding a parsed search so that no query costs more than a small multiple of an
ordinary one, whatever a visitor types.

A Whoosh query costs about 1-2 µs for each index entry (posting) it reads: one entry per
message holding the word. A common word reads about a third of the archive's messages, a
prefix (`ba*`) the entries of every word starting with it, a range of words those of every
word between its ends. So, before a query runs, its words are taken in the order typed and:

- a prefix of fewer than `min_prefix_chars` letters is left out (`a*` would read most of
  the index); a longer one stands for at most its `max_prefix_words` most frequent words
  (chosen among the first PREFIX_SCAN it stands for);
- a range of words (`body:[a TO z]`) is left out (dates are searched with the form);
- only the first `max_terms` words are searched (a phrase's words count one by one);
- together they may read at most `max_reads_percent` % of the archive's messages' worth of
  entries, plus what `max_terms` rare words cost: a word that would go past it is left out,
  except the first, and a prefix keeps the most frequent of its words that fit.

Each cut is recorded as a `Cut`, which the page turns into a sentence for the reader. The
time a search takes in all is bounded apart (storage.search_query's deadline).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from itertools import islice

from whoosh import query
from whoosh.reading import IndexReader

from storage.config import SearchConfig

# Words a prefix's most frequent ones are chosen among (about 10 µs each to read): reading
# more would cost more than the search itself.
PREFIX_SCAN = 1000
# What looking a word up in one field costs besides its entries, in entries (a prefix's
# hundred rare words cost more than their few entries).
TERM_READS = 200

# Kinds of cut, named for the sentences the page shows.
SHORT_PREFIX = "short_prefix"      # left out: too few letters before the *
BROAD_PREFIX = "broad_prefix"      # kept, standing for its most frequent words only
WORD_RANGE = "word_range"          # left out: a range of words or every document
TOO_MANY_TERMS = "too_many_terms"  # the words after the first max_terms left out
TOO_COMMON = "too_common"          # left out: the words before it read the budget
TIME_LIMIT = "time_limit"          # stopped after cpu_limit_ms of CPU: results incomplete


@dataclass(frozen=True)
class SearchLimits:
    min_prefix_chars: int = 3
    max_prefix_words: int = 20
    max_terms: int = 10
    max_reads_percent: int = 100
    cpu_limit_ms: int = 300


def search_limits(config: SearchConfig) -> SearchLimits:
    """The limits config.toml's [search] sets."""
    return SearchLimits(min_prefix_chars=config.min_prefix_chars, max_prefix_words=config.max_prefix_words,
                        max_terms=config.max_terms, max_reads_percent=config.max_reads_percent,
                        cpu_limit_ms=config.cpu_limit_ms)


@dataclass(frozen=True)
class Cut:
    """One thing a search left out or shortened: its kind, the words concerned as the
    reader typed them (when it has them), and the limit that applied."""

    kind: str
    text: str = ""
    limit: int = 0


@dataclass
class _Word:
    """A word (or a prefix) of the query, whatever the fields it is looked for in."""

    typed: str
    cost: int = 0
    prefix: str | None = None  # a prefix: the index text it stands for words starting with
    # For a prefix: (entries, field, word) of the words it may stand for.
    candidates: list[tuple[int, str, bytes]] = field(default_factory=list)
    kept: bool = True
    expansions: dict[str, list[bytes]] = field(default_factory=dict)  # field -> words


@dataclass
class QueryBounds:
    """Bounds the queries of one search (its text and its criteria share the budgets)."""

    reader: IndexReader
    limits: SearchLimits
    typed: str = ""  # the query box's text, to name a word as the reader typed it
    cuts: list[Cut] = field(default_factory=list)
    _words: dict[str, _Word] = field(default_factory=dict)
    _count: int = 0
    _reads: int = 0

    @property
    def budget(self) -> int:
        """Entries the search may read: a share of the archive's size, plus what max_terms
        rare words cost in titles and bodies (all a small archive needs)."""
        return (self.reader.doc_count_all() * self.limits.max_reads_percent // 100
                + 2 * self.limits.max_terms * TERM_READS)

    def bound(self, q: query.Query) -> query.Query:
        """The query with what would cost too much left out or narrowed; NullQuery when
        nothing is left."""
        new: list[str] = []
        self._collect(q, new)
        for key in new:
            self._decide(key, self._words[key])
        return self._rebuild(q).normalize()

    # ------------------------------------------------------------- what the query reads

    def _cut(self, kind: str, text: str = "", limit: int = 0) -> None:
        cut = Cut(kind, text, limit)
        if cut not in self.cuts:
            self.cuts.append(cut)

    def _as_typed(self, node: query.Query, fallback: str) -> str:
        start, end = getattr(node, "startchar", None), getattr(node, "endchar", None)
        if start is not None and end is not None and 0 <= start < end <= len(self.typed):
            return self.typed[start:end]
        return fallback

    def _word(self, key: str, typed: str, new: list[str]) -> _Word:
        if key not in self._words:
            self._words[key] = _Word(typed)
            new.append(key)
        return self._words[key]

    def _collect(self, node: query.Query, new: list[str]) -> None:
        if isinstance(node, query.Prefix):
            typed = self._as_typed(node, f"{node.text}*")
            if len(typed.rstrip("*").split(":")[-1]) < self.limits.min_prefix_chars:
                self._cut(SHORT_PREFIX, typed, self.limits.min_prefix_chars)
                return
            word = self._word(f"{node.text}*", typed, new)
            word.prefix = node.text
            word.expansions.setdefault(node.fieldname, [])
        elif isinstance(node, query.Phrase):
            for w in node.words:
                self._word(str(w), self._as_typed(node, str(w)), new).cost += \
                    self.reader.doc_frequency(node.fieldname, w) + TERM_READS
        elif isinstance(node, query.Term):
            self._word(str(node.text), self._as_typed(node, str(node.text)), new).cost += \
                self.reader.doc_frequency(node.fieldname, node.text) + TERM_READS
        elif not node.is_leaf():
            for child in node.children():
                self._collect(child, new)

    def _decide(self, key: str, word: _Word) -> None:
        """Whether a word is searched, in the order typed: within the number of words, and
        within the read budget (the first word always is)."""
        if self._count >= self.limits.max_terms:
            word.kept = False
            self._cut(TOO_MANY_TERMS, "", self.limits.max_terms)
            return
        first = self._reads == 0
        if not first and self._reads + TERM_READS > self.budget:
            word.kept = False  # the budget is spent: not even worth looking the word up
        elif word.prefix is not None:
            word.kept = self._take_prefix(word, first)
        else:
            word.kept = first or self._reads + word.cost <= self.budget
            if word.kept:
                self._reads += word.cost
        if word.kept:
            self._count += 1
        else:
            self._cut(TOO_COMMON, word.typed)

    def _take_prefix(self, word: _Word, first: bool) -> bool:
        """Choose the words a prefix stands for, in each field: its max_prefix_words most
        frequent, then the most frequent of those that fit in the budget."""
        assert word.prefix is not None
        for fieldname in word.expansions:
            found = list(islice(self.reader.iter_prefix(fieldname, word.prefix), PREFIX_SCAN))
            top = heapq.nlargest(self.limits.max_prefix_words, found, key=lambda t: t[1].doc_frequency())
            if len(found) > self.limits.max_prefix_words:
                self._cut(BROAD_PREFIX, word.typed, self.limits.max_prefix_words)
            word.candidates.extend((info.doc_frequency() + TERM_READS, fieldname, text) for text, info in top)
        if not word.candidates:
            return True  # it stands for no word: it matches nothing, cheaply
        chosen = 0
        for entries, fieldname, text in sorted(word.candidates, key=lambda c: -c[0]):
            if first and chosen == 0 or self._reads + entries <= self.budget:
                word.expansions[fieldname].append(text)
                self._reads += entries
                chosen += 1
        if 0 < chosen < len(word.candidates):
            self._cut(BROAD_PREFIX, word.typed, self.limits.max_prefix_words)
        return chosen > 0

    # ------------------------------------------------------------- the bounded query

    def _kept(self, key: str) -> bool:
        word = self._words.get(key)
        return word is not None and word.kept

    def _rebuild(self, node: query.Query) -> query.Query:
        if isinstance(node, query.Prefix):
            word = self._words.get(f"{node.text}*")
            if word is None or not word.kept:
                return query.NullQuery
            if not word.candidates:
                return node  # the prefix stands for no word: it matches nothing, cheaply
            words = [query.Term(node.fieldname, self.reader.schema[node.fieldname].from_bytes(text),
                                boost=node.boost) for text in word.expansions.get(node.fieldname, [])]
            if not words:
                return query.NullQuery
            return words[0] if len(words) == 1 else query.Or(words)
        if isinstance(node, (query.TermRange, query.Every)) or (
                isinstance(node, query.MultiTerm) and not isinstance(node, query.NumericRange)):
            # No other pattern is parsed; one would be refused the same way.
            self._cut(WORD_RANGE, self._as_typed(node, str(node)))
            return query.NullQuery
        if isinstance(node, query.Phrase):
            return node if all(self._kept(str(w)) for w in node.words) else query.NullQuery
        if isinstance(node, query.Term):
            return node if self._kept(str(node.text)) else query.NullQuery
        if node.is_leaf():
            return node  # date ranges: a bounded number of entries
        return node.apply(self._rebuild)


# An Or of more words than this reads them all at once into an array, rather than through
# Whoosh's tree of unions, whose cost per match grows with the number of words.
PRELOAD_OVER = 4


def with_preloaded_unions(node: query.Query) -> query.Query:
    """The query (changed in place) with its large unions preloaded; call it last, since
    normalize() builds new unions."""
    if isinstance(node, query.Or) and len(node.subqueries) > PRELOAD_OVER:
        node.matcher_type = query.Or.ARRAY_MATCHER
    for child in node.children():
        with_preloaded_unions(child)
    return node
