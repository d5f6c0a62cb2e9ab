"""Signing in with the members' space, by OpenID Connect, against a real provider
(LemonLDAP::NG, tests/oidc_provider.py): the authorization-code flow with PKCE, state and
nonce; the ID token checked (signature, issuer, audience, expiry, nonce); people matched by
a verified e-mail address only; sign-out ending both sessions.

Each negative case changes one thing on Relais's side of the real flow (its clock, the
state it gets back, the JWKS it is shown, a replayed answer). The wrong audience cannot be
had from the provider, which only issues tokens for the client that asks: the relay
re-signs the provider's claims with a key of the test's own, and serves that key's JWKS.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask.testing import FlaskClient
from joserfc import jws, jwt
from joserfc.jwk import KeySet, RSAKey

from archive_web import create_app
from conftest import Instance, free_port
from oidc_provider import CLIENT_ID, CLIENT_SECRET, USERS, Provider, Relay, log_in_at_provider, provider_running
from storage.config import ConfigError
from storage.db import session_scope
from storage.instance import initialise
from storage.models import Role, WebSession
from storage.people import person_by_address
from webtools import make_config, path_of, submit, text_of, visibility  # noqa: F401

pytestmark = pytest.mark.parametrize("visibility", ["members"])

BASE = "http://forum.example.org"


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    yield from provider_running(tmp_path_factory.mktemp("lemonldap"), free_port(),
                                [BASE + "/sign-in/oidc/callback"], [BASE + "/"])


def oidc_settings(provider: Provider, **changes: Any) -> dict[str, Any]:
    return {"issuer": provider.issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
            "organisation_claim": "organisation", "groups_claim": "groups", "moderator_group": "timelords",
            **changes}


@pytest.fixture
def make_forum(make_config, provider):  # type: ignore[no-untyped-def]
    """A forum whose members are the provider's three people, signing in through it."""
    engines = []

    def make(*, members: tuple[str, ...] = tuple(USERS), web: dict[str, Any] | None = None,
             **oidc: Any) -> Instance:
        config = make_config(oidc=oidc_settings(provider, **oidc), web=web or {})
        engine = initialise(config)
        engines.append(engine)
        forum = Instance(config, engine)
        for user in members:
            forum.add_member(USERS[user], user.title())
        return forum
    yield make
    for engine in engines:
        engine.dispose()


@pytest.fixture
def forum(make_forum) -> Instance:  # type: ignore[no-untyped-def]
    return make_forum()


def browser_of(forum: Instance) -> FlaskClient:
    return create_app(forum.config, forum.engine).test_client()


def start_sign_in(client: FlaskClient, next_path: str = "") -> str:
    """Press the members' space button; returns the provider URL the browser is sent to."""
    response = submit(client, "/sign-in", "/sign-in/oidc", next=next_path)
    assert response.status_code == 302, text_of(response)
    return response.headers["Location"]


def sign_in_with_provider(client: FlaskClient, user: str, browser: requests.Session | None = None,
                          next_path: str = "") -> Any:
    back = log_in_at_provider(start_sign_in(client, next_path), user, browser=browser, stop_at=BASE)
    return client.get(path_of(back))


def signed_in_as(client: FlaskClient) -> str | None:
    page = client.get("/account")
    if page.status_code != 200:
        return None
    return text_of(page).split("Connecté en tant que ", 1)[1].split(".", 1)[0]


# --- The flow ---------------------------------------------------------------------------

def test_a_member_signs_in_with_the_members_space(forum):
    client = browser_of(forum)
    page = client.get("/sign-in")
    assert "Se connecter avec l'Espace membres" in text_of(page)
    assert "M'envoyer un lien de connexion" in text_of(page)  # the emailed link stays

    authorize = start_sign_in(client, "/categories")
    query = parse_qs(urlsplit(authorize).query)
    assert authorize.startswith(forum.config.oidc.issuer + "/oauth2/authorize")
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0]
    assert query["state"][0] and query["nonce"][0] and query["client_id"] == [CLIENT_ID]

    back = log_in_at_provider(authorize, "rtyler", stop_at=BASE)
    answer = client.get(path_of(back))
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/categories")
    assert signed_in_as(client) == "Rtyler"
    account = text_of(client.get("/account"))
    assert "Où vous êtes connecté" in account and "avec l'Espace membres" in account


def test_the_moderator_group_decides_who_moderates(forum):
    forum.add_member(USERS["rtyler"], "Rtyler", role=Role.MODERATOR)  # imported as a moderator
    client = browser_of(forum)
    assert sign_in_with_provider(client, "dwho").status_code == 302  # dwho is in "timelords"
    assert client.get("/moderation/held").status_code == 200
    rose = browser_of(forum)
    assert sign_in_with_provider(rose, "rtyler").status_code == 302  # rtyler is not
    assert rose.get("/moderation/held").status_code == 403
    with session_scope(forum.engine, readonly=True) as db:
        assert person_by_address(db, USERS["dwho"]).role is Role.MODERATOR
        assert person_by_address(db, USERS["rtyler"]).role is Role.MEMBER


