"""What search results show of mail (issue 10, findings 5 and 8): addresses are hidden from
visitors and obfuscated for members — authors, display names that are addresses, subjects,
snippets, attachment names, in /search and /search.json alike — and no personal unsubscribe
token is ever shown or searchable."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from searchforum import ALICE, Forum, make_forum
from storage.db import session_scope
from storage.models import Message
from storage.search_queue import mark_for_reindex
from storage.tokens import make_token

ADDRESS = re.compile(r"[\w.+-]+(@|%40|&#64;)[\w-]+\.[\w.-]+")


def results_of(html: str) -> str:
    """The results section of a search page (the page's footer names the forum's own address)."""
    found = re.search(r'<section[^>]*class="search-results".*?</section>', html, re.S)
    assert found is not None
    return found.group(0)


def post_addresses(forum: Forum) -> None:
    forum.post("Formulaire A1 : écrire à carol@example.net", "Pour le formulaire A1, écrivez à "
               "dave.durand@example.com ou appelez.\n", sender="alice@example.org", attachment="liste eve@example.com.pdf")
    forum.post("Re: Formulaire A1 : écrire à carol@example.net", "Le formulaire A1 est arrivé.\n",
               sender='"bob@example.org" <bob@example.org>')
    forum.index()


@pytest.fixture
def forum(gateway) -> Forum:  # type: ignore[no-untyped-def]
    return make_forum(gateway)


@pytest.fixture
def public_forum(make_config) -> Iterator[Forum]:  # type: ignore[no-untyped-def]
    from conftest import Gateway, Instance, free_port
    from mailgateway.server import start_gateway
    from storage.instance import initialise

    config = make_config(archive={"visibility": "public"})
    instance = Instance(config, initialise(config))
    port = free_port()
    controller = start_gateway(config, instance.secret, host="127.0.0.1", port=port)
    try:
        yield make_forum(Gateway(instance, controller, port))
    finally:
        controller.stop()
        instance.engine.dispose()


def test_members_see_addresses_obfuscated_in_results(forum: Forum):
    post_addresses(forum)
    result = forum.json(ALICE, q="formulaire")
    [topic] = result["topics"]
    assert topic["title"] == "Formulaire A1 : écrire à carol (at) example.net"
    authors = {m["author"] for m in topic["messages"]}
    assert authors == {"alice (at) example.org", "bob (at) example.org"}
    snippets = " ".join(m["snippet"] for m in topic["messages"])
    assert "dave.durand (at) example.com" in snippets
    assert ["liste eve (at) example.com.pdf"] in [m["attachments"] for m in topic["messages"]]
    assert not ADDRESS.search(str(result))
    html = results_of(forum.page(ALICE, q="formulaire"))
    assert not ADDRESS.search(html) and "carol (at) example.net" in html
    # A highlighted word inside an address does not split it open.
    assert not ADDRESS.search(str(forum.json(ALICE, q="example")))


def test_visitors_of_a_public_archive_never_see_an_address(public_forum: Forum):
    post_addresses(public_forum)
    result = public_forum.json(None, q="formulaire")
    [topic] = result["topics"]
    assert topic["title"] == "Formulaire A1 : écrire à (adresse masquée)"
    assert {m["author"] for m in topic["messages"]} == {"(adresse masquée)"}
    shown = str(result)
    assert not ADDRESS.search(shown) and "(at)" not in shown
    for needle in ("carol", "dave.durand", "eve", "bob@", "alice@"):
        assert needle not in shown, needle
    html = results_of(public_forum.page_in("en", None, q="formulaire"))
    assert not ADDRESS.search(html) and "(at)" not in html and "(address hidden)" in html


def test_visitors_of_a_members_only_archive_see_titles_without_addresses(forum: Forum):
    post_addresses(forum)
    result = forum.json(None, q="formulaire")
    assert [t["title"] for t in result["topics"]] == ["Formulaire A1 : écrire à (adresse masquée)"]
    assert not ADDRESS.search(results_of(forum.page(None, q="formulaire")))


def test_a_suggestion_never_builds_an_address(forum: Forum):
    post_addresses(forum)
    # Every word of this address is in the index but the query's domain is misspelt: the
    # suggestion must not rebuild dave.durand@example.com out of the index's words.
    suggestion = forum.json(ALICE, q="dave.durand@exampel.com")["suggestion"]
    assert suggestion is None or "example.com" not in suggestion


def test_no_personal_unsubscribe_token_is_shown_or_searchable(forum: Forum):
    token = make_token(forum.gateway.instance.secret, "unsubscribe", 7)
    link = f"http://forum.example.org/unsubscribe/{token}"
    forum.post("Horaires de la navette", "Les horaires changent.\n")
    # Mail stored before the gateway stripped quoted footers: the link is in the stored text.
    with session_scope(forum.engine) as db:
        message = db.scalars(select(Message)).one()
        message.text = f"Les horaires changent.\n\nVous désabonner : {link}\n"
        mark_for_reindex(db, [message.id])
    forum.index()
    result = forum.json(ALICE, q="horaires")
    [topic] = result["topics"]
    assert "forum.example.org/unsubscribe" in topic["messages"][0]["snippet"]
    assert token not in str(result) and token not in forum.page(ALICE, q="horaires")
    # Not even its pieces are in the index, so no prefix search can spell it out.
    signature = token.split(".")[-1]
    assert forum.json(ALICE, q=signature)["topics"] == []
    assert forum.json(ALICE, q=signature[:6] + "*")["topics"] == []
