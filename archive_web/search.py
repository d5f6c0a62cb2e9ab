"""The search pages: /search (simple and by criteria, plain GET parameters so that a search
can be bookmarked and shared), /search.json for scripts, and /search/help on the syntax.

Both result pages apply one access rule: a reader who may not read message bodies (an
anonymous reader of a members-only archive) searches and sees topic titles only; and show
addresses as the rest of the archive does (hidden from visitors, obfuscated for members).
A search is bounded ([search] in config.toml, storage.search_bounds): both pages say, in
the reader's language, what was left out of it or cut, and why.
"""

from __future__ import annotations

import threading
from datetime import date
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from archive_web.addresses import reader_masking
from archive_web.auth import may_read_bodies
from archive_web.db import db, forum_config
from storage.archive import category_by_slug, category_choices
from storage.models import Resolution
from storage.search_bounds import (
    BROAD_PREFIX,
    SHORT_PREFIX,
    TIME_LIMIT,
    TOO_COMMON,
    TOO_MANY_TERMS,
    WORD_RANGE,
    Cut,
    search_limits,
)
from storage.search_index import SearchIndex
from storage.search_query import SearchRequest
from storage.search_results import Masking, SearchPage, Snippet, search_page

bp = Blueprint("search", __name__)

MAX_QUERY = 500
MAX_PAGE = 1000
TRUE_VALUES = {"1", "on", "yes", "oui", "true"}
# The GET parameters of the form, in the order the links repeat them.
PARAMETERS = ("q", "category", "status", "resolution", "author", "organisation", "from", "to",
              "attachment", "title_only", "order")

_lock = threading.Lock()


def search_index() -> SearchIndex:
    """The application's index handle (its searchers are reused across requests)."""
    with _lock:
        handle = current_app.extensions.get("relais.search")
        if handle is None:
            config = forum_config()
            handle = current_app.extensions["relais.search"] = SearchIndex(
                config.index_dir, config.search.writer_memory_mb)
        return handle


