"""Signing in with the network's members' space, by OpenID Connect ([oidc] in config.toml).

Authlib runs the authorization-code flow with PKCE (S256), `state` and `nonce`, kept in the
signed session cookie until the provider sends the browser back. The ID token is checked
here with joserfc and Authlib's claims rules: its signature against the provider's JWKS
with the algorithms the config allows (never "none", never HMAC), then `iss`, `aud`, `exp`,
`iat` and the nonce. A person is matched to a member by an e-mail address the provider
vouches for (`email_verified` true) and nothing else; a nonce opens one session only.
Signing out also ends the provider's session when it offers RP-initiated logout.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from authlib.integrations.flask_client import OAuth
from authlib.oidc.core import CodeIDToken
from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from archive_web.auth import start_session
from archive_web.db import forum_config, write_session
from archive_web.i18n import safe_next
from storage.accounts import ProviderIdentity, member_signing_in
from storage.config import Config, oidc_client_secret
from storage.languages import supported_language
from storage.models import DeliveryMode
from storage.people import normalise_address
from storage.web_sessions import NonceAlreadyUsed

bp = Blueprint("oidc", __name__)
log = logging.getLogger(__name__)

CLIENT = "members"
NEXT_KEY = "oidc_next"
# Why a sign-in was refused, and the HTTP status of the page that says so.
REFUSALS = {"state": 400, "token": 400, "replay": 400, "provider": 502,
            "unverified": 403, "group": 403, "not-member": 403}


class Refused(Exception):
    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail


def _client() -> Any:
    """The application's Authlib client, registered on first use from the config."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    client = app.extensions.get("relais.oidc")
    if client is None:
        oidc = forum_config().oidc
        oauth = OAuth(app)
        client = oauth.register(
            CLIENT, client_id=oidc.client_id, client_secret=oidc_client_secret(forum_config()),
            server_metadata_url=oidc.discovery_url or oidc.issuer.rstrip("/") + "/.well-known/openid-configuration",
            client_kwargs={"scope": " ".join(oidc.scopes), "code_challenge_method": "S256",
                           "default_timeout": oidc.timeout_seconds})
        app.extensions["relais.oidc"] = client
    return client


def _now() -> float:
    """The time ID tokens are checked against (a test may move the clock)."""
    clock: Callable[[], float] = current_app.extensions.get("relais.clock", time.time)
    return clock()


def redirect_uri(config: Config) -> str:
    return config.forum.base_url.rstrip("/") + "/sign-in/oidc/callback"


def _enabled() -> Config:
    config = forum_config()
    if not config.oidc.enabled:
        abort(404)
    return config


@bp.post("/sign-in/oidc")
def start() -> Response:
    """The button of the sign-in page (a CSRF-checked form): off to the members' space."""
    config = _enabled()
    try:
        issuer = _client().load_server_metadata().get("issuer")
        response = _client().authorize_redirect(redirect_uri(config))
    except Exception as error:  # the provider's discovery document is unreachable or broken
        return _refused(Refused("provider", str(error)))  # type: ignore[return-value]
    if issuer != config.oidc.issuer:
        # Discovery must come from the issuer it names (OpenID Connect Discovery, 4.3).
        return _refused(Refused("provider", f"discovery names issuer {issuer!r}"))  # type: ignore[return-value]
    session[NEXT_KEY] = safe_next(request.form.get("next"))
    return response  # type: ignore[no-any-return]


@bp.get("/sign-in/oidc/callback")
def callback() -> Response | tuple[str, int]:
    config = _enabled()
    next_path = safe_next(session.pop(NEXT_KEY, None))
    try:
        person_id, nonce, id_token = _signed_in_person(config)
        start_session(person_id, "oidc", nonce=nonce, id_token=id_token)
    except NonceAlreadyUsed:
        return _refused(Refused("replay", "nonce already used"))
    except Refused as refusal:
        return _refused(refusal)
    flash(_("You are signed in."))
    return redirect(next_path)


def _signed_in_person(config: Config) -> tuple[int, str, str]:
    client = _client()
    state = request.args.get("state", "")
    pending = client.framework.get_state_data(session, state) if state else None
    if state:
        client.framework.clear_state_data(session, state)
    if not pending:
        # No sign-in was started with this state in this browser: a forged or replayed answer.
        raise Refused("state", "unknown state")
    if request.args.get("error"):
        raise Refused("provider", f"{request.args.get('error')}: {request.args.get('error_description', '')}")
    code = request.args.get("code", "")
    if not code:
        raise Refused("provider", "no code")
    try:
        token = client.fetch_access_token(redirect_uri=pending["redirect_uri"], code=code,
                                          code_verifier=pending["code_verifier"])
    except Exception as error:  # refused code, provider down, answer not JSON
        raise Refused("provider", f"token endpoint: {error}") from None
    id_token = token.get("id_token")
    if not isinstance(id_token, str):
        raise Refused("token", "no ID token")
    claims = verified_claims(client, config, id_token, pending["nonce"], token.get("access_token"))
    identity = provider_identity(config, claims)
    with write_session() as s:
        found = member_signing_in(s, identity, member_groups=config.oidc.member_groups,
                                  moderator_group=config.oidc.moderator_group,
                                  create=config.oidc.provision == "create",
                                  default_mode=DeliveryMode(config.delivery.default_mode))
        if isinstance(found, str):
            raise Refused(found, identity.email)
        person_id = found.id
    return person_id, pending["nonce"], id_token


