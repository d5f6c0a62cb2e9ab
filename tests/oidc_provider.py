"""A real OpenID Connect provider for the tests: Debian's LemonLDAP::NG portal (the software
many French public bodies run as their members' space), configured in a temporary folder
and served over HTTP on 127.0.0.1 by Plack.

Its Demo user store has three people (password = login):
- dwho (Doctor Who, dwho@badwolf.org), groups timelords and users;
- rtyler (Rose Tyler, rtyler@badwolf.org), groups earthlings and users;
- msmith (Mickey Smith, msmith@badwolf.org), groups earthlings and users, whose e-mail the
  provider does not vouch for (`email_verified` false).
Relais is declared as one relying party (client id `relais`), with PKCE required and the
claims email, email_verified, name, organisation and groups in the ID token.
"""

from __future__ import annotations

import copy
import html
import json
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

PLACKUP = "/usr/bin/plackup"
PORTAL_PSGI = "/usr/share/lemonldap-ng/portal/htdocs/index.psgi"
CLIENT_ID = "relais"
CLIENT_SECRET = "relais-test-secret"
USERS = {"dwho": "dwho@badwolf.org", "rtyler": "rtyler@badwolf.org", "msmith": "msmith@badwolf.org"}


def provider_installed() -> bool:
    return os.path.exists(PLACKUP) and os.path.exists(PORTAL_PSGI)


@dataclass
class Provider:
    issuer: str
    process: subprocess.Popen[bytes]
    folder: Path

    @property
    def discovery_url(self) -> str:
        return self.issuer + "/.well-known/openid-configuration"

    def log(self) -> str:
        return (self.folder / "portal.log").read_text(errors="replace")


def _pem_keys() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


def _lm_conf(folder: Path, issuer: str, redirect_uris: list[str], logout_uris: list[str]) -> dict[str, object]:
    private, public = _pem_keys()
    sessions = folder / "sessions"
    return {
        "cfgNum": 1, "cfgAuthor": "Relais tests", "cfgDate": str(int(time.time())), "cfgVersion": "2.16.1",
        "authentication": "Demo", "userDB": "Same", "passwordDB": "Demo",
        "demoExportedVars": {"cn": "cn", "mail": "mail", "uid": "uid"},
        "exportedVars": {}, "groups": {},
        # What the members' space knows beyond the Demo store: an organisation, and whether
        # it vouches for the e-mail address (it does not for msmith).
        "macros": {"organisation": '$uid eq "dwho" ? "Gallifrey" : "Powell Estate"',
                   "mailVerified": '$uid eq "msmith" ? 0 : 1',
                   "_whatToTrace": "lc($_user)"},
        "portal": issuer + "/", "domain": "127.0.0.1", "securedCookie": 0, "cookieName": "llngtest",
        "https": 0, "portalSkin": "bootstrap", "portalSkinBackground": "",
        "globalStorage": "Apache::Session::File",
        "globalStorageOptions": {"Directory": str(sessions), "LockDirectory": str(sessions / "lock"),
                                 "generateModule": "Lemonldap::NG::Common::Apache::Session::Generate::SHA256"},
        "persistentStorage": "Apache::Session::File",
        "persistentStorageOptions": {"Directory": str(folder / "psessions"),
                                     "LockDirectory": str(folder / "psessions" / "lock")},
        "localSessionStorage": "Cache::FileCache",
        "localSessionStorageOptions": {"cache_root": str(folder / "cache"), "namespace": "llng-sessions",
                                       "default_expires_in": 600, "directory_umask": "007", "cache_depth": 3},
        "notification": 0, "loginHistoryEnabled": 0, "checkUsers": 0,
        "locationRules": {}, "exportedHeaders": {}, "applicationList": {},
        "issuerDBOpenIDConnectActivation": 1,
        "oidcServiceMetaDataIssuer": issuer,
        "oidcServicePrivateKeySig": private, "oidcServicePublicKeySig": public, "oidcServiceKeyIdSig": "relais-test-key",
        "oidcServiceIgnoreScopeForClaims": 1,
        "oidcRPMetaDataOptions": {CLIENT_ID: {
            "oidcRPMetaDataOptionsClientID": CLIENT_ID,
            "oidcRPMetaDataOptionsClientSecret": CLIENT_SECRET,
            "oidcRPMetaDataOptionsRedirectUris": " ".join(redirect_uris),
            "oidcRPMetaDataOptionsPostLogoutRedirectUris": " ".join(logout_uris),
            "oidcRPMetaDataOptionsIDTokenSignAlg": "RS256",
            "oidcRPMetaDataOptionsIDTokenExpiration": 60,
            "oidcRPMetaDataOptionsRequirePKCE": 1,
            "oidcRPMetaDataOptionsBypassConsent": 1,
            "oidcRPMetaDataOptionsIDTokenForceClaims": 1,
            "oidcRPMetaDataOptionsLogoutBypassConfirm": 1,
            "oidcRPMetaDataOptionsUserIDAttr": "uid",
        }},
        "oidcRPMetaDataExportedVars": {CLIENT_ID: {
            "email": "mail", "email_verified": "mailVerified;bool", "name": "cn",
            "organisation": "organisation", "groups": "groups;string;always",
        }},
        "oidcRPMetaDataOptionsExtraClaims": {CLIENT_ID: {"relais": "organisation groups"}},
    }


