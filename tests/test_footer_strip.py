"""A member replies with their copy quoted, footer and personal unsubscribe link included:
the footer is taken out before the reply is stored and redistributed, so no other member,
page or copy ever carries that link (issue 10, finding 5). Mail stored before this keeps
its link in its bytes, and the pages mask it. The unsubscribe page names its address, masked."""

from __future__ import annotations

import email
import email.policy
import re
from email.message import EmailMessage
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from archive_web import create_app
from delivery_support import *  # noqa: F401,F403 (fixtures)
from delivery_support import text_parts
from mailfactory import make_mail
from mailgateway.footer_strip import strip_personal_links
from mailgateway.listheaders import unsubscribe_url
from mailgateway.parse import parse_message
from storage.db import session_scope
from storage.messages import NewMessage, effective_date, store_message
from storage.models import Message, utcnow
from storage.personal_links import mask_personal_links
from storage.threads import ThreadFacts, place

BASE = "http://forum.example.org"


@pytest.fixture
def make_config(make_config):  # type: ignore[no-untyped-def]
    """A public archive: visitors read bodies, so a leaked link would be anyone's."""
    def make(**sections):  # type: ignore[no-untyped-def]
        return make_config(archive={"visibility": "public"}, **sections)
    return make


@pytest.fixture
def started(forum):  # type: ignore[no-untyped-def]
    forum.member("alice@example.org", "Alice Martin")
    forum.bob = forum.member("bob@example.org", "Bob Weber")
    forum.member("chloe@example.org", "Chloé Roth")
    assert forum.post(first_post())[0] == 250
    forum.deliver()
    return forum


def first_post() -> bytes:
    """Alice's post, in plain text and HTML: her copy's footer comes in both forms."""
    post = parse(make_mail())
    post.add_alternative("<html><body><p>Bonjour,</p><p>Nous rencontrons un obstacle.</p></body></html>",
                         subtype="html")
    return post.as_bytes()


def personal_link(copy: EmailMessage) -> str:
    return str(copy["List-Unsubscribe"]).split(",")[0].strip().strip("<>")


def token_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


def quoted_reply(copy: EmailMessage) -> bytes:
    """Bob's answer as his mail client writes it: his text above the whole copy, quoted,
    in plain text and HTML, quoted-printable (so the link is cut by soft line breaks)."""
    plain, html = text_parts(copy)
    reply = EmailMessage()
    reply["From"] = "Bob Weber <bob@example.org>"
    reply["To"] = "forum@example.org"
    reply["Subject"] = "Re: " + str(copy["Subject"])
    reply["Message-ID"] = "<reply-1@lrr.example.de>"
    reply["In-Reply-To"] = str(copy["Message-ID"])
    quoted = "\n".join("> " + line for line in plain.split("\n"))
    reply.set_content(f"Je confirme, même situation chez nous.\n\nLe 23/11/2026, Alice a écrit :\n{quoted}\n",
                      cte="quoted-printable")
    reply.add_alternative(f"<html><body><p>Je confirme, même situation chez nous.</p>"
                          f"<blockquote>{html}</blockquote></body></html>", subtype="html",
                          cte="quoted-printable")
    # CRLF, as a mail client sends it: over SMTP a bare LF line that starts with "." (a soft
    # break inside the link) keeps smtplib's dot-stuffing, as no real client would send.
    return reply.as_bytes(policy=email.policy.SMTP)


def test_a_quoted_footer_is_stripped_before_storing_and_no_copy_carries_the_repliers_link(started):
    [bob_copy] = started.copies_to("bob@example.org")
    bob_token = token_of(personal_link(bob_copy))
    raw = quoted_reply(bob_copy)
    assert re.sub(rb"=\r?\n", b"", raw).count(bob_token.encode()) >= 2  # plain and HTML, before
    started.clear()

    code, _ = started.post(raw, mail_from="bob@example.org")
    assert code == 250
    with session_scope(started.engine) as db:
        stored = db.scalar(select(Message).where(Message.message_id == "reply-1@lrr.example.de")).raw
    assert bob_token.encode() not in re.sub(rb"=\r?\n", b"", stored)
    assert "unsubscribe" not in " ".join(text_parts(parse(stored))).lower()
    assert "Je confirme, même situation chez nous." in text_parts(parse(stored))[0]
    assert "> Bonjour," in text_parts(parse(stored))[0]  # the quoted post itself stays

    started.deliver()
    for address in ("alice@example.org", "chloe@example.org"):
        [copy] = started.copies_to(address)
        own = personal_link(copy)
        texts = text_parts(copy)
        assert bob_token not in copy.as_string()
        # One footer: the recipient's own link, once in each text part.
        assert all(len(re.findall(r"/unsubscribe/[\w.-]+", text)) == 1 and own in text for text in texts)