def test_an_unreachable_provider_gets_a_clear_answer(make_forum):
    forum = make_forum(issuer=f"http://127.0.0.1:{free_port()}")  # nothing listens there
    client = browser_of(forum)
    refused = submit(client, "/sign-in", "/sign-in/oidc")
    assert refused.status_code == 502 and "n'a pas répondu comme prévu" in text_of(refused)


def test_a_person_is_created_on_first_sign_in_only_when_provisioning_says_so(make_forum):
    existing = make_forum(members=("dwho",))
    refused = sign_in_with_provider(browser_of(existing), "rtyler")
    assert refused.status_code == 403 and "n'est pas encore rattaché" in text_of(refused)

    creating = make_forum(members=("dwho",), provision="create")
    client = browser_of(creating)
    assert sign_in_with_provider(client, "rtyler").status_code == 302
    assert signed_in_as(client) == "Rose Tyler"  # the name the provider gave
    with session_scope(creating.engine, readonly=True) as db:
        person = person_by_address(db, USERS["rtyler"])
        assert person.role is Role.MEMBER and person.organisation.name == "Powell Estate"


def test_the_emailed_link_can_be_switched_off(make_forum):
    forum = make_forum(web={"sign_in_by_mail": False})
    client = browser_of(forum)
    page = text_of(client.get("/sign-in"))
    assert "Se connecter avec l'Espace membres" in page and "M'envoyer un lien" not in page
    assert submit(client, "/sign-in", "/sign-in", address=USERS["rtyler"]).status_code == 404


def test_settings_that_cannot_work_are_refused(make_config, provider):
    with pytest.raises(ConfigError, match="oidc.algorithms"):
        make_config(oidc=oidc_settings(provider, algorithms=["none"]))
    with pytest.raises(ConfigError, match="oidc.algorithms"):
        make_config(oidc=oidc_settings(provider, algorithms=["HS256"]))
    with pytest.raises(ConfigError, match="oidc.client_secret"):
        make_config(oidc=oidc_settings(provider, client_secret=""))
    with pytest.raises(ConfigError, match="web.sign_in_by_mail"):
        make_config(web={"sign_in_by_mail": False})


# --- Sessions and signing out -----------------------------------------------------------

def test_signing_out_ends_both_sessions(forum):
    client, at_provider = browser_of(forum), requests.Session()
    sign_in_with_provider(client, "rtyler", at_provider)
    stolen = client.get_cookie("relais_session").value

    out = submit(client, "/account", "/sign-out")
    logout = out.headers["Location"]
    assert logout.startswith(forum.config.oidc.issuer + "/oauth2/logout")
    query = parse_qs(urlsplit(logout).query)
    assert query["post_logout_redirect_uri"] == [BASE + "/"] and query["id_token_hint"][0]
    assert signed_in_as(client) is None

    replayed = browser_of(forum)  # the cookie copied before signing out: worth nothing now
    replayed.set_cookie("relais_session", stolen, domain="localhost")
    assert signed_in_as(replayed) is None

    # The provider ends its own session and sends the browser back to the forum...
    assert log_in_at_provider(logout, "", browser=at_provider, stop_at=BASE).startswith(BASE + "/")
    # ...so the next sign-in asks for the password again.
    page = at_provider.get(start_sign_in(client), allow_redirects=False, timeout=30)
    assert page.status_code == 200 and 'name="password"' in page.text


def test_a_member_signs_out_everywhere_else(forum):
    laptop, phone = browser_of(forum), browser_of(forum)
    sign_in_with_provider(laptop, "rtyler")
    sign_in_with_provider(phone, "rtyler")
    account = text_of(laptop.get("/account"))
    assert account.count("avec l'Espace membres") == 2 and "(ce navigateur)" in account

    done = submit(laptop, "/account", "/account/sessions/sign-out-elsewhere")
    assert done.status_code == 302
    assert signed_in_as(phone) is None and signed_in_as(laptop) == "Rtyler"


# --- Refusals: each changes one thing ---------------------------------------------------

def not_signed_in(client: FlaskClient, forum: Instance) -> bool:
    with session_scope(forum.engine, readonly=True) as db:
        opened = db.query(WebSession).count()
    return signed_in_as(client) is None and opened == 0


def test_an_unverified_email_is_refused(forum):
    client = browser_of(forum)
    refused = sign_in_with_provider(client, "msmith")  # a member, but the provider does not vouch
    assert refused.status_code == 403 and "ne confirme pas votre adresse" in text_of(refused)
    assert not_signed_in(client, forum)


def test_a_person_outside_the_allowed_groups_is_refused(make_forum):
    forum = make_forum(member_groups=["timelords"])
    client = browser_of(forum)
    refused = sign_in_with_provider(client, "rtyler")  # earthlings only
    assert refused.status_code == 403 and "ne donne pas accès" in text_of(refused)
    assert not_signed_in(client, forum)
    assert sign_in_with_provider(browser_of(forum), "dwho").status_code == 302


