"""Signing in by a link sent by mail: it works once, expires, is the same answer for unknown
addresses, is rate-limited in the database; sessions are protected (cookie flags, CSRF)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from archive_web import create_app
from mailgateway.delivery import deliver_due
from storage.db import session_scope
from storage.models import OutboundMessage, Role, SignInLink, WebSession, utcnow
from webtools import (  # noqa: F401
    app,
    client,
    make_config,
    path_of,
    request_sign_in_link,
    sign_in,
    submit,
    text_of,
    visibility,
)

pytestmark = pytest.mark.parametrize("visibility", ["members"])


@pytest.fixture
def alice(instance):  # type: ignore[no-untyped-def]
    instance.add_member("alice@example.org", "Alice Martin")
    return instance


def queued_mail(instance) -> int:  # type: ignore[no-untyped-def]
    with session_scope(instance.engine, readonly=True) as db:
        return db.query(OutboundMessage).count()


def test_the_emailed_link_signs_in_once(alice, client, sink):
    link = request_sign_in_link(client, alice, sink, "Alice@Example.org")
    assert link.startswith("http://forum.example.org/sign-in/")
    page = client.get(path_of(link))  # what a mail scanner following the link sees: a button
    assert page.status_code == 200 and "Se connecter" in text_of(page)
    assert client.get("/account").status_code == 302  # not signed in by merely opening it

    response = submit(client, path_of(link), path_of(link))
    assert response.status_code == 302
    account = client.get("/account")
    assert account.status_code == 200 and "Connecté en tant que Alice Martin" in text_of(account)

    second = create_app(alice.config, alice.engine).test_client()  # another browser, the same link
    used = second.get(path_of(link))
    assert used.status_code == 410 and "Ce lien a déjà été utilisé" in text_of(used)


def test_an_expired_link_is_refused(alice, client, sink):
    link = path_of(request_sign_in_link(client, alice, sink, "alice@example.org"))
    assert client.get(link).status_code == 200
    with session_scope(alice.engine) as db:  # the link's time passes
        for row in db.query(SignInLink):
            row.expires_at = utcnow() - timedelta(seconds=1)
    refused = client.get(link)
    assert refused.status_code == 410 and "Ce lien n'est plus valable" in text_of(refused)
    response = submit(client, "/sign-in", link)
    assert response.status_code == 410 and client.get("/account").status_code == 302


def test_a_forged_link_is_refused(alice, client):
    response = client.get("/sign-in/not-a-real-token")
    assert response.status_code in (404, 410) and "Ce lien n'est plus valable" in text_of(response)


def test_unknown_and_archive_only_addresses_get_the_same_answer_and_no_mail(alice, client):
    with session_scope(alice.engine) as db:
        from storage.people import archive_author
        archive_author(db, "Ancien Auteur", "ancien@example.org")
    answers = []
    for address in ("alice@example.org", "nobody@example.org", "ancien@example.org"):
        response = submit(client, "/sign-in", "/sign-in", address=address)
        assert response.status_code == 200
        answers.append(text_of(response).replace(address, "ADDRESS"))
    assert answers[0] == answers[1] == answers[2]
    assert "Consultez votre messagerie" in answers[0]
    assert queued_mail(alice) == 1  # only alice's link


def test_a_bad_address_is_answered_clearly(alice, client):
    response = submit(client, "/sign-in", "/sign-in", address="pas une adresse")
    assert response.status_code == 400 and "Veuillez indiquer une adresse électronique" in text_of(response)
    assert 'value="pas une adresse"' in response.get_data(as_text=True)  # nothing typed is lost


def test_sign_in_requests_are_limited_per_address_and_per_ip_across_restarts(make_config):
    config = make_config(web={"sign_in_limit_per_address": 2, "sign_in_limit_per_ip": 3})
    from storage.instance import initialise

    engine = initialise(config)
    first = create_app(config, engine).test_client()
    for _ in range(2):
        assert submit(first, "/sign-in", "/sign-in", address="x@example.org").status_code == 200
    limited = submit(first, "/sign-in", "/sign-in", address="x@example.org")
    assert limited.status_code == 429 and "Trop de demandes" in text_of(limited)

    restarted = create_app(config, engine).test_client()  # a new process: the limits hold
    assert submit(restarted, "/sign-in", "/sign-in", address="x@example.org").status_code == 429
    assert submit(restarted, "/sign-in", "/sign-in", address="y@example.org").status_code == 200
    assert submit(restarted, "/sign-in", "/sign-in", address="z@example.org").status_code == 429  # 4th from this IP
    other_ip = restarted.post("/sign-in", environ_base={"REMOTE_ADDR": "10.1.2.3"},
                              data={"csrf_token": _token(restarted), "address": "z@example.org"})
    assert other_ip.status_code == 200
    engine.dispose()


def _token(client) -> str:  # type: ignore[no-untyped-def]
    from webtools import csrf_token
    return csrf_token(client, "/sign-in")


def test_forms_without_their_token_are_refused(alice, client, sink):
    refused = client.post("/sign-in", data={"address": "alice@example.org"})
    assert refused.status_code == 400 and "Ce formulaire a expiré" in text_of(refused)
    assert queued_mail(alice) == 0
    sign_in(client, alice, sink, "alice@example.org")
    assert client.post("/account/mode", data={"mode": "none"}).status_code == 400
    assert client.post("/sign-out").status_code == 400
    assert client.get("/account").status_code == 200  # still signed in


def test_the_session_cookie_is_protected(make_config, sink):
    from storage.instance import initialise

    config = make_config(forum={"base_url": "https://forum.example.org"})
    engine = initialise(config)
    with session_scope(engine) as db:
        from storage.people import MemberRow, upsert_member
        from storage.models import DeliveryMode, OrganisationKind
        upsert_member(db, MemberRow("alice@example.org", "Alice", "", OrganisationKind.MEMBER, Role.MEMBER),
                      DeliveryMode.ALL)
    client = create_app(config, engine).test_client()
    submit(client, "/sign-in", "/sign-in", address="alice@example.org")
    deliver_due(engine, config)
    from webtools import link_in, mails_to
    link = path_of(link_in(mails_to(sink, "alice@example.org")[-1]))
    assert link.startswith("/sign-in/")
    response = submit(client, link, link)
    cookie = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("relais_session="))
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=Lax" in cookie and "Expires=" in cookie
    engine.dispose()


def test_signing_out_ends_the_session(alice, client, sink):
    sign_in(client, alice, sink, "alice@example.org")
    response = submit(client, "/account", "/sign-out")
    assert response.status_code == 302 and "Vous êtes déconnecté" in text_of(client.get("/"))
    assert client.get("/account").status_code == 302


def test_after_signing_in_the_reader_is_brought_back_but_never_to_another_site(alice, client, sink):
    link = path_of(request_sign_in_link(client, alice, sink, "alice@example.org"))
    assert submit(client, link, link).headers["Location"] == "/"
    form = client.get("/sign-in?next=//evil.example.com/x").get_data(as_text=True)
    assert 'name="next" value="/"' in form
    form = client.get("/sign-in?next=/topics/3").get_data(as_text=True)
    assert 'name="next" value="/topics/3"' in form


def test_signing_out_ends_the_session_on_the_server(alice, client, sink):
    """Issue 10, finding 11: a copy of the session cookie taken before signing out (a shared
    computer, a stolen cookie) must not stay signed in."""
    sign_in(client, alice, sink, "alice@example.org")
    copied = client.get_cookie("relais_session").value
    assert submit(client, "/account", "/sign-out").status_code == 302
    assert client.get("/account").status_code == 302

    other = create_app(alice.config, alice.engine).test_client()
    other.set_cookie("relais_session", copied, domain="localhost")
    assert other.get("/account").status_code == 302  # sent to sign in: the session is over
    page = other.get("/")
    assert "Alice Martin" not in text_of(page) and "Se connecter" in text_of(page)


def test_a_member_ends_their_other_sessions(alice, sink):
    laptop = create_app(alice.config, alice.engine).test_client()
    phone = create_app(alice.config, alice.engine).test_client()
    sign_in(laptop, alice, sink, "alice@example.org")
    sign_in(phone, alice, sink, "alice@example.org")
    account = text_of(laptop.get("/account"))
    assert account.count("avec un lien envoyé par courriel") == 2 and "(ce navigateur)" in account

    done = submit(laptop, "/account", "/account/sessions/sign-out-elsewhere")
    assert done.status_code == 302
    assert "1 autre session est déconnectée" in text_of(laptop.get("/account"))
    assert phone.get("/account").status_code == 302 and laptop.get("/account").status_code == 200


def test_a_session_ends_after_session_days(alice, client, sink):
    sign_in(client, alice, sink, "alice@example.org")
    assert client.get("/account").status_code == 200
    with session_scope(alice.engine) as db:  # the days pass
        for row in db.query(WebSession):
            row.created_at = utcnow() - timedelta(days=alice.config.web.session_days, seconds=1)
    assert client.get("/account").status_code == 302
