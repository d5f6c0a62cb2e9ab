"""How message bodies are shown: quotes and signatures folded, HTML sanitised with remote
images blocked, addresses hidden or obfuscated."""

from __future__ import annotations

import pytest

from archive_web.bodies import HIDE, OBFUSCATE, is_html_only, render_body, sanitise_html, split_segments
from mailfactory import make_mail


def test_own_text_quotes_with_their_attribution_and_signature_are_separated():
    text = ("Merci pour la réponse.\n\nLe 3 mars 2026, Alice a écrit :\n> Qui a traité ce cas ?\n>\n> Merci\n"
            "\nJe regarde.\n-- \nBruno Keller\nOrtenaukreis")
    assert split_segments(text) == [
        ("text", "Merci pour la réponse."),
        ("quote", "Le 3 mars 2026, Alice a écrit :\n> Qui a traité ce cas ?\n>\n> Merci"),
        ("text", "Je regarde."),
        ("signature", "Bruno Keller\nOrtenaukreis"),
    ]


def test_an_outlook_original_message_is_folded_whole():
    text = "Vu, merci.\n\n-----Message d'origine-----\nDe : Alice\nEnvoyé : lundi\n\nTexte précédent"
    assert split_segments(text) == [("text", "Vu, merci."),
                                    ("quote", "-----Message d'origine-----\nDe : Alice\nEnvoyé : lundi\n\nTexte précédent")]


def test_a_line_saying_wrote_without_a_quote_below_is_the_authors_text():
    assert split_segments("Comme Alice a écrit :\nil faut agir.") == [("text", "Comme Alice a écrit :\nil faut agir.")]


def test_sanitised_html_keeps_formatting_and_drops_scripts_handlers_and_remote_images():
    cleaned, blocked = sanitise_html(
        '<h1>Titre</h1><p onclick="x()" style="color:red">Un <b>point</b> <a href="javascript:alert(1)">a</a>'
        '<a href="https://example.org/doc">doc</a></p><script>alert(1)</script><style>p{}</style>'
        '<img src="https://tracker.example.com/p.gif" alt="pixel"><iframe src="https://x"></iframe>')
    assert "<b>point</b>" in cleaned and 'href="https://example.org/doc"' in cleaned
    for gone in ("<h1", "onclick", "style", "javascript", "<script", "alert(1)", "tracker.example.com", "<iframe"):
        assert gone not in cleaned
    assert '<img alt="pixel">' in cleaned and blocked


@pytest.mark.parametrize("raw, expected", [
    (make_mail(body="texte"), False),
    (b"Content-Type: text/html; charset=utf-8\r\n\r\n<p>Bonjour</p>", True),
    (b"Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nx\r\n"
     b"--b\r\nContent-Type: text/html\r\n\r\n<p>x</p>\r\n--b--\r\n", False),
    (b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>x</p>\r\n--b--\r\n", True),
])
def test_html_only_mail_is_recognised_from_its_bytes(raw: bytes, expected: bool):
    assert is_html_only(raw) is expected


def test_addresses_are_hidden_from_visitors_and_obfuscated_for_members():
    text = "Écrivez à alice.martin@example.org ou voyez https://example.org/page."
    hidden = render_body(b"", text, HIDE, "(adresse masquée)").segments[0].html
    shown = render_body(b"", text, OBFUSCATE, "(adresse masquée)").segments[0].html
    assert "alice.martin" not in hidden and "(adresse masquée)" in hidden
    assert "alice.martin@example.org" not in shown and "alice.martin (at) example.org" in shown
    assert '<a href="https://example.org/page" rel="nofollow noopener noreferrer">' in shown


def test_html_in_plain_text_is_escaped():
    html = render_body(b"", "<script>alert(1)</script> & co", OBFUSCATE, "-").segments[0].html
    assert "<script>" not in html and "&lt;script&gt;" in html and "&amp; co" in html


def test_the_signature_of_mail_received_over_smtp_with_crlf_line_ends_is_folded():
    raw = b"From: Bruno <b@example.org>\r\nSubject: x\r\n\r\nJe regarde.\r\n-- \r\nBruno Keller\r\nOrtenaukreis\r\n"
    segments = render_body(raw, None, OBFUSCATE, "-").segments
    assert [s.kind for s in segments] == ["text", "signature"]
    assert "Bruno Keller" in segments[1].html and "Bruno Keller" not in segments[0].html
