"""Turning a search (the query box and the criteria) into index queries, and running
them: which topics match, in which order, with which of their messages.

What a reader may search is decided here: a reader who may not read message bodies
(an anonymous reader of a members-only archive) searches topic titles only, with the
public criteria only (category, status, resolution); the query is parsed against a
schema that has no other field, so no syntax can reach a body, an author or a date.

What a search may cost is bounded here too: its words by storage.search_bounds before it
runs, and its CPU time by a deadline shared by its steps (the best topics, the count, the best
messages, the spelling suggestion); a search stopped by it shows what it found so far.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from time import thread_time

from whoosh import collectors, qparser, query
from whoosh.fields import Schema
from whoosh.searching import Searcher

from storage.search_bounds import TIME_LIMIT, Cut, QueryBounds, SearchLimits, with_preloaded_unions
from storage.search_index import SearchIndex, message_schema

TEXT_FIELDS = ("title", "body")
PUBLIC_FIELDS = ("title", "category", "status", "resolution")
MEMBER_FIELDS = (*TEXT_FIELDS, "attachments", "author", "organisation", "category", "status", "resolution", "date")
# The words people may type before a colon, French and English, for each field.
FIELD_ALIASES = {
    "author": ["auteur", "de", "from"], "organisation": ["organization", "org"],
    "category": ["categorie", "catégorie", "cat"], "status": ["statut", "etat", "état"],
    "resolution": ["résolution"], "title": ["titre"], "attachments": ["pj", "attachment", "fichier"],
}
CORRECTED_FIELDS_PUBLIC = ("title",)
CORRECTED_FIELDS_MEMBER = ("body", "title")
MESSAGES_PER_TOPIC = 3
COUNT_CAP = 2000


@dataclass(frozen=True)
class SearchRequest:
    """A search as the form sends it (plain GET parameters, so it can be bookmarked)."""

    text: str = ""
    category_id: int | None = None
    status: str | None = None          # "open" | "closed"
    resolution: str | None = None
    author: str = ""
    organisation: str = ""
    date_from: date | None = None
    date_to: date | None = None
    has_attachment: bool = False
    title_only: bool = False
    order: str = "relevance"           # "relevance" | "date"
    page: int = 1

    @property
    def member_criteria(self) -> list[str]:
        """The criteria only a reader of message bodies may use (named as in the form)."""
        return [name for name, value in (("author", self.author), ("organisation", self.organisation),
                                         ("date_from", self.date_from), ("date_to", self.date_to),
                                         ("attachment", self.has_attachment)) if value]

    @property
    def is_empty(self) -> bool:
        return not (self.text.strip() or self.category_id or self.status or self.resolution
                    or self.member_criteria)


@dataclass(frozen=True)
class TopicMatch:
    topic_id: int
    message_pks: list[int]  # its best-matching messages, best first (none for title searches)


@dataclass(frozen=True)
class Matches:
    topics: list[TopicMatch]        # this page's, in order
    total_topics: int
    total_messages: int
    titles_only: bool               # searched topic titles only (by choice or by access)
    exact: bool = True              # False: at least these totals (counting stopped at COUNT_CAP)
    terms: dict[str, frozenset[str]] = field(default_factory=dict)  # what to highlight, by field
    suggestion: str | None = None
    ignored: list[str] = field(default_factory=list)  # criteria this reader may not use
    cuts: list[Cut] = field(default_factory=list)     # what was left out or cut, and why
    refused: bool = False           # nothing was left to search once the cuts were made


def _parser(fields: tuple[str, ...], schema: Schema) -> qparser.QueryParser:
    parse_schema = Schema(**{name: schema[name] for name in fields})
    text_fields = [f for f in fields if f in TEXT_FIELDS]
    parser = qparser.MultifieldParser(text_fields, parse_schema, group=qparser.AndGroup)
    parser.add_plugin(qparser.PlusMinusPlugin())
    parser.add_plugin(qparser.FieldAliasPlugin({k: v for k, v in FIELD_ALIASES.items() if k in fields}))
    # A leading wildcard would walk the whole term list, and `*:*` every document: not from
    # a search box.
    parser.remove_plugin_class(qparser.WildcardPlugin)
    parser.remove_plugin_class(qparser.EveryPlugin)
    parser.add_plugin(qparser.PrefixPlugin())
    return parser


_SCHEMA = message_schema()
_PUBLIC_PARSER = _parser(PUBLIC_FIELDS, _SCHEMA)
_TITLE_PARSER = _parser(("title", "category", "status", "resolution", "author", "organisation", "date"),
                        _SCHEMA)
_MEMBER_PARSER = _parser(MEMBER_FIELDS, _SCHEMA)


def _words(fieldname: str, text: str) -> list[str]:
    return [t.text for t in _SCHEMA[fieldname].analyzer(text)]


def _criteria(request: SearchRequest, full_access: bool) -> list[query.Query]:
    """The criteria with few values (category, status, resolution, attachment)."""
    criteria: list[query.Query] = []
    if request.category_id:
        criteria.append(query.Term("category_id", str(request.category_id)))
    if request.status:
        criteria.append(query.Term("status", request.status))
    if request.resolution:
        criteria.append(query.Term("resolution", request.resolution))
    if full_access and request.has_attachment:
        criteria.append(query.Term("has_attachment", True))
    return criteria


def _filters(request: SearchRequest, full_access: bool) -> list[query.Query]:
    """The other criteria (author, organisation, dates)."""
    filters: list[query.Query] = []
    if not full_access:
        return filters
    for name, value in (("author", request.author), ("organisation", request.organisation)):
        words = _words(name, value)
        if words:
            filters.append(query.And([query.Term(name, w) for w in words]))
    if request.date_from or request.date_to:
        start = datetime.combine(request.date_from, time.min) if request.date_from else None
        end = datetime.combine(request.date_to + timedelta(days=1), time.min) if request.date_to else None
        filters.append(query.DateRange("date", start, end, endexcl=True))
    return filters


@dataclass(frozen=True)
class BuiltQuery:
    text: query.Query | None       # the words looked for (for highlighting, ranking)
    filters: list[query.Query]     # author, organisation, dates
    criteria: query.Query | None   # a filter of cached document sets, or None


def _joined(parts: list[query.Query]) -> query.Query:
    return (parts[0] if len(parts) == 1 else query.And(parts)).normalize()


def build_query(request: SearchRequest, full_access: bool) -> BuiltQuery | None:
    """The queries of a search for this reader; None when there is nothing to look for."""
    titles_only = request.title_only or not full_access
    parser = _PUBLIC_PARSER if not full_access else _TITLE_PARSER if titles_only else _MEMBER_PARSER
    text_query = parser.parse(request.text) if request.text.strip() else None
    if text_query is not None and text_query is query.NullQuery:
        text_query = None
    criteria = _criteria(request, full_access)
    filters = _filters(request, full_access)
    if text_query is None and not filters and not criteria:
        return None
    return BuiltQuery(text_query, filters, _joined(criteria) if criteria else None)


def positive_terms(q: query.Query | None) -> dict[str, frozenset[str]]:
    """The terms a query looks for (not those it excludes), by field: what to highlight."""
    found: dict[str, set[str]] = {}

    def walk(node: query.Query) -> None:
        if isinstance(node, query.Not):
            return
        if isinstance(node, query.AndNot):
            walk(node.a)
            return
        if isinstance(node, query.Phrase):
            found.setdefault(node.fieldname, set()).update(node.words)
        elif isinstance(node, query.Term):
            found.setdefault(node.fieldname, set()).add(node.text)
        for child in node.children():
            walk(child)

    if q is not None:
        walk(q)
    return {name: frozenset(str(t) for t in terms) for name, terms in found.items()}


class Deadline:
    """The CPU time left to one search (run in one thread), shared by its steps. CPU time:
    what is bounded is the work a request makes the machine do, and a machine busy with
    other work must not cut ordinary searches short."""

    def __init__(self, milliseconds: int) -> None:
        self.end = thread_time() + milliseconds / 1000

    def passed(self) -> bool:
        return thread_time() >= self.end


CHECK_EVERY = 64  # matches between two looks at the clock


class _DeadlineCollector(collectors.WrappingCollector):
    """Stops collecting once the deadline has passed, keeping what it has: Whoosh's
    TimeLimitCollector does the same on the wall clock, with a timer thread per search."""

    def __init__(self, child: collectors.Collector, deadline: Deadline) -> None:
        super().__init__(child)
        self.deadline = deadline

    def collect_matches(self) -> None:
        child = self.child
        for seen, sub_docnum in enumerate(child.matches()):
            if seen % CHECK_EVERY == 0 and self.deadline.passed():
                raise collectors.TimeLimit
            child.collect(sub_docnum)


def _search(searcher: Searcher, q: query.Query, deadline: Deadline, limit: int | None,
            options: dict[str, object]) -> tuple[list[dict], int, bool]:  # type: ignore[type-arg]
    """(stored fields of the hits, best first; how many were scored; finished in time)."""
    timed = _DeadlineCollector(searcher.collector(limit=limit, **options), deadline)
    try:
        searcher.search_with_collector(q, timed)
        finished = True
    except collectors.TimeLimit:
        finished = False
    results = timed.results()
    return [hit.fields() for hit in results], results.scored_length(), finished


def _count(searcher: Searcher, q: query.Query, allowed: set[int] | None, cap: int,
           deadline: Deadline) -> tuple[int, int, bool, bool]:
    """(topics, messages, exact, in time): read from the topic_id column, segment by segment, up to
    `cap` messages (counting every match of a common word would cost more than the search)
    or the deadline."""
    topics: set[int] = set()
    messages = 0
    for leaf, offset in searcher.leaf_searchers():
        if not leaf.doc_count_all():  # an empty index has no columns
            continue
        column = leaf.reader().column_reader("topic_id")
        for seen, docnum in enumerate(leaf.docs_for_query(q)):
            if seen % CHECK_EVERY == 0 and deadline.passed():
                return len(topics), messages, False, False
            if allowed is not None and docnum + offset not in allowed:
                continue
            if messages == cap:
                return len(topics), messages, False, True
            topics.add(column[docnum])
            messages += 1
    return len(topics), messages, True, True


def _top_topics(searcher: Searcher, q: query.Query, count: int, options: dict[str, object],
                deadline: Deadline) -> tuple[list[int], bool]:
    """The first `count` topics, each ranked by its best message (and whether the search
    finished in time).

    The best messages are fetched without Whoosh's "collapse" (which scores every match,
    and puts sorted results in the wrong order): the top messages are enough, with their
    block-wise skipping of what cannot make the top; fetched again, 4 times more, when
    they fall in too few topics.
    """
    limit = count * 4
    while True:
        hits, scored, finished = _search(searcher, q, deadline, limit, options)
        topics = list(dict.fromkeys(hit["topic_id"] for hit in hits))
        if len(topics) >= count or scored < limit or not finished:
            return topics[:count], finished
        limit *= 4


# A word, not a field name nor a prefix (`word*`: the reader knows it is incomplete).
_WORD_RE = re.compile(r"(?<![\w:])(\w[\w'’-]*)(?![\w:*])")
# The words a suggestion corrects at most (each costs a walk of the spelling graph).
SUGGESTED_WORDS = 3
# A word that is part of an address is left as typed: a suggestion never builds an address
# out of the index's words.
_IN_ADDRESS = re.compile(r"[\w.+-]*@[\w.-]*")


def _suggest(searcher: Searcher, text: str, fields: tuple[str, ...], deadline: Deadline,
             max_words: int) -> str | None:
    """The query with each word the index does not know replaced by the nearest it knows
    (the first `max_words` such words, while time is left)."""
    reader = searcher.reader()
    changed = False
    tried = 0
    addresses = [m.span() for m in _IN_ADDRESS.finditer(text)]

    def better(match: re.Match[str]) -> str:
        nonlocal changed, tried
        word = match.group(1)
        if word in ("AND", "OR", "NOT") or any(a <= match.start() < b for a, b in addresses) or any(
                reader.doc_frequency(f, t) for f in fields for t in _words(f, word)) or not _words(fields[0], word):
            return word
        if tried >= max_words or deadline.passed():
            return word
        tried += 1
        for f in fields:
            found = searcher.corrector(f).suggest(word.lower(), limit=1, maxdist=2, prefix=1)
            if found:
                changed = True
                return found[0]
        return word

    corrected = _WORD_RE.sub(better, text)
    return corrected if changed else None


def find(search: SearchIndex, request: SearchRequest, full_access: bool, page_size: int = 10,
         limits: SearchLimits = SearchLimits()) -> Matches:
    """The topics matching a search, one page of them, each with its best messages; the
    search bounded by `limits` (what was cut is in `Matches.cuts`)."""
    titles_only = request.title_only or not full_access
    ignored = [] if full_access else request.member_criteria
    built = build_query(request, full_access)
    if built is None:
        return Matches([], 0, 0, titles_only, ignored=ignored)
    page = max(request.page, 1)
    with search.searcher() as searcher:
        deadline = Deadline(limits.cpu_limit_ms)
        bounds = QueryBounds(searcher.reader(), limits, request.text)
        text_query = bounds.bound(built.text) if built.text is not None else None
        if text_query is query.NullQuery:
            text_query = None
        parts = ([text_query] if text_query is not None else []) + [
            bounded for f in built.filters if (bounded := bounds.bound(f)) is not query.NullQuery]
        if parts:
            q, criteria = with_preloaded_unions(_joined(parts)), built.criteria
        elif built.criteria is not None:
            # Criteria only: the query walks their documents, newest first.
            q, criteria = built.criteria, None
        else:
            return Matches([], 0, 0, titles_only, ignored=ignored, cuts=bounds.cuts, refused=True)
        by_date = request.order == "date" or text_query is None
        options: dict[str, object] = {"sortedby": "date", "reverse": True} if by_date else {}
        allowed = search.criterion_docs(searcher, criteria) if criteria is not None else None
        if allowed is not None:
            options["filter"] = allowed
        topic_ids, finished = _top_topics(searcher, q, page * page_size, options, deadline)
        topic_ids = topic_ids[(page - 1) * page_size:]
        total_topics, total_messages, exact, counted = _count(searcher, q, allowed, COUNT_CAP, deadline)
        finished = finished and counted
        if not counted and topic_ids:  # stopped by the deadline: at least what the pages so far show
            total_topics = max(total_topics, (page - 1) * page_size + len(topic_ids))
        best: dict[int, list[int]] = {t: [] for t in topic_ids}
        if topic_ids and not titles_only:
            in_page = query.Or([query.Term("topic_id", t) for t in topic_ids])
            hits, _scored, in_time = _search(searcher, query.And([q, in_page]), deadline, None, options)
            finished = finished and in_time
            for hit in hits:
                if len(best[hit["topic_id"]]) < MESSAGES_PER_TOPIC:
                    best[hit["topic_id"]].append(hit["message_pk"])
        exact = exact and finished
        suggestion = None
        if total_topics == 0 and exact and request.text.strip():
            fields = CORRECTED_FIELDS_PUBLIC if titles_only else CORRECTED_FIELDS_MEMBER
            suggestion = _suggest(searcher, request.text, fields, deadline, SUGGESTED_WORDS)
        cuts = list(bounds.cuts)
        if not finished:
            cuts.append(Cut(TIME_LIMIT, limit=limits.cpu_limit_ms))
    return Matches([TopicMatch(t, best[t]) for t in topic_ids], total_topics, total_messages, titles_only,
                   exact, positive_terms(text_query), suggestion, ignored, cuts)