def _ini(folder: Path, level: str = "warn") -> str:
    return f"""[all]
logLevel = {level}
[configuration]
type = File
dirName = {folder / "conf"}
localStorage = Cache::FileCache
localStorageOptions = {{ 'namespace' => 'llng-config', 'default_expires_in' => 600, \\
    'cache_root' => '{folder / "cache"}', 'cache_depth' => 3 }}
[portal]
staticPrefix = /static
templateDir = /usr/share/lemonldap-ng/portal/templates
languages = en, fr
"""


def start_provider(folder: Path, port: int, redirect_uris: list[str], logout_uris: list[str],
                   timeout: float = 60) -> Provider:
    """Write the provider's configuration under `folder` and serve it on 127.0.0.1:port;
    returns once its discovery document answers."""
    issuer = f"http://127.0.0.1:{port}"
    for sub in ("conf", "sessions/lock", "psessions/lock", "cache"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    (folder / "conf" / "lmConf-1.json").write_text(
        json.dumps(_lm_conf(folder, issuer, redirect_uris, logout_uris), indent=1))
    (folder / "lemonldap-ng.ini").write_text(_ini(folder))
    env = {**os.environ, "LLNG_DEFAULTCONFFILE": str(folder / "lemonldap-ng.ini")}
    with (folder / "portal.log").open("wb") as log:  # the child keeps its own descriptor
        process = subprocess.Popen(
            [PLACKUP, "-s", "HTTP::Server::PSGI", "--host", "127.0.0.1", "--port", str(port),
             "-E", "deployment", PORTAL_PSGI], env=env, stdout=log, stderr=subprocess.STDOUT)
    provider = Provider(issuer, process, folder)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the LemonLDAP::NG portal stopped:\n{provider.log()}")
        try:
            if requests.get(provider.discovery_url, timeout=5).status_code == 200:
                return provider
        except requests.ConnectionError:
            pass
        time.sleep(0.2)  # polling a port that is not open yet: a wait on a condition, bounded
    stop_provider(provider)
    raise RuntimeError(f"the LemonLDAP::NG portal did not answer in {timeout} s:\n{provider.log()}")


def stop_provider(provider: Provider) -> None:
    provider.process.terminate()
    try:
        provider.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        provider.process.kill()
        provider.process.wait()


IN_CI = os.environ.get("CI") == "true"


def provider_running(folder: Path, port: int, redirect_uris: list[str],
                     logout_uris: list[str]) -> Iterator[Provider]:
    """For a fixture: the provider, started and stopped around the tests. Outside CI, a
    machine without LemonLDAP::NG skips them, saying why; in CI they must run."""
    if not provider_installed():
        message = "LemonLDAP::NG is not installed (plackup, its portal): run `make oidc-deps`"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    provider = start_provider(folder, port, redirect_uris, logout_uris)
    try:
        yield provider
    finally:
        stop_provider(provider)
        shutil.rmtree(folder, ignore_errors=True)


_FORM = re.compile(r'<form id="lform"(.*?)</form>', re.S)
_HIDDEN = re.compile(r'<input[^>]*type="hidden"[^>]*>')
_ATTR = re.compile(r'(name|value)="([^"]*)"')


def log_in_at_provider(authorize_url: str, user: str, password: str | None = None,
                       browser: requests.Session | None = None, stop_at: str = "") -> str:
    """What a person does at the members' space: open the authorization URL Relais sent the
    browser to, fill in the login form, and follow the redirects until they lead back to
    Relais (a URL starting with `stop_at`); returns that URL."""
    browser = browser or requests.Session()
    page = browser.get(authorize_url, allow_redirects=False, timeout=30)
    form = _FORM.search(page.text)
    if form is not None:  # not signed in at the provider yet
        fields = {}
        for tag in _HIDDEN.findall(form.group(1)):
            attrs = dict(_ATTR.findall(tag))
            if "name" in attrs:
                fields[attrs["name"]] = html.unescape(attrs.get("value", ""))
        fields.update(user=user, password=password or user)
        page = browser.post(authorize_url, data=fields, allow_redirects=False, timeout=30)
    for _ in range(10):
        location = page.headers.get("Location", "")
        if page.status_code not in (301, 302, 303, 307) or not location:
            raise AssertionError(f"the provider did not send the browser back ({page.status_code}):\n{page.text[:2000]}")
        location = requests.compat.urljoin(page.url, location)
        if location.startswith(stop_at):
            return location
        page = browser.get(location, allow_redirects=False, timeout=30)
    raise AssertionError("too many redirects at the provider")


@dataclass
class Relay:
    """Stands between Relais and the provider for the negative tests: serves the provider's
    own discovery document with its token endpoint and JWKS pointing here, forwards token
    requests to the provider, and lets a test change one thing in what comes back."""

    provider: Provider
    port: int
    # Applied to the provider's token response (a dict) before Relais sees it.
    change_token: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    # Served instead of the provider's JWKS when set.
    jwks: dict[str, Any] | None = None
    # Answer a code presented again with the first answer (as a broken provider might).
    replay_codes: bool = False
    # The issuer the discovery document names, when set (a document not from its issuer).
    discovery_issuer: str | None = None
    _answers: dict[str, bytes] = field(default_factory=dict)
    server: ThreadingHTTPServer | None = None

    @property
    def discovery_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/.well-known/openid-configuration"

    def start(self) -> None:
        relay = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path == "/.well-known/openid-configuration":
                    document = requests.get(relay.provider.discovery_url, timeout=10).json()
                    document["token_endpoint"] = f"http://127.0.0.1:{relay.port}/token"
                    document["jwks_uri"] = f"http://127.0.0.1:{relay.port}/jwks"
                    document["issuer"] = relay.discovery_issuer or document["issuer"]
                    self._send(200, json.dumps(document).encode())
                elif self.path == "/jwks":
                    jwks = relay.jwks or requests.get(relay.provider.issuer + "/oauth2/jwks", timeout=10).json()
                    self._send(200, json.dumps(jwks).encode())
                else:
                    self._send(404, b"{}")

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                code = dict(parse_qsl(body.decode())).get("code", "")
                if relay.replay_codes and code in relay._answers:
                    self._send(200, relay._answers[code])
                    return
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() in ("authorization", "content-type", "accept")}
                answer = requests.post(relay.provider.issuer + "/oauth2/token", data=body, headers=headers, timeout=10)
                if answer.status_code != 200:
                    self._send(answer.status_code, answer.content)
                    return
                token = answer.json()
                if relay.change_token is not None:
                    token = relay.change_token(copy.deepcopy(token))
                relay._answers[code] = json.dumps(token).encode()
                self._send(200, relay._answers[code])

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