def parse(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def test_a_message_without_the_forums_links_keeps_its_bytes():
    raw = make_mail(body="Voir https://other.example.net/unsubscribe/MTIz.aXZ1Tw.abcdefghijklmnop\n")
    assert strip_personal_links(raw, BASE) == raw


def test_a_link_scanner_wrapped_link_in_the_authors_own_words_is_masked():
    token = "Mg.aXZ1Tw.abcdefghijklmnopqrstuvwxyz0"
    wrapped = f"https://eur01.safelinks.protection.outlook.com/?url=http%3A%2F%2Fforum.example.org%2Funsubscribe%2F{token}&data=x"
    raw = make_mail(body=f"Pour se désabonner : {wrapped}\nMerci.\n")
    text = text_parts(parse(strip_personal_links(raw, BASE)))[0]
    assert token not in text and "Pour se désabonner : https://eur01" in text and "Merci." in text


def test_pages_mask_the_link_of_mail_stored_before_the_gateway_stripped_it(started):
    [bob_copy] = started.copies_to("bob@example.org")
    bob_token = token_of(personal_link(bob_copy))
    raw = quoted_reply(bob_copy)
    # Stored as it was received, as the gateway did before it stripped footers.
    with session_scope(started.engine) as db:
        parsed = parse_message(raw, started.config.domain)
        now = utcnow()
        facts = ThreadFacts(parsed.message_id, parsed.in_reply_to, parsed.references, parsed.subject,
                            effective_date(parsed.date, now))
        stored = store_message(db, NewMessage(raw, facts, parsed.from_name, parsed.from_address, now), None,
                               place(db, facts))
    client = create_app(started.config, started.engine).test_client()
    page = client.get(f"/topics/{stored.topic_id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Je confirme" in html and bob_token not in html


def test_feeds_mask_a_link_of_mail_stored_before_even_in_the_authors_own_words(started):
    [bob_copy] = started.copies_to("bob@example.org")
    link = personal_link(bob_copy)
    raw = make_mail("Re: lien", body=f"Pour me désabonner, j'ai suivi {link} sans succès.\n",
                    message_id="own-words@example.org", sender="bob@example.org")
    with session_scope(started.engine) as db:  # stored as received, as before the gateway stripped links
        parsed = parse_message(raw, started.config.domain)
        facts = ThreadFacts(parsed.message_id, parsed.in_reply_to, parsed.references, parsed.subject,
                            effective_date(parsed.date, utcnow()))
        stored = store_message(db, NewMessage(raw, facts, parsed.from_name, parsed.from_address, utcnow()),
                               None, place(db, facts))
    feed = create_app(started.config, started.engine).test_client().get(f"/feeds/topics/{stored.topic_id}.atom")
    text = feed.get_data(as_text=True)
    assert feed.status_code == 200 and "sans succès" in text and token_of(link) not in text


def test_the_unsubscribe_page_names_the_address_it_concerns_masked(started):
    [bob_copy] = started.copies_to("bob@example.org")
    client = create_app(started.config, started.engine).test_client()
    page = client.get(urlsplit(personal_link(bob_copy)).path)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "b•••b@example.org" in html and "bob@example.org" not in html
    done = client.post(urlsplit(personal_link(bob_copy)).path, data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200 and "b•••b@example.org" in done.get_data(as_text=True)


def test_a_link_to_a_subscription_that_no_longer_exists_is_not_valid(started):
    url = unsubscribe_url(started.config, started.gateway.instance.secret, 999999)
    page = create_app(started.config, started.engine).test_client().get(urlsplit(url).path)
    assert page.status_code == 404


@pytest.mark.parametrize("cte", ["base64", "quoted-printable", "8bit"])
def test_the_footer_is_found_whatever_the_transfer_encoding(cte: str):
    token = "Mg.aXZ1Tw.abcdefghijklmnopqrstuvwxyz0"
    reply = parse(make_mail(body="x"))
    reply.set_content("Réponse.\n\n> Texte cité\n> " + "_" * 47 + "\n> Forum Test — pour répondre à tous\n"
                      f"> Vous désabonner : {BASE}/unsubscribe/{token}\n", cte=cte)
    raw = reply.as_bytes()
    text = text_parts(parse(strip_personal_links(raw, BASE)))[0]
    assert text == "Réponse.\n\n> Texte cité\n"


def test_without_a_base_url_the_paths_are_masked_on_any_host():
    text = "https://old-host.example/forum/unsubscribe/MTIz.aXZ1Tw.abcdefghijklmnop et https://x.example/page"
    assert mask_personal_links(text, "") == "https://old-host.example/forum/unsubscribe/… et https://x.example/page"
    assert mask_personal_links(text, BASE) == text
