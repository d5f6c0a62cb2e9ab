"""Bounces to the VERP address count against the subscription the address names; past the
threshold the subscription is disabled and the member told, with a link that re-enables it.
Delays and DMARC-policy rejections do not count. Forged bounces (to the plain address, or to
a VERP address with a wrong signature) never count: they are kept for moderators to see."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest

from archive_web import create_app
from delivery_support import *  # noqa: F401,F403 (fixtures)
from delivery_support import text_parts
from mailfactory import make_mail
from mailgateway.bounces import process_bounces
from mailgateway.delivery import deliver_due
from storage.models import Role, utcnow
from webtools import sign_in, text_of


def dsn(recipient: str, status: str = "5.1.1", action: str = "failed",
        diagnostic: str = "smtp; 550 5.1.1 <bob@example.org>: Recipient address rejected: User unknown") -> bytes:
    """An RFC 3464 delivery status notification, as Postfix writes one."""
    return f"""From: MAILER-DAEMON@mx.example.net (Mail Delivery System)
To: forum-bounces@example.org
Subject: Undelivered Mail Returned to Sender
Message-ID: <bounce.{recipient}.{status}.{action}@mx.example.net>
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain; charset=us-ascii

I'm sorry to have to inform you that your message could not be delivered.

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822; {recipient}
Original-Recipient: rfc822;{recipient}
Action: {action}
Status: {status}
Diagnostic-Code: {diagnostic}

--B
Content-Type: text/rfc822-headers

From: Alice Martin via Forum Test <forum@example.org>
Subject: [Forum] Obstacle

--B--
""".replace("\n", "\r\n").encode()


@pytest.fixture
def bouncing(forum):  # type: ignore[no-untyped-def]
    forum.member("alice@example.org", "Alice Martin")
    forum.bob = forum.member("bob@example.org", "Bob Weber")
    forum.chloe = forum.member("chloe@example.org", "Chloé Roth")
    forum.post(make_mail())
    forum.deliver()
    forum.verp = {rcpt: mail_from for mail_from, rcpts, _ in forum.sink.received for rcpt in rcpts}
    return forum


def bounce(forum, raw: bytes, to: str, days: int = 0) -> None:  # type: ignore[no-untyped-def]
    assert forum.post(raw, mail_from="", to=to)[0] == 250
    process_bounces(forum.engine, forum.config, now=utcnow() + timedelta(days=days))


def test_a_bounce_to_the_verp_address_counts_against_that_subscription(bouncing):
    bounce(bouncing, dsn("bob@example.org"), to=bouncing.verp["bob@example.org"])
    assert bouncing.subscription(bouncing.bob).bounce_score == 1
    assert bouncing.subscription(bouncing.chloe).bounce_score == 0


@pytest.mark.parametrize("delivery_settings", [{"bounce_threshold": 2}], indirect=True)
def test_past_the_threshold_the_subscription_is_disabled_the_member_told_and_can_reenable(bouncing):
    verp = bouncing.verp["bob@example.org"]
    bounce(bouncing, dsn("bob@example.org"), to=verp)
    bounce(bouncing, dsn("bob@example.org", status="5.2.1"), to=verp)  # the same day: one count
    assert bouncing.subscription(bouncing.bob).disabled_at is None
    bounce(bouncing, dsn("bob@example.org", status="5.2.2"), to=verp, days=1)
    assert bouncing.subscription(bouncing.bob).disabled_at is not None
    deliver_due(bouncing.engine, bouncing.config)
    [notice] = [m for m in bouncing.copies_to("bob@example.org") if "suspendu" in str(m["Subject"])]
    text = text_parts(notice)[0]
    url = re.search(r"http://forum\.example\.org/subscription/reenable/\S+", text).group(0)
    # While disabled, no post reaches the address.
    bouncing.clear()
    bouncing.post(make_mail("Autre sujet", message_id="other@x.example.org"))
    bouncing.deliver()
    assert bouncing.recipients() == ["chloe@example.org"]
    # The link shows a page with a button; the button (a CSRF-checked form) re-enables.
    client = create_app(bouncing.config, bouncing.engine).test_client()
    page = client.get(urlsplit(url).path).get_data(as_text=True)
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page))
    assert client.post(urlsplit(url).path, data={}).status_code == 400  # no CSRF token
    answer = client.post(urlsplit(url).path, data=fields)
    assert answer.status_code == 200 and "Abonnement réactivé" in answer.get_data(as_text=True)
    assert bouncing.subscription(bouncing.bob).disabled_at is None
    assert bouncing.subscription(bouncing.bob).bounce_score == 0


def test_dmarc_policy_rejections_and_delays_do_not_count(bouncing):
    verp = bouncing.verp["bob@example.org"]
    bounce(bouncing, dsn("bob@example.org", status="5.7.1", diagnostic=(
        "smtp; 550 5.7.1 Unauthenticated email from example.org is not accepted due to domain's DMARC "
        "policy. Please contact the administrator of example.org domain.")), to=verp)
    bounce(bouncing, dsn("bob@example.org", status="5.7.26",
                         diagnostic="smtp; 550 5.7.26 This mail has been blocked because the sender is "
                                    "unauthenticated."), to=verp)
    bounce(bouncing, dsn("bob@example.org", status="4.4.7", action="delayed",
                         diagnostic="smtp; 451 4.4.7 still trying"), to=verp)
    assert bouncing.subscription(bouncing.bob).bounce_score == 0


@pytest.mark.parametrize("delivery_settings", [{"bounce_threshold": 2}], indirect=True)
def test_forged_bounces_never_count_and_are_kept_for_moderators(bouncing):
    # One forged bounce a day, to the plain address and to a VERP address with a wrong
    # signature, naming members: past the threshold, yet nobody is disabled.
    forged = f"forum-bounces+s{bouncing.chloe}.aaaaaaaaaa@example.org"
    for day in range(3):
        bounce(bouncing, dsn("chloe@example.org"), to="forum-bounces@example.org", days=day)
        bounce(bouncing, dsn("bob@example.org"), to=forged, days=day)
    for subscription in (bouncing.bob, bouncing.chloe):
        assert bouncing.subscription(subscription).bounce_score == 0
        assert bouncing.subscription(subscription).disabled_at is None
    # A moderator sees them, with why they did not count; backscatter naming no member is not kept.
    bounce(bouncing, dsn("nobody@elsewhere.example"), to="forum-bounces@example.org")
    bouncing.member("modo@example.org", "Modo", role=Role.MODERATOR)
    client = create_app(bouncing.config, bouncing.engine).test_client()
    sign_in(client, bouncing.gateway.instance, bouncing.sink, "modo@example.org")
    page = text_of(client.get("/moderation/bounces"))
    assert page.count("chloe@example.org") == 3 and page.count("bob@example.org") == 3
    assert "nobody@elsewhere.example" not in page
    assert page.count("adresse de retour dont la signature est fausse") == 3
    assert page.count("envoyé à l'adresse des retours sans marque") == 3