def verified_claims(client: Any, config: Config, id_token: str, nonce: str, access_token: str | None) -> dict[str, Any]:
    """The ID token's claims once its signature, issuer, audience, times and nonce hold."""
    oidc = config.oidc
    try:
        try:
            decoded = jwt.decode(id_token, _provider_keys(client), algorithms=oidc.algorithms)
        except InvalidKeyIdError:  # the provider rotated its keys since we fetched them
            decoded = jwt.decode(id_token, _provider_keys(client, again=True), algorithms=oidc.algorithms)
        claims = CodeIDToken(decoded.claims, decoded.header,
                             {"iss": {"essential": True, "value": oidc.issuer},
                              "aud": {"essential": True, "value": oidc.client_id},
                              "exp": {"essential": True}, "iat": {"essential": True}},
                             {"nonce": nonce, "client_id": oidc.client_id, "access_token": access_token})
        claims.validate(now=int(_now()), leeway=oidc.leeway_seconds)
    except (JoseError, ValueError) as error:
        raise Refused("token", f"{type(error).__name__}: {error}") from None
    return dict(claims)


def _provider_keys(client: Any, again: bool = False) -> KeySet:
    try:
        return KeySet.import_key_set(client.fetch_jwk_set(force=again))
    except JoseError:
        raise
    except Exception as error:  # unreachable, or not a JWKS
        raise Refused("provider", f"JWKS: {error}") from None


def provider_identity(config: Config, claims: dict[str, Any]) -> ProviderIdentity:
    """Who the claims say the person is; refused unless the e-mail address is verified."""
    oidc = config.oidc
    email = claims.get(oidc.email_claim)
    if not isinstance(email, str) or "@" not in email or claims.get("email_verified") is not True:
        raise Refused("unverified", str(email))
    if len(email) > 320 or any(c.isspace() or c == "\x00" for c in email.strip()):
        raise Refused("unverified", "not an address a member can have")  # never cut down to another one
    groups = claims.get(oidc.groups_claim) if oidc.groups_claim else None
    if isinstance(groups, str):
        groups = groups.split()
    return ProviderIdentity(
        email=normalise_address(email),
        name=_text_claim(claims, oidc.name_claim) or email.split("@")[0],
        organisation=_text_claim(claims, oidc.organisation_claim),
        language=supported_language(claims.get("locale")),
        groups=frozenset(g for g in (groups or []) if isinstance(g, str)))


def _text_claim(claims: dict[str, Any], name: str) -> str:
    value = claims.get(name) if name else None
    return " ".join(value.split()).replace("\x00", "") if isinstance(value, str) else ""


def _refused(refusal: Refused) -> tuple[str, int]:
    log.warning("OpenID Connect sign-in refused (%s): %s", refusal.reason, refusal.detail)
    return render_template("sign_in_refused.html", reason=refusal.reason), REFUSALS[refusal.reason]


@bp.after_app_request
def allow_forms_to_the_provider(response: Response) -> Response:
    """The sign-in button and the sign-out form are answered by a redirect to the provider,
    which the page's `form-action 'self'` would block: name the provider's origin there too."""
    config = forum_config()
    policy = response.headers.get("Content-Security-Policy", "")
    if config.oidc.enabled and "form-action 'self'" in policy:
        response.headers["Content-Security-Policy"] = policy.replace(
            "form-action 'self'", "form-action 'self' " + " ".join(_provider_origins(config)), 1)
    return response


def _provider_origins(config: Config) -> list[str]:
    """The issuer's origin, and those of its authorization and logout endpoints once known."""
    urls = [config.oidc.issuer]
    client = current_app.extensions.get("relais.oidc")
    if client is not None:
        urls += [client.server_metadata.get(k, "") for k in ("authorization_endpoint", "end_session_endpoint")]
    origins = []
    for url in urls:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if parts.scheme in ("http", "https") and parts.netloc and origin not in origins:
            origins.append(origin)
    return origins


def provider_logout_url(config: Config, id_token: str | None) -> str | None:
    """Where to send the browser to end the provider's session too (RP-initiated logout),
    or None when the provider offers none or cannot be reached (the local session is ended
    anyway)."""
    if not config.oidc.enabled:
        return None
    try:
        return _client().create_logout_url(  # type: ignore[no-any-return]
            post_logout_redirect_uri=config.forum.base_url.rstrip("/") + "/",
            id_token_hint=id_token, client_id=config.oidc.client_id)["url"]
    except Exception as error:
        log.warning("no RP-initiated logout at the OpenID Connect provider: %s", error)
        return None
