"""A page of search results as readers see it: topics with their titles and states, and
for readers of bodies their best messages with highlighted snippets.

Snippets are cut from the text kept in the database (the index stores no text, which keeps
it small) with the same analyser as the index, so "frontaliere" lights up "frontalières".
A snippet is a list of (text, matched) pieces: the template marks the matched ones up and
escapes everything, so no mail text ever reaches a page as HTML.

Every text a result shows (title, subject, author, snippet, attachment names) is shown as
the reader may see it: addresses hidden or obfuscated (storage.address_masking), personal
unsubscribe tokens masked (storage.personal_links) — before highlighting, so that a
highlight never splits an address.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload
from whoosh import highlight

from storage.address_masking import mask_addresses_in_text
from storage.models import Message, Topic
from storage.personal_links import mask_personal_links
from storage.search_analysis import french_analyzer
from storage.search_bounds import Cut, SearchLimits
from storage.search_index import SearchIndex
from storage.search_query import Matches, SearchRequest, find
from storage.search_text import split_quoted

Snippet = list[tuple[str, bool]]  # (text, matched) pieces
PAGE_TOPICS = 10
SNIPPET_CHARS = 240

_analyzer = french_analyzer()


class _PiecesFormatter(highlight.Formatter):
    """Whoosh formatters build strings; this one keeps the pieces apart."""

    def format(self, fragments, replace=False):  # type: ignore[no-untyped-def]
        out: list[Snippet] = []
        for fragment in fragments:
            pieces: Snippet = []
            index, text = fragment.startchar, fragment.text
            for token in sorted(fragment.matches, key=lambda t: (t.startchar, t.startchar - t.endchar)):
                if token.startchar is None or token.startchar < index:
                    continue
                if token.startchar > index:
                    pieces.append((text[index:token.startchar], False))
                pieces.append((text[token.startchar:token.endchar], True))
                index = token.endchar
            pieces.append((text[index:fragment.endchar], False))
            out.append(pieces)
        return out


def snippet(text: str, terms: frozenset[str], whole: bool = False) -> Snippet:
    """The best passage of `text` for these index terms (all of it when `whole`), or []
    if no term occurs in it."""
    if not text or not terms:
        return []
    fragmenter = (highlight.WholeFragmenter() if whole
                  else highlight.ContextFragmenter(maxchars=SNIPPET_CHARS, surround=70))
    fragments = highlight.highlight(text, terms, _analyzer, fragmenter, _PiecesFormatter(), top=1)
    if not fragments:
        return []
    pieces = fragments[0]
    if not whole:
        if not text.startswith(pieces[0][0]) and pieces[0][0]:
            pieces.insert(0, ("…", False))
        if not text.endswith(pieces[-1][0]):
            pieces.append(("…", False))
    return pieces


def _plain_start(text: str) -> Snippet:
    start = " ".join(text.split())[:SNIPPET_CHARS]
    return [(start + ("…" if len(text) > len(start) else ""), False)] if start else []


@dataclass(frozen=True)
class Masking:
    """How addresses are shown to this reader (storage.address_masking's mode and label)."""

    mode: str
    hidden_label: str

    def shown(self, text: str) -> str:
        # Personal links of any host (an old base_url's too): masked for every reader.
        return mask_addresses_in_text(mask_personal_links(text, ""), self.mode, self.hidden_label) if text else ""


@dataclass(frozen=True)
class MessageHit:
    pk: int
    subject: str
    author: str
    date: datetime
    snippet: Snippet
    attachments: list[str]


@dataclass(frozen=True)
class TopicHit:
    id: int
    title: str
    title_snippet: Snippet
    status: str
    resolution: str | None
    category: str | None
    last_activity: datetime
    messages: list[MessageHit] = field(default_factory=list)


@dataclass(frozen=True)
class SearchPage:
    request: SearchRequest
    topics: list[TopicHit]
    total_topics: int
    total_messages: int
    titles_only: bool
    exact: bool  # False: the totals are lower bounds ("more than")
    page: int
    pages: int
    has_next: bool
    suggestion: str | None
    ignored: list[str]
    cuts: list[Cut]
    refused: bool  # nothing was left to search: no results, the cuts say why


def _message_hit(m: Message, terms: dict[str, frozenset[str]], masking: Masking) -> MessageHit:
    own = masking.shown(split_quoted(m.text or "").own)
    found = snippet(own, terms.get("body", frozenset())) or _plain_start(own)
    return MessageHit(m.id, masking.shown(m.subject), masking.shown(m.from_name or m.from_address), m.date,
                      found, [masking.shown(a.filename) for a in m.attachments])


def search_page(session: Session, search: SearchIndex, request: SearchRequest, full_access: bool,
                masking: Masking, limits: SearchLimits = SearchLimits(),
                page_size: int = PAGE_TOPICS) -> SearchPage:
    """Run a search for a reader and read what its page shows from the database."""
    matches: Matches = find(search, request, full_access, page_size, limits)
    topic_ids = [t.topic_id for t in matches.topics]
    topics = {t.id: t for t in session.scalars(
        select(Topic).options(selectinload(Topic.category)).where(Topic.id.in_(topic_ids)))}
    pks = [pk for t in matches.topics for pk in t.message_pks]
    messages = {m.id: m for m in session.scalars(
        select(Message).options(selectinload(Message.attachments)).where(Message.id.in_(pks)))} if pks else {}
    title_terms = matches.terms.get("title", frozenset())
    hits = []
    for match in matches.topics:
        topic = topics.get(match.topic_id)
        if topic is None:  # merged away since the index was written
            continue
        title = masking.shown(topic.subject)
        hits.append(TopicHit(
            id=topic.id, title=title, title_snippet=snippet(title, title_terms, whole=True),
            status=topic.status.value, resolution=topic.resolution.value if topic.resolution else None,
            category=masking.shown(topic.category.name) if topic.category else None, last_activity=topic.last_activity_at,
            messages=[_message_hit(messages[pk], matches.terms, masking)
                      for pk in match.message_pks if pk in messages]))
    page = max(request.page, 1)
    pages = max(1, -(-matches.total_topics // page_size))
    has_next = page < pages or (not matches.exact and len(matches.topics) == page_size)
    return SearchPage(request, hits, matches.total_topics, matches.total_messages, matches.titles_only,
                      matches.exact, page, pages, has_next, matches.suggestion, matches.ignored,
                      matches.cuts, matches.refused)
