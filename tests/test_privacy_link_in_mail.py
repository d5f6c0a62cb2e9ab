"""The first mail a new member receives (the copy of a post: Relais sends no welcome mail)
links the privacy page, in that member's language (issue 14)."""

from __future__ import annotations

import pytest

from delivery_support import *  # noqa: F401,F403 (fixtures)
from delivery_support import text_parts
from mailfactory import make_mail
from storage.db import session_scope
from storage.people import person_by_address

PRIVACY_LINKS = {"fr": "Vos données personnelles : http://forum.example.org/privacy",
                 "en": "Your personal data: http://forum.example.org/privacy",
                 "de": "Ihre personenbezogenen Daten: http://forum.example.org/privacy"}


@pytest.mark.parametrize("language", sorted(PRIVACY_LINKS))
def test_the_first_mail_a_new_member_receives_links_the_privacy_page(forum, language: str):
    forum.member("alice@example.org", "Alice Martin")
    forum.member("nina@example.org", "Nina Neu")
    with session_scope(forum.engine) as db:
        person_by_address(db, "nina@example.org").language = language
    assert forum.post(make_mail())[0] == 250
    forum.deliver()
    [first] = forum.copies_to("nina@example.org")
    assert PRIVACY_LINKS[language] in text_parts(first)[0]


def test_the_html_footer_links_the_privacy_page(forum):
    forum.member("alice@example.org", "Alice Martin")
    forum.member("nina@example.org", "Nina Neu")
    html_post = make_mail(body="<html><body><p>Bonjour</p></body></html>").replace(
        b"Content-Type: text/plain", b"Content-Type: text/html")
    assert forum.post(html_post)[0] == 250
    forum.deliver()
    [first] = forum.copies_to("nina@example.org")
    assert '<a href="http://forum.example.org/privacy">Vos données personnelles</a>' in "\n".join(text_parts(first))