def _date(args: MultiDict[str, str], name: str, errors: list[str]) -> date | None:
    value = args.get(name, "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors.append(_("“%(value)s” is not a date: write it as 2024-03-31.", value=value))
        return None


def read_request(args: MultiDict[str, str]) -> tuple[SearchRequest, list[str]]:
    """The search the parameters describe, and what in them could not be understood (the
    rest of the search still runs)."""
    errors: list[str] = []
    category_id = None
    slug = args.get("category", "").strip()
    if slug:
        category = category_by_slug(db(), slug)
        if category is None:
            errors.append(_("There is no category “%(slug)s”.", slug=slug))
        else:
            category_id = category.id
    status = args.get("status", "") or None
    if status not in (None, "open", "closed"):
        errors.append(_("Unknown status “%(value)s”.", value=status))
        status = None
    resolution = args.get("resolution", "") or None
    if resolution is not None and resolution not in {r.value for r in Resolution}:
        errors.append(_("Unknown resolution “%(value)s”.", value=resolution))
        resolution = None
    date_from, date_to = _date(args, "from", errors), _date(args, "to", errors)
    page = args.get("page", 1, type=int) or 1
    return SearchRequest(
        text=args.get("q", "")[:MAX_QUERY], category_id=category_id, status=status,
        resolution=resolution, author=args.get("author", "")[:200],
        organisation=args.get("organisation", "")[:200], date_from=date_from, date_to=date_to,
        has_attachment=args.get("attachment", "").lower() in TRUE_VALUES,
        title_only=args.get("title_only", "").lower() in TRUE_VALUES,
        order="date" if args.get("order") == "date" else "relevance",
        page=min(max(page, 1), MAX_PAGE)), errors


def _parameters() -> dict[str, str]:
    """The search's parameters as given (for links to other pages and orders)."""
    return {name: value for name in PARAMETERS if (value := request.args.get(name, "").strip())}


def _run() -> tuple[SearchRequest, list[str], SearchPage | None]:
    search, errors = read_request(request.args)
    if search.is_empty:
        return search, errors, None
    return search, errors, search_page(db(), search_index(), search, may_read_bodies(),
                                       Masking(*reader_masking()), search_limits(forum_config().search))


def cut_message(cut: Cut) -> str:
    """What the reader is told about one thing left out of their search or cut."""
    if cut.kind == SHORT_PREFIX:
        return _("“%(text)s” was left out: a word ending in * needs at least %(num)d letters before the *.",
                 text=cut.text, num=cut.limit)
    if cut.kind == BROAD_PREFIX:
        return _("“%(text)s” stands for too many words: only the most frequent of them were searched.",
                 text=cut.text)
    if cut.kind == WORD_RANGE:
        return _("“%(text)s” was left out: ranges of words are not searched (the advanced search has dates).",
                 text=cut.text)
    if cut.kind == TOO_MANY_TERMS:
        return _("Only the first %(num)d words of your search were used.", num=cut.limit)
    if cut.kind == TOO_COMMON:
        return _("“%(text)s” was left out: searched together with the words before it, it would "
                 "have made the search too long. Add a rarer word or a phrase.", text=cut.text)
    assert cut.kind == TIME_LIMIT
    return _("The search took too long and was stopped: the results shown may be incomplete. "
             "More precise words will be faster.")


@bp.get("/search")
def search() -> str:
    search, errors, page = _run()
    params = _parameters()
    links = {order: url_for("search.search", **{**params, "order": order}) for order in ("relevance", "date")}
    if page is not None and page.suggestion:
        links["suggestion"] = url_for("search.search", **{**params, "q": page.suggestion})
    cuts = [cut_message(cut) for cut in page.cuts] if page is not None else []
    return render_template("search.html", search=search, errors=errors, page=page, params=params, cuts=cuts,
                           links=links, categories=category_choices(db()),
                           category=request.args.get("category", ""),
                           resolutions=[r.value for r in Resolution], full_access=may_read_bodies())


def _text(snippet: Snippet) -> str:
    return "".join(text for text, _matched in snippet)


def _json_page(page: SearchPage) -> dict[str, Any]:
    topics = []
    for t in page.topics:
        topic: dict[str, Any] = {
            "id": t.id, "title": t.title, "url": url_for("topics.topic", topic_id=t.id, _external=True),
            "status": t.status, "resolution": t.resolution, "category": t.category,
            "last_activity": t.last_activity.isoformat()}
        if not page.titles_only:
            topic["messages"] = [{
                "id": m.pk, "subject": m.subject, "author": m.author, "date": m.date.isoformat(),
                "url": url_for("topics.topic", topic_id=t.id, _external=True) + f"#m{m.pk}",
                "snippet": _text(m.snippet), "highlights": [text for text, hit in m.snippet if hit],
                "attachments": m.attachments} for m in t.messages]
        topics.append(topic)
    out: dict[str, Any] = {"total_topics": page.total_topics, "total_exact": page.exact, "page": page.page,
                           "pages": page.pages if page.exact else None, "has_next": page.has_next,
                           "titles_only": page.titles_only, "suggestion": page.suggestion,
                           "ignored_criteria": page.ignored, "topics": topics,
                           "simplified": [{"kind": cut.kind, "text": cut.text, "message": cut_message(cut)}
                                          for cut in page.cuts]}
    if not page.titles_only:
        out["total_messages"] = page.total_messages
    return out


@bp.get("/search.json")
def search_json() -> Response | tuple[Response, int]:
    search, errors, page = _run()
    if errors:
        return jsonify({"errors": errors}), 400
    if page is None:
        return jsonify({"errors": [_("Give a query (q) or at least one criterion.")]}), 400
    if page.refused:
        return jsonify({"errors": [_("Your search was not run: nothing was left to search once these "
                                     "words were left out.")] + [cut_message(cut) for cut in page.cuts],
                        "refused": True}), 400
    return jsonify({"query": _parameters(), **_json_page(page)})


@bp.get("/search/help")
def help() -> str:
    return render_template("search_help.html", limits=forum_config().search)
