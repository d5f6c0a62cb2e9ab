"""Whether a mail really comes from the domain of its From address: what moderator commands
(and member commands) need before they take effect, since a From header alone proves nothing.

Two proofs count, each aligned with the From domain:
- a DKIM signature that dkimpy verifies here (it signs From, has no body-length limit, and its
  d= is the From domain or a parent of it);
- the Authentication-Results header added by the trusted front MTA: only the topmost header
  carrying `[moderation] trusted_authserv_id` counts (RFC 8601: that MTA adds its own on top
  and removes forged copies of it), showing dkim=pass (header.d aligned) or dmarc=pass
  (header.from equal to the From domain). Headers of other authserv-ids are ignored.

What a proof covers matters as much as the proof: headers added on top of a signed mail keep
its signature valid. So the proof carries the header instances it covers (DKIM signs the
bottom-most instances of the names in its h= tag), and the commands take their target only
from those (mailgateway.command_targets). Authentication-Results vouch that a signature
verified, not which headers it covered: for `dkim=pass`, the covered headers are read from
the DKIM-Signature header of that domain (its h= tag is covered by its own signature), when
exactly one such header is there or `header.b` names it; for `dmarc=pass` (perhaps by SPF
alone), no header is taken as covered. The signature's b= value identifies the signed mail,
so that it acts once however often it is replayed.

DNS lookups happen here, so this never runs inside a database transaction (see the commands
job); `dnsfunc` (dkimpy's interface: name, timeout → TXT record) lets tests provide the keys.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

import dkim
import dkim.util

from mailgateway.parse import parse_message

log = logging.getLogger(__name__)

DnsFunc = Callable[..., bytes | str | None]
_COMMENT_RE = re.compile(r"\([^()]*\)")


Header = tuple[str, str]  # (lower-case name, value)


@dataclass(frozen=True)
class Authenticity:
    authenticated: bool
    by: str  # "dkim d=…", "authentication-results …", or why not
    covered: tuple[Header, ...] = ()  # the header instances the proof covers
    signature: str = ""  # b= of the signature that authenticated the mail: the replay key


@dataclass(frozen=True)
class _Signature:
    domain: str
    covered: tuple[Header, ...]
    b: str


def _covered(headers: list[list[bytes]], tags: dict[bytes, bytes]) -> _Signature:
    """What one DKIM-Signature covers: for each name of its h= tag, the bottom-most instance
    not yet taken (RFC 6376 5.4.2), as dkimpy hashes them."""
    names = [n.strip().lower() for n in tags.get(b"h", b"").split(b":") if n.strip()]
    selected = dkim.select_headers([(n, v) for n, v in headers], names)
    covered = tuple((n.decode("ascii", "replace").lower(), v.decode("utf-8", "replace").strip())
                    for n, v in selected)
    return _Signature(tags.get(b"d", b"").decode("ascii", "replace").lower(), covered,
                      re.sub(r"\s+", "", tags.get(b"b", b"").decode("ascii", "replace")))


def _signature_tags(value: bytes) -> dict[bytes, bytes] | None:
    try:
        return dkim.util.parse_tag_value(value)
    except Exception:  # a malformed DKIM-Signature: it names nothing
        return None


def from_domain(address: str) -> str:
    return address.rpartition("@")[2].strip().lower().rstrip(".")


def aligned(signing_domain: str, author_domain: str) -> bool:
    """Relaxed alignment (DMARC): the same domain, or one a subdomain of the other's parent.

    Without the public suffix list we accept only the same domain or a subdomain of the
    signing domain (mail.example.org signed by example.org), never a bare suffix.
    """
    signing_domain = signing_domain.lower().rstrip(".")
    if not signing_domain or "." not in signing_domain:
        return False
    return author_domain == signing_domain or author_domain.endswith("." + signing_domain)


def dkim_signature(raw: bytes, author_domain: str, dnsfunc: DnsFunc | None = None) -> _Signature | None:
    """The first DKIM signature that verifies and is aligned with the From domain."""
    try:
        verifier = dkim.DKIM(raw, logger=log)
    except Exception as error:  # a header section dkimpy cannot read: nothing verifies
        log.info("DKIM could not read the message: %s", error)
        return None
    count = sum(1 for name, _ in verifier.headers if name.lower() == b"dkim-signature")
    for index in range(count):
        try:
            ok = verifier.verify(idx=index, dnsfunc=dnsfunc) if dnsfunc else verifier.verify(idx=index)
        except dkim.DKIMException as error:
            log.info("DKIM signature %d not verified: %s", index, error)
            continue
        except Exception as error:  # a DNS failure is "not authenticated", not a crash
            log.info("DKIM signature %d could not be checked: %s", index, error)
            continue
        fields = verifier.signature_fields
        domain = fields.get(b"d", b"").decode("ascii", "replace").lower()
        # A body-length limit (l=) lets anyone append text below the signed part.
        if ok and b"l" not in fields and b"from" in verifier.include_headers and aligned(domain, author_domain):
            return _covered(verifier.headers, fields)
    return None


def _header_values(raw: bytes, name: str) -> list[str]:
    """The values of a header, topmost first, unfolded."""
    parsed = parse_message(raw, "invalid")
    return [" ".join(str(v).split()) for k, v in parsed.headers.raw_items() if k.lower() == name.lower()]


def _results(value: str) -> tuple[str, list[tuple[str, str, dict[str, str]]]]:
    """(authserv-id, [(method, result, {ptype.property: value})]) of an Authentication-Results value."""
    while _COMMENT_RE.search(value):
        value = _COMMENT_RE.sub(" ", value)
    parts = [p.strip() for p in value.split(";")]
    authserv_id = parts[0].split()[0].lower() if parts and parts[0].split() else ""
    results = []
    for part in parts[1:]:
        tokens = part.split()
        if not tokens or "=" not in tokens[0]:
            continue
        method, _, result = tokens[0].partition("=")
        method = method.split("/")[0].lower()
        props = {}
        for token in tokens[1:]:
            key, eq, val = token.partition("=")
            if eq:
                props[key.lower()] = val.strip('"').lower()
        results.append((method, result.lower(), props))
    return authserv_id, results


def trusted_results(raw: bytes, author_domain: str, trusted_authserv_id: str) -> tuple[str, str | None, str]:
    """What the trusted front MTA vouches for, aligned with the From domain: ("dkim=pass
    header.d=…" or "dmarc=pass header.from=…", the d= of the passing signature or None, its
    header.b prefix or ""); ("", None, "") if nothing."""
    trusted = trusted_authserv_id.strip().lower()
    if not trusted:
        return "", None, ""
    for value in _header_values(raw, "Authentication-Results"):
        authserv_id, results = _results(value)
        if authserv_id != trusted:
            continue
        # Only the topmost header of the trusted MTA counts: stop here whatever it says.
        for method, result, props in results:
            if result != "pass":
                continue
            if method == "dmarc" and props.get("header.from", "") == author_domain:
                return f"dmarc=pass header.from={author_domain}", None, ""
            if method == "dkim":
                domain = props.get("header.d") or from_domain(props.get("header.i", ""))
                if aligned(domain, author_domain):
                    return f"dkim=pass header.d={domain}", domain, props.get("header.b", "")
        return "", None, ""
    return "", None, ""


def _vouched_signature(raw: bytes, domain: str, b_prefix: str) -> _Signature | None:
    """The DKIM-Signature the trusted MTA found valid for `domain`: the only one of that d=,
    or the one whose b= starts with header.b; None when it cannot be told apart."""
    try:
        headers = dkim.DKIM(raw, logger=log).headers
    except Exception:  # a header section dkimpy cannot read names no signature
        return None
    found = []
    for name, value in headers:
        if name.lower() == b"dkim-signature" and (tags := _signature_tags(value)) is not None:
            signature = _covered(headers, tags)
            if signature.domain == domain:
                found.append(signature)
    if b_prefix:
        # header.b is case-sensitive base64, but _results lower-cases property values.
        found = [s for s in found if s.b.lower().startswith(b_prefix)]
    return found[0] if len(found) == 1 else None


def authenticate(raw: bytes, from_address: str, trusted_authserv_id: str,
                 dnsfunc: DnsFunc | None = None) -> Authenticity:
    """Whether the mail is authenticated for the domain of `from_address` (its From)."""
    author_domain = from_domain(from_address)
    if not author_domain:
        return Authenticity(False, "no From address")
    # Our own verification first: it knows exactly which headers the signature covers.
    signature = dkim_signature(raw, author_domain, dnsfunc)
    if signature:
        return Authenticity(True, f"dkim d={signature.domain}", signature.covered, signature.b)
    vouched, domain, b_prefix = trusted_results(raw, author_domain, trusted_authserv_id)
    if vouched:
        signed = _vouched_signature(raw, domain, b_prefix) if domain else None
        return Authenticity(True, f"authentication-results {vouched}", signed.covered if signed else (),
                            signed.b if signed else "")
    return Authenticity(False, "no DKIM signature or trusted Authentication-Results aligned with From")
