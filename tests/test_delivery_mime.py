"""The footer reaches every text part a reader sees — plain and HTML alike — without
breaking the message's structure: attachments arrive byte for byte, a signed message is
left whole, a part in another charset or encoding still reads right."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from delivery_support import *  # noqa: F401,F403 (fixtures)
from delivery_support import text_parts

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"
UNSUBSCRIBE = "http://forum.example.org/unsubscribe/"


def _base(subject: str = "Obstacle : formation") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Alice Martin <alice@example.org>"
    msg["To"] = "forum@example.org"
    msg["Subject"] = subject
    msg["Message-ID"] = "<mime-1@mairie.example.org>"
    msg["Date"] = "Mon, 23 Nov 2026 10:00:00 +0100"
    return msg


@pytest.fixture
def pair(forum):  # type: ignore[no-untyped-def]
    forum.member("alice@example.org", "Alice Martin")
    forum.member("bob@example.org", "Bob Weber")
    return forum


def delivered(forum, msg: EmailMessage) -> EmailMessage:  # type: ignore[no-untyped-def]
    assert forum.post(msg.as_bytes())[0] == 250
    forum.deliver()
    [copy] = forum.copies_to("bob@example.org")
    return copy


def test_multipart_alternative_gets_the_footer_in_both_parts(pair):
    msg = _base()
    msg.set_content("Bonjour à tous,\nle texte brut.\n")
    msg.add_alternative("<html><body><p>Bonjour à tous,</p><p>le <b>HTML</b>.</p></body></html>\n", subtype="html")
    copy = delivered(pair, msg)
    assert copy.get_content_type() == "multipart/alternative"
    plain, html = text_parts(copy)
    assert plain.startswith("Bonjour à tous,\nle texte brut.\n") and UNSUBSCRIBE in plain
    assert "Vous désabonner" in plain
    assert "<b>HTML</b>" in html and f'href="{UNSUBSCRIBE}' in html
    # In the HTML, the footer is inside the body, before it closes.
    assert html.index("relais-footer") < html.lower().index("</body>")
    # The same personal link in both parts and in List-Unsubscribe.
    link = str(copy["List-Unsubscribe"]).split(",")[0].strip("<> ")
    assert link in plain and link in html


def test_an_attachment_arrives_intact_and_only_the_text_gets_the_footer(pair):
    msg = _base()
    msg.set_content("Voir la convention ci-jointe.\n")
    msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="convention.pdf")
    msg.add_attachment("notes\nen texte\n", subtype="plain", filename="notes.txt")
    copy = delivered(pair, msg)
    parts = list(copy.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "application/pdf", "text/plain"]
    assert parts[0].get_content().startswith("Voir la convention ci-jointe.") and UNSUBSCRIBE in parts[0].get_content()
    assert parts[1].get_content() == PDF and parts[1].get_filename() == "convention.pdf"
    # A text attachment is the sender's file: no footer in it.
    assert parts[2].get_content().replace("\r\n", "\n") == "notes\nen texte\n"


def test_an_html_only_post_gets_the_footer_in_its_html(pair):
    msg = _base()
    msg.set_content("<html><body><p>Seulement du HTML, très court.</p></body></html>\n", subtype="html")
    copy = delivered(pair, msg)
    [html] = text_parts(copy)
    assert copy.get_content_type() == "text/html"
    assert "Seulement du HTML, très court." in html and f'href="{UNSUBSCRIBE}' in html


def test_an_html_part_without_body_tag_gets_the_footer_at_its_end(pair):
    msg = _base()
    msg.set_content("<p>Fragment</p>", subtype="html")
    copy = delivered(pair, msg)
    [html] = text_parts(copy)
    assert html.startswith("<p>Fragment</p>") and html.rstrip().endswith("</div>")


def test_a_base64_latin1_part_is_reencoded_and_reads_the_same(pair):
    msg = _base()
    msg.set_content("Réunion à Besançon, café compris.\n".encode("latin-1"), maintype="text", subtype="plain",
                    cte="base64", params={"charset": "iso-8859-1"})
    copy = delivered(pair, msg)
    [plain] = text_parts(copy)
    assert plain.startswith("Réunion à Besançon, café compris.\n") and "Vous désabonner" in plain
    assert copy["Content-Transfer-Encoding"] == "quoted-printable"


def test_a_signed_message_is_wrapped_and_its_signed_part_left_whole(pair):
    signed_body = ("Content-Type: text/plain; charset=utf-8\r\n\r\nTexte signé.\r\n")
    raw = ("From: Alice Martin <alice@example.org>\r\nTo: forum@example.org\r\nSubject: Signé\r\n"
           "Message-ID: <signed-1@x>\r\nMIME-Version: 1.0\r\n"
           'Content-Type: multipart/signed; protocol="application/pgp-signature"; micalg=pgp-sha256; '
           'boundary="sig"\r\n\r\n--sig\r\n' + signed_body + "--sig\r\n"
           "Content-Type: application/pgp-signature\r\n\r\n-----BEGIN PGP SIGNATURE-----\r\nabc\r\n"
           "-----END PGP SIGNATURE-----\r\n--sig--\r\n").encode()
    assert pair.post(raw)[0] == 250
    pair.deliver()
    [(_, _, received)] = [r for r in pair.sink.received if r[1] == ["bob@example.org"]]
    copy = pair.copies_to("bob@example.org")[0]
    assert copy.get_content_type() == "multipart/mixed"
    inner, footer = copy.iter_parts()
    assert inner.get_content_type() == "multipart/signed"
    assert signed_body.encode() in received
    assert UNSUBSCRIBE in footer.get_content()
