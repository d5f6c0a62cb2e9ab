"""Authentication of a moderator's mail (mailgateway.authentication): a DKIM signature that
dkimpy verifies with the key the test publishes, aligned with From; or the topmost
Authentication-Results header of the trusted front MTA. Everything else proves nothing."""

from __future__ import annotations

import pytest

from mailfactory import make_mail
from mailgateway.authentication import aligned, authenticate
from moderation_support import MODERATOR, TRUSTED, dkim_key  # noqa: F401 (fixture)


def moderator_mail(**headers: str) -> bytes:
    return make_mail("Re: Obstacle", body="#close solution\n", sender=f"Modo <{MODERATOR}>",
                     message_id="c1@team.example.org", **headers)


def with_headers(raw: bytes, *lines: str) -> bytes:
    """Headers added on top, as each MTA on the way adds its own."""
    return "".join(f"{line}\r\n" for line in lines).encode() + raw


def test_a_dkim_signature_of_the_from_domain_authenticates(dkim_key):
    result = authenticate(dkim_key.sign(moderator_mail()), MODERATOR, "", dkim_key.dnsfunc)
    assert result.authenticated and result.by == "dkim d=team.example.org"


def test_a_signature_of_a_parent_domain_is_aligned_but_not_of_another_domain():
    assert aligned("example.org", "team.example.org")
    assert not aligned("other.org", "team.example.org")
    assert not aligned("org", "example.org")  # never a bare suffix


def test_a_valid_signature_of_another_domain_does_not_authenticate(dkim_key):
    raw = make_mail(body="#close solution\n", sender="Mallory <mallory@evil.example.net>")
    signed = dkim_key.sign(raw)  # d=team.example.org, but From is evil.example.net
    assert not authenticate(signed, "mallory@evil.example.net", "", dkim_key.dnsfunc).authenticated


def test_a_body_changed_after_signing_does_not_authenticate(dkim_key):
    signed = dkim_key.sign(moderator_mail())
    tampered = signed.replace(b"#close solution", b"#close escalated")
    assert not authenticate(tampered, MODERATOR, "", dkim_key.dnsfunc).authenticated


def test_a_signature_with_a_body_length_limit_does_not_authenticate(dkim_key):
    signed = dkim_key.sign(moderator_mail(), length=True)
    assert b" l=" in signed or b";l=" in signed or b"; l=" in signed
    assert not authenticate(signed, MODERATOR, "", dkim_key.dnsfunc).authenticated


def test_no_published_key_no_authentication(dkim_key):
    signed = dkim_key.sign(moderator_mail())
    assert not authenticate(signed, MODERATOR, "", lambda name, timeout=5: None).authenticated


@pytest.mark.parametrize("results", [
    f"{TRUSTED}; dkim=pass header.d=team.example.org header.s=mail2026",
    f"{TRUSTED} 1; spf=pass smtp.mailfrom=team.example.org; dmarc=pass (p=reject) header.from=team.example.org",
    f"{TRUSTED}; dkim=pass header.i=@team.example.org",
])
def test_the_trusted_mtas_results_authenticate(results):
    raw = with_headers(moderator_mail(), f"Authentication-Results: {results}")
    result = authenticate(raw, MODERATOR, TRUSTED)
    assert result.authenticated and result.by.startswith("authentication-results")


@pytest.mark.parametrize("headers", [
    # Another authserv-id: anybody can write such a header.
    [f"Authentication-Results: mx.evil.example.net; dkim=pass header.d=team.example.org"],
    # A forged header of the trusted id below the trusted MTA's own (which saw no signature).
    [f"Authentication-Results: {TRUSTED}; dkim=none; dmarc=none header.from=team.example.org",
     "Received: from evil.example.net by mx.forum.example.org",
     f"Authentication-Results: {TRUSTED}; dkim=pass header.d=team.example.org"],
    # Passing, but for another domain than From's.
    [f"Authentication-Results: {TRUSTED}; dkim=pass header.d=evil.example.net; dmarc=pass header.from=evil.example.net"],
    [f"Authentication-Results: {TRUSTED}; dkim=fail header.d=team.example.org"],
])
def test_other_or_lower_or_unaligned_results_are_ignored(headers):
    raw = with_headers(moderator_mail(), *headers)
    assert not authenticate(raw, MODERATOR, TRUSTED).authenticated


def test_no_trusted_authserv_id_configured_trusts_no_header():
    raw = with_headers(moderator_mail(), f"Authentication-Results: {TRUSTED}; dkim=pass header.d=team.example.org")
    assert not authenticate(raw, MODERATOR, "").authenticated