def test_an_expired_id_token_is_refused(forum, caplog):
    client = browser_of(forum)
    client.application.extensions["relais.clock"] = lambda: time.time() + 3600  # past `exp`
    refused = sign_in_with_provider(client, "rtyler")
    assert refused.status_code == 400 and "n'a pas pu être vérifiée" in text_of(refused)
    assert not_signed_in(client, forum) and "ExpiredTokenError" in caplog.text


def test_a_tampered_state_is_refused(forum, caplog):
    client = browser_of(forum)
    back = log_in_at_provider(start_sign_in(client), "rtyler", stop_at=BASE)
    state = parse_qs(urlsplit(back).query)["state"][0]
    refused = client.get(path_of(back).replace(state, state[:-2] + "xx"))
    assert refused.status_code == 400 and not_signed_in(client, forum)

    elsewhere = browser_of(forum)  # the right answer, brought to a browser that did not ask
    assert elsewhere.get(path_of(back)).status_code == 400 and not_signed_in(elsewhere, forum)
    assert caplog.text.count("refused (state)") == 2


@pytest.fixture
def relay(provider: Provider) -> Iterator[Relay]:
    relay = Relay(provider, free_port())
    relay.start()
    yield relay
    relay.stop()


def _claims(id_token: str) -> dict[str, Any]:
    return json.loads(jws.extract_compact(id_token.encode()).payload)


def _own_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "relais-test-key"})


def test_a_token_for_another_audience_is_refused(make_forum, relay, caplog):
    key = _own_key()
    relay.jwks = KeySet([key]).as_dict(private=False)

    def for_someone_else(token: dict[str, Any]) -> dict[str, Any]:
        claims = {**_claims(token["id_token"]), "aud": "another-client"}
        token["id_token"] = jwt.encode({"alg": "RS256", "kid": "relais-test-key"}, claims, key)
        return token
    relay.change_token = for_someone_else
    forum = make_forum(discovery_url=relay.discovery_url)
    client = browser_of(forum)
    refused = sign_in_with_provider(client, "rtyler")
    assert refused.status_code == 400 and not_signed_in(client, forum)
    assert "Invalid claim: 'aud'" in caplog.text

    relay.change_token = lambda token: {**token, "id_token": jwt.encode(  # the same, for Relais
        {"alg": "RS256", "kid": "relais-test-key"}, _claims(token["id_token"]), key)}
    assert sign_in_with_provider(browser_of(forum), "rtyler").status_code == 302


def test_a_token_with_a_bad_signature_is_refused(make_forum, relay, caplog):
    def claims_changed(token: dict[str, Any]) -> dict[str, Any]:
        header, _payload, signature = token["id_token"].split(".")
        claims = {**_claims(token["id_token"]), "email": USERS["dwho"]}  # pretend to be a moderator
        payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        token["id_token"] = f"{header}.{payload}.{signature}"
        return token
    relay.change_token = claims_changed
    forum = make_forum(discovery_url=relay.discovery_url)
    client = browser_of(forum)
    refused = sign_in_with_provider(client, "rtyler")
    assert refused.status_code == 400 and not_signed_in(client, forum)
    assert "BadSignatureError" in caplog.text


def test_a_jwks_whose_key_id_names_another_key_is_refused(make_forum, relay, caplog):
    relay.jwks = KeySet([_own_key()]).as_dict(private=False)  # same kid, not the provider's key
    forum = make_forum(discovery_url=relay.discovery_url)
    client = browser_of(forum)
    refused = sign_in_with_provider(client, "rtyler")
    assert refused.status_code == 400 and not_signed_in(client, forum)
    assert "BadSignatureError" in caplog.text


def test_a_replayed_answer_does_not_sign_in_twice(make_forum, relay, caplog):
    relay.replay_codes = True  # the token endpoint answers a used code again, with the same nonce
    forum = make_forum(discovery_url=relay.discovery_url)
    client = browser_of(forum)
    back = path_of(log_in_at_provider(start_sign_in(client), "rtyler", stop_at=BASE))
    pending = client.get_cookie("relais_session").value  # holds the state, nonce and verifier
    assert client.get(back).status_code == 302 and signed_in_as(client) == "Rtyler"
    submit(client, "/account", "/sign-out")

    attacker = browser_of(forum)
    attacker.set_cookie("relais_session", pending, domain="localhost")
    refused = attacker.get(back)
    assert refused.status_code == 400 and signed_in_as(attacker) is None
    assert "nonce already used" in caplog.text


def test_a_token_signed_with_an_algorithm_not_allowed_is_refused(make_forum, caplog):
    forum = make_forum(algorithms=["ES256"])  # the provider signs with RS256
    client = browser_of(forum)
    refused = sign_in_with_provider(client, "rtyler")
    assert refused.status_code == 400 and not_signed_in(client, forum)
    assert "Algorithm of 'RS256' is not allowed" in caplog.text


def test_a_discovery_document_naming_another_issuer_is_refused(make_forum, relay):
    relay.discovery_issuer = "http://issuer.example.net"
    forum = make_forum(discovery_url=relay.discovery_url)
    client = browser_of(forum)
    refused = submit(client, "/sign-in", "/sign-in/oidc")
    assert refused.status_code == 502 and not_signed_in(client, forum)
