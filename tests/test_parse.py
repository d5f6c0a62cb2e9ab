"""Reading header facts: checked against stalwart mail-parser's expected parses (corpus),
and on the shapes real clients produce."""

from __future__ import annotations

import json

import pytest

from corpus import corpus_dir, require_corpus
from mailgateway.parse import message_ids, parse_message


def same_text(expected: str, got: str) -> bool:
    """Equal, where stalwart's U+FFFD (undecodable 8-bit) may be any character: Relais reads
    raw 8-bit headers as UTF-8, else Windows-1252, and gets "Frösche" where it shows "Fr�sche"."""
    expected, got = " ".join(expected.split()), " ".join(got.split())
    return len(expected) == len(got) and all(e == g or e == "\ufffd" for e, g in zip(expected, got))


def first_address(value: dict) -> tuple[str, str] | None:
    address = value.get("Address", {})
    listed = address.get("List") or [a for group in address.get("Group", []) for a in group.get("addresses", [])]
    if not listed or not listed[0].get("address"):
        return None  # a group with no member address ("Undisclosed: ;")
    return listed[0].get("name") or "", listed[0]["address"].lower()


@pytest.mark.corpus
@pytest.mark.parametrize("folder", ["legacy", "rfc", "thirdparty"])
def test_subject_and_author_match_stalwart_expectations(folder: str):
    require_corpus()
    checked = 0
    for eml in sorted((corpus_dir() / "stalwart-mail-parser-eml" / folder).glob("*.eml")):
        headers = {h["name"]: h["value"] for h in json.loads(eml.with_suffix(".json").read_text())["parts"][0]["headers"]
                   if isinstance(h["name"], str)}
        parsed = parse_message(eml.read_bytes(), "example.org")
        if isinstance(headers.get("subject"), dict) and "Text" in headers["subject"]:
            assert same_text(headers["subject"]["Text"], parsed.subject), eml.name
            checked += 1
        if isinstance(headers.get("from"), dict) and (expected := first_address(headers["from"])):
            assert (parsed.from_name, parsed.from_address) == expected, eml.name
            checked += 1
    assert checked > 10


@pytest.mark.parametrize("header, ids", [
    ("<a@b> <c@d>", ["a@b", "c@d"]),
    ("<a@b>\r\n\t<c@d> <a@b>", ["a@b", "c@d"]),
    ("Your message of Tue, 3 Nov. <a@b>", ["a@b"]),
    ("a@b", ["a@b"]),
    ("", []),
    ("garbage without id", []),
])
def test_message_ids_are_read_from_what_clients_write(header: str, ids: list[str]):
    assert message_ids(header) == ids


def test_encoded_words_and_raw_utf8_headers_are_decoded():
    raw = ("From: =?iso-8859-1?q?J=E9r=F4me_M=FCller?= <JM@Example.ORG>\r\n"
           "Subject: =?utf-8?b?Q29vcMOpcmF0aW9u?= transfrontalière\r\n"
           "Message-ID: <x@y>\r\nIn-Reply-To: <p@y>\r\nReferences: <r@y> <p@y>\r\n"
           "Date: Mon, 23 Nov 2026 10:00:00 +0100\r\n\r\nbody\r\n").encode("utf-8")
    parsed = parse_message(raw, "example.org")
    assert (parsed.from_name, parsed.from_address) == ("Jérôme Müller", "jm@example.org")
    assert parsed.subject == "Coopération transfrontalière"
    assert (parsed.message_id, parsed.in_reply_to, parsed.references) == ("x@y", ("p@y",), ("r@y", "p@y"))
    assert parsed.date is not None and parsed.date.isoformat() == "2026-11-23T09:00:00+00:00"


def test_a_message_that_names_itself_is_not_its_own_parent():
    parsed = parse_message(b"Message-ID: <x@y>\r\nIn-Reply-To: <x@y>\r\nReferences: <x@y>\r\n\r\n", "e.org")
    assert parsed.in_reply_to == () and parsed.references == ()


def test_bad_dates_and_missing_headers_do_not_fail():
    parsed = parse_message(b"Date: the day after tomorrow\r\nSubject: x\r\n\r\nbody", "example.org")
    assert parsed.date is None and parsed.from_address == "" and not parsed.has_message_id
    assert parsed.message_id.endswith("@example.org")


@pytest.mark.parametrize("folded", [
    "Subject: =?utf-8?q?S=C3=A9curit=C3=A9?=\r\n sociale des frontaliers",
    "Subject: =?utf-8?q?S=C3=A9curit=C3=A9?=\r\n\tsociale des frontaliers",
    "Subject: =?utf-8?q?S=C3=A9curit=C3=A9?= sociale des frontaliers",
])
def test_white_space_between_an_encoded_word_and_plain_text_is_kept_when_folded(folded: str):
    parsed = parse_message(f"From: a@example.org\r\n{folded}\r\n\r\nx\r\n".encode(), "example.org")
    assert parsed.subject == "Sécurité sociale des frontaliers"


def test_white_space_between_plain_text_and_a_folded_encoded_word_is_kept():
    raw = b"Subject: Obstacle\r\n =?utf-8?q?s=C3=A9curit=C3=A9?= sociale\r\n\r\nx\r\n"
    assert parse_message(raw, "example.org").subject == "Obstacle sécurité sociale"
