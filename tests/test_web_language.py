"""French by default, English and German available: the browser's Accept-Language is honoured, the
reader's choice is remembered, dates are in the reader's language and the forum's time zone."""

from __future__ import annotations

import pytest

from mailfactory import make_mail
from mailgateway.delivery import deliver_due
from webtools import app, client, mails_to, make_config, submit, text_of, visibility  # noqa: F401

pytestmark = pytest.mark.parametrize("visibility", ["public"])
ENGLISH = {"Accept-Language": "en-US,en;q=0.9"}


def test_french_by_default_english_when_the_browser_asks(client):
    french = client.get("/")
    assert '<html lang="fr">' in french.get_data(as_text=True) and "Sujets récents" in text_of(french)
    english = client.get("/", headers=ENGLISH)
    assert '<html lang="en">' in english.get_data(as_text=True) and "Recent topics" in text_of(english)
    assert {"Accept-Language", "Cookie"} <= set(english.vary)
    german = client.get("/", headers={"Accept-Language": "de-DE,de;q=0.9"})
    assert '<html lang="de">' in german.get_data(as_text=True) and "Neueste Themen" in text_of(german)
    italian = client.get("/", headers={"Accept-Language": "it-IT,it;q=0.9"})
    assert "Sujets récents" in text_of(italian)  # not offered: the forum's default


def test_the_readers_choice_is_remembered(client):
    response = client.get("/language/en?next=/help")
    assert response.status_code == 302 and response.headers["Location"] == "/help"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("relais_lang=en") and "HttpOnly" in cookie and "Max-Age=31536000" in cookie
    assert "Taking part by mail" in text_of(client.get("/help", headers={"Accept-Language": "fr"}))
    client.get("/language/fr")
    assert "Participer par courriel" in text_of(client.get("/help", headers=ENGLISH))
    assert client.get("/language/en?next=https://evil.example.com/").headers["Location"] == "/"


def test_the_language_switch_links_to_the_other_language_from_every_page(client):
    page = client.get("/obstacles?status=open").get_data(as_text=True)
    assert 'href="/language/en?next=/obstacles?status%3Dopen" lang="en" hreflang="en"' in page


def test_dates_are_in_the_readers_language_and_the_forums_time_zone(instance, gateway, client):
    instance.add_member("alice@example.org", "Alice Martin")
    # 10:00 in Paris is 09:00 UTC; shown as 10:00 to every reader.
    gateway.send(make_mail("Horaires", message_id="h1@x", date="Mon, 23 Nov 2026 09:00:00 +0000"))
    french = text_of(client.get("/topics/1"))
    english = text_of(client.get("/topics/1", headers=ENGLISH))
    assert "23 nov. 2026, 10:00" in french
    assert "Nov 23, 2026, 10:00 AM" in english


def test_the_sign_in_mail_is_in_the_readers_language(instance, client, sink):
    instance.add_member("alice@example.org", "Alice Martin")
    client.get("/language/en")
    submit(client, "/sign-in", "/sign-in", address="alice@example.org")
    deliver_due(instance.engine, instance.config)
    [mail] = mails_to(sink, "alice@example.org")
    assert mail["Subject"] == "Your sign-in link for Forum Test"
