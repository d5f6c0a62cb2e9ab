"""The personal unsubscribe link of each copy works without sign-in: a GET shows a page with
one button, a one-click POST (RFC 8058, as Gmail and Yahoo send it, no CSRF token) unsubscribes
at once, and the next post is not sent to that person."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from archive_web import create_app
from delivery_support import *  # noqa: F401,F403 (fixtures)
from delivery_support import text_parts
from mailfactory import make_mail
from storage.models import DeliveryMode


@pytest.fixture
def subscribed(forum):  # type: ignore[no-untyped-def]
    forum.member("alice@example.org", "Alice Martin")
    forum.bob = forum.member("bob@example.org", "Bob Weber")
    forum.chloe = forum.member("chloe@example.org", "Chloé Roth")
    forum.post(make_mail())
    forum.deliver()
    return forum


@pytest.fixture
def client(subscribed):  # type: ignore[no-untyped-def]
    app = create_app(subscribed.config, subscribed.engine)
    return app.test_client()


def link_of(forum, address: str) -> str:  # type: ignore[no-untyped-def]
    [copy] = forum.copies_to(address)
    url = str(copy["List-Unsubscribe"]).split(",")[0].strip().strip("<>")
    # The footer of the copy carries the same personal link.
    assert all(url in text for text in text_parts(copy))
    return urlsplit(url).path


def test_get_shows_a_confirmation_page_with_one_button_and_changes_nothing(subscribed, client):
    page = client.get(link_of(subscribed, "bob@example.org"))
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Se désabonner" in html and len(re.findall(r"<button", html)) == 1
    assert 'name="List-Unsubscribe" value="One-Click"' in html
    assert subscribed.subscription(subscribed.bob).mode is DeliveryMode.ALL


def test_one_click_post_unsubscribes_at_once_and_the_next_post_skips_them(subscribed, client):
    answer = client.post(link_of(subscribed, "bob@example.org"), data={"List-Unsubscribe": "One-Click"})
    assert answer.status_code == 200 and "Vous êtes désabonné" in answer.get_data(as_text=True)
    assert subscribed.subscription(subscribed.bob).mode is DeliveryMode.NONE
    subscribed.clear()
    subscribed.post(make_mail("Un autre obstacle", message_id="second@x.example.org"))
    subscribed.deliver()
    assert subscribed.recipients() == ["chloe@example.org"]


def test_the_confirmation_button_unsubscribes_too(subscribed, client):
    path = link_of(subscribed, "chloe@example.org")
    html = client.get(path).get_data(as_text=True)
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))
    assert "csrf_token" in fields  # the page's own form is CSRF-protected like any other
    assert client.post(path, data=fields).status_code == 200
    assert subscribed.subscription(subscribed.chloe).mode is DeliveryMode.NONE
    assert subscribed.subscription(subscribed.bob).mode is DeliveryMode.ALL


def test_a_forged_or_foreign_token_is_refused_and_a_bare_post_changes_nothing(subscribed, client):
    path = link_of(subscribed, "bob@example.org")
    forged = path[:-3] + ("abc" if not path.endswith("abc") else "xyz")
    answer = client.post(forged, data={"List-Unsubscribe": "One-Click"})
    assert answer.status_code == 404 and "Lien non valable" in answer.get_data(as_text=True)
    assert client.post(path, data={}).status_code == 400
    assert subscribed.subscription(subscribed.bob).mode is DeliveryMode.ALL
