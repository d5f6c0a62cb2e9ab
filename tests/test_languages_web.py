"""A person's language on the web (issue 13): chosen on /account and kept on the person, so
that it holds across sign-ins and browsers; guessed from the browser until chosen; taken
from the members' space `locale` claim when the person has none yet."""

from __future__ import annotations

import pytest

from archive_web.oidc import provider_identity
from mailgateway.delivery import deliver_due
from storage.accounts import member_signing_in
from storage.db import session_scope
from storage.models import DeliveryMode
from storage.people import person_by_address
from webtools import app, client, csrf_token, mails_to, make_config, sign_in, submit, text_of, visibility  # noqa: F401

pytestmark = pytest.mark.parametrize("visibility", ["members"])
FRENCH = {"Accept-Language": "fr-FR,fr;q=0.9"}


def language_of(instance, address: str) -> str | None:  # type: ignore[no-untyped-def]
    with session_scope(instance.engine) as db:
        return person_by_address(db, address).language


def sign_out(client) -> None:  # type: ignore[no-untyped-def]
    assert submit(client, "/account", "/sign-out").status_code == 302


def test_the_language_chosen_on_account_is_kept_across_sign_ins(instance, client, sink):
    instance.add_member("jonas@example.de", "Jonas Weber")
    sign_in(client, instance, sink, "jonas@example.de")
    account = client.get("/account", headers=FRENCH)
    assert "Langue" in text_of(account) and 'lang="de"' in account.get_data(as_text=True)
    saved = submit(client, "/account", "/language", language="de", next="/account")
    assert saved.status_code == 302 and saved.headers["Location"] == "/account"
    assert language_of(instance, "jonas@example.de") == "de"
    page = client.get("/account", headers=FRENCH)  # the person's choice beats the browser's
    assert '<html lang="de">' in page.get_data(as_text=True) and "Mein Abonnement" in text_of(page)
    sign_out(client)

    # Another browser, which asks for French and has no cookie: the sign-in mail and, once
    # signed in, the pages are in German.
    other = client.application.test_client()
    assert "Sujets récents" in text_of(other.get("/", headers=FRENCH))  # a visitor: the browser's
    before = len(sink.received)
    submit(other, "/sign-in", "/sign-in", address="jonas@example.de")
    deliver_due(instance.engine, instance.config)
    mail = mails_to(sink, "jonas@example.de", before + 1)[-1]
    assert mail["Subject"] == "Ihr Anmeldelink für Forum Test"
    sign_in(other, instance, sink, "jonas@example.de")
    page = other.get("/", headers=FRENCH)
    assert '<html lang="de">' in page.get_data(as_text=True) and "Neueste Themen" in text_of(page)


def test_the_language_buttons_of_a_signed_in_person_change_their_language(instance, client, sink):
    instance.add_member("john@example.org", "John Smith")
    sign_in(client, instance, sink, "john@example.org")
    page = client.get("/help", headers=FRENCH).get_data(as_text=True)
    assert 'name="language" value="en" lang="en">English</button>' in page  # a form: it is a change
    assert submit(client, "/help", "/language", language="en", next="/help").headers["Location"] == "/help"
    assert language_of(instance, "john@example.org") == "en"
    assert "Taking part by mail" in text_of(client.get("/help", headers=FRENCH))


def test_a_language_that_is_not_offered_is_refused_and_visitors_cannot_choose_for_a_person(instance, client, sink):
    instance.add_member("john@example.org", "John Smith")
    assert client.post("/language", data={"csrf_token": csrf_token(client, "/sign-in"), "language": "en"}
                       ).status_code == 403
    sign_in(client, instance, sink, "john@example.org")
    assert submit(client, "/account", "/language", language="tlh").status_code == 400
    assert submit(client, "/account", "/language", language="de", next="https://evil.example/").headers[
        "Location"] == "/"
    assert client.post("/language", data={"language": "de"}).status_code == 400  # no CSRF token
    assert language_of(instance, "john@example.org") == "de"


def test_until_chosen_the_browsers_language_is_the_persons(instance, client, sink):
    instance.add_member("jonas@example.de", "Jonas Weber")
    client.get("/language/de")
    sign_in(client, instance, sink, "jonas@example.de")
    assert language_of(instance, "jonas@example.de") == "de"


def test_the_members_space_locale_gives_the_language_until_the_person_chooses(instance):
    instance.add_member("jonas@example.de", "Jonas Weber")
    claims = {"email": "jonas@example.de", "email_verified": True, "name": "Jonas Weber", "locale": "de-CH"}
    with session_scope(instance.engine) as db:
        identity = provider_identity(instance.config, claims)
        assert identity.language == "de"
        member_signing_in(db, identity, member_groups=[], moderator_group="", create=False,
                          default_mode=DeliveryMode.ALL)
    assert language_of(instance, "jonas@example.de") == "de"
    with session_scope(instance.engine) as db:
        # Later sign-ins do not undo what the person chose on /account.
        person_by_address(db, "jonas@example.de").language = "en"
        member_signing_in(db, provider_identity(instance.config, claims), member_groups=[], moderator_group="",
                          create=False, default_mode=DeliveryMode.ALL)
    assert language_of(instance, "jonas@example.de") == "en"
    for odd in ("tlh", 42, "x" * 100, None):
        assert provider_identity(instance.config, {**claims, "locale": odd}).language is None


def test_the_forums_default_language_is_any_language_with_a_catalogue(visibility):
    from storage.config import ConfigError, config_from_mapping

    assert config_from_mapping({"forum": {"default_language": "de"}}).forum.default_language == "de"
    with pytest.raises(ConfigError, match="forum.default_language: 'it' is not one of en, de, fr"):
        config_from_mapping({"forum": {"default_language": "it"}})
