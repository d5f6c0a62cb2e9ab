"""Checks that tests/corpus.py reads the shared email corpus the way SOURCES.md describes it."""

from __future__ import annotations

import collections
import email
import email.policy
import json
from pathlib import Path

import pytest

from corpus import (
    ReferenceSet,
    corpus_dir,
    corpus_message_count,
    iter_corpus_messages,
    message_id,
    parse_imap_thread,
    reference_sets,
    require_corpus,
    split_mbox,
)

# Regression guard: the number of messages the loader finds today.
TOTAL_MESSAGES = 1497

# SOURCES.md §1, with two deliberate differences: hyperkitty-testdata/non-ascii-headers.txt is
# a 6-message pipermail mbox (21 files -> 26 messages), and mimekit's unmunged.mbox.txt holds
# 4 messages by its own upstream test (SOURCES.md says 3), so mimekit is 32 + 40 + 2.
MESSAGES_PER_FOLDER = {
    "apache-mime4j-testmsgs": 85,
    "dovecot-imaptest-thread": 61,
    "flanker-messages": 47,
    "hyperkitty-1.0.1-testdata": 11,
    "hyperkitty-testdata": 26,
    "jwzthreading-fedora-devel": 292,
    "mailman2-tests": 112,
    "mailman3-core-tests": 7,
    "mimekit-testdata": 74,
    "mu-testdata": 52,
    "nodemailer-mailparser-fixtures": 10,
    "notmuch-test-corpora": 320,
    "perl-mail-box": 90,
    "perl-mail-thread": 43,
    "public-inbox-t": 22,
    "ruby-mail-fixtures": 103,
    "spamscope-mail-parser": 23,
    "stalwart-mail-parser-eml": 107,
    "sympa-t-samples": 10,
    "thunderbird-calendar-invitations": 2,
}

MESSAGES_PER_MBOX = {
    "apache-mime4j-testmsgs/mbox-test-1/mbox.rlug": 5,
    "hyperkitty-testdata/non-ascii-headers.txt": 6,
    "jwzthreading-fedora-devel/2010-January.txt.gz": 292,
    "mimekit-testdata/mbox/content-length.mbox.txt": 29,
    "mimekit-testdata/mbox/issue1189.mbox.txt": 4,
    "mimekit-testdata/mbox/simple.mbox.txt": 3,
    "mimekit-testdata/mbox/unmunged.mbox.txt": 4,
    "perl-mail-box/mbox.src": 45,
    "perl-mail-box/mbox.win": 45,
    "perl-mail-thread/testbox": 10,
    "perl-mail-thread/testbox-2": 3,
    "perl-mail-thread/testbox-3": 3,
    "perl-mail-thread/testbox-4": 7,
    "perl-mail-thread/testbox-5": 4,
    "perl-mail-thread/testbox-6": 6,
    "perl-mail-thread/testbox-7": 1,
    "perl-mail-thread/testbox-8": 3,
    "perl-mail-thread/testbox-9": 6,
}

# Messages in which the stdlib parser finds no header at all. All are intended (or a BOM).
HEADERLESS = {
    "apache-mime4j-testmsgs/testmsgs/malformedHeader-noheader.msg",
    "apache-mime4j-testmsgs/testmsgs/malformedHeaderStartsBody-noheader.msg",
    "apache-mime4j-testmsgs/testmsgs/obsolete.msg",  # "Subject :" obsolete syntax
    "dovecot-imaptest-thread/sort-subject.mbox#8",  # empty header block on purpose
    "dovecot-imaptest-thread/thread-orderedsubject.mbox#8",
    "mimekit-testdata/mbox/unmunged.mbox.txt#1",  # body after an unescaped "From Russia" line
    "mimekit-testdata/messages/feedback-report.txt",  # starts with a UTF-8 BOM
    "public-inbox-t/t/solve/bare.patch",  # a bare diff
    "ruby-mail-fixtures/rfc2822/example13.eml",  # "From  :" obsolete syntax
    "spamscope-mail-parser/mail_outlook_1",  # Outlook .msg (OLE2) binary
    "stalwart-mail-parser-eml/malformed/019.eml",  # "Fro :" garbage
}

# (threads, distinct messages in the answer) per set, from SOURCES.md §3.
EXPECTED_SHAPES = {
    "notmuch/default": (24, 52),
    "notmuch/lkml": (7, 176),
    "notmuch/duplicate": (3, 3),
    "notmuch/broken": (3, 4),
    "notmuch/threading_ghost-root": (2, 9),
    "notmuch/threading_parent-priority": (1, 3),
    "fedora-devel/mhonarc": (60, 292),
    "fedora-devel/notmuch": (62, 292),
    "mail-box/notmuch": (28, 45),
}


@pytest.fixture(scope="module")
def messages() -> list[tuple[str, bytes]]:
    require_corpus()
    return list(iter_corpus_messages())


@pytest.fixture(scope="module")
def sets() -> dict[str, ReferenceSet]:
    require_corpus()
    return {ref.name: ref for ref in reference_sets()}


def test_corpus_dir_honours_env_and_skips_when_missing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("RELAIS_CORPUS_DIR", raising=False)
    assert corpus_dir() == Path(__file__).resolve().parent.parent.parent / "shared" / "corpus"
    monkeypatch.setenv("RELAIS_CORPUS_DIR", str(tmp_path / "nowhere"))
    assert corpus_dir() == tmp_path / "nowhere"
    with pytest.raises(pytest.skip.Exception, match="RELAIS_CORPUS_DIR"):
        require_corpus()


def test_split_mbox_keeps_bytes_and_handles_crlf() -> None:
    data = (
        b"From a@b Mon Jan  1 00:00:00 2001\r\nSubject: x\r\n\r\n>From y\r\n\r\n"
        b"From c@d\r\nS: 2\r\n"
    )
    assert split_mbox(data) == [b"Subject: x\r\n\r\n>From y\r\n\r\n", b"S: 2\r\n"]
    with pytest.raises(ValueError):
        split_mbox(b"Subject: not an mbox\n")


def test_parse_imap_thread() -> None:
    threads, parents = parse_imap_thread("* THREAD (1 (2 4)(3))((5)(6))(7 8 9)")
    assert threads == [{1, 2, 3, 4}, {5, 6}, {7, 8, 9}]
    assert parents == {1: None, 2: 1, 4: 2, 3: 1, 5: None, 6: None, 7: None, 8: 7, 9: 8}


def test_message_stream_counts(messages: list[tuple[str, bytes]]) -> None:
    labels = [label for label, _ in messages]
    print(f"corpus messages: {len(labels)}")
    assert len(labels) == TOTAL_MESSAGES == corpus_message_count()
    assert len(set(labels)) == len(labels)
    assert labels == [label for label, _ in iter_corpus_messages()]
    per_folder = collections.Counter(label.split("/", 1)[0] for label in labels)
    assert per_folder == MESSAGES_PER_FOLDER
    per_mbox = collections.Counter(label.split("#")[0] for label in labels if "#" in label)
    dovecot = {k: v for k, v in per_mbox.items() if k.startswith("dovecot-imaptest-thread/")}
    assert len(dovecot) == 11 and sum(dovecot.values()) == 61
    assert {k: v for k, v in per_mbox.items() if k not in dovecot} == MESSAGES_PER_MBOX


def test_non_mail_files_are_skipped(messages: list[tuple[str, bytes]]) -> None:
    labels = {label for label, _ in messages}
    for label in labels:
        name = label.split("#")[0].rsplit("/", 1)[-1]
        assert "/_expected/" not in label
        assert not name.endswith((".json", ".xml", ".tsv", ".list", ".tnef", ".html.gz"))
        assert not name.startswith(("README", ".", "COPYING", "SOURCES"))
        assert "LICENSE" not in name and not name.endswith("-summary.txt")
    assert not any("/mbox-test-1/mbox.rlug-" in label for label in labels)
    assert "dovecot-imaptest-thread/thread" not in labels
    # A maildir file carrying an mbox attachment stays one message.
    assert "notmuch-test-corpora/insert/mbox-attachment.eml" in labels
    outlook = dict(messages)["spamscope-mail-parser/mail_outlook_1"]
    assert outlook.startswith(b"\xd0\xcf\x11\xe0")


def test_mbox_split_matches_upstream_expectations(messages: list[tuple[str, bytes]]) -> None:
    root = require_corpus()
    by_label = dict(messages)
    rlug = root / "apache-mime4j-testmsgs/mbox-test-1"
    for i in range(5):
        assert by_label[f"apache-mime4j-testmsgs/mbox-test-1/mbox.rlug#{i}"] == (
            rlug / f"mbox.rlug-{i}"
        ).read_bytes()

    # MimeKit's recorded offsets for the Content-Length mbox: each message is the file slice
    # from beginOffset, and the next separator follows its endOffset plus one newline.
    mbox = "mimekit-testdata/mbox/content-length.mbox.txt"
    data = (root / mbox).read_bytes()
    offsets_file = root / "mimekit-testdata/mbox/content-length.unix-offsets.json"
    offsets = json.loads(offsets_file.read_text(encoding="utf-8"))
    for i, entry in enumerate(offsets):
        raw = by_label[f"{mbox}#{i}"]
        assert data[entry["beginOffset"] : entry["beginOffset"] + len(raw)] == raw
        assert len(raw) == entry["endOffset"] - entry["beginOffset"] + (i + 1 < len(offsets))

    src = [message_id(by_label[f"perl-mail-box/mbox.src#{i}"]) for i in range(45)]
    win = [by_label[f"perl-mail-box/mbox.win#{i}"] for i in range(45)]
    assert [message_id(raw) for raw in win] == src
    assert all(raw.count(b"\r\n") == raw.count(b"\n") for raw in win)


def test_every_message_parses(messages: list[tuple[str, bytes]]) -> None:
    headerless = set()
    for label, raw in messages:
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        if not msg.keys():
            headerless.add(label)
    assert headerless == HEADERLESS


def test_reference_set_shapes(sets: dict[str, ReferenceSet]) -> None:
    for name, (n_threads, n_messages) in EXPECTED_SHAPES.items():
        ref = sets[name]
        assert len(ref.threads) == n_threads, name
        assert sum(len(thread) for thread in ref.threads) == n_messages, name
    assert len(sets["fedora-devel/mhonarc"].messages) == 292
    boxes = [
        ref
        for name, ref in sets.items()
        if ref.source == "notmuch-0.37" and name.startswith("mail-thread/")
    ]
    assert len(boxes) == 9
    assert sum(len(ref.messages) for ref in boxes) == 43
    assert sum(sum(len(t) for t in ref.threads) for ref in boxes) == 43
    assert len(sets["mail-thread/upstream/t/9.t"].threads) == 1
    assert len(sets["mail-thread/testbox-9"].threads) == 2
    assert {name for name, ref in sets.items() if ref.source == "dovecot-imaptest"} == {
        f"dovecot/{script}"
        for script in ("thread", "thread2", "thread3", "thread4", "thread6", "thread7")
    }
    assert {ref.source for ref in sets.values()} == {
        "notmuch-0.37", "mhonarc", "mail-thread-upstream", "dovecot-imaptest"
    }


def test_reference_sets_are_consistent(
    sets: dict[str, ReferenceSet], messages: list[tuple[str, bytes]]
) -> None:
    corpus_messages = dict(messages)
    for name, ref in sets.items():
        labels = [label for label, _ in ref.messages]
        assert len(labels) == len(set(labels)), name
        assert all(corpus_messages[label] == raw for label, raw in ref.messages), name
        thread_of = {label: i for i, thread in enumerate(ref.threads) for label in thread}
        assert len(thread_of) == sum(len(thread) for thread in ref.threads), name
        assert set(thread_of) <= set(labels), name
        assert set(ref.parents) <= set(thread_of), name
        for child, parent in ref.parents.items():
            if parent is not None:
                assert thread_of[parent] == thread_of[child], (name, child)
        assert ref.note and ref.source, name


def _notmuch_tsv(name: str) -> str:
    if name.startswith("notmuch/"):
        return f"notmuch-test-corpora/_expected/notmuch-0.37-threads.{name[8:]}.tsv"
    if name.startswith("mail-thread/"):
        return f"perl-mail-thread/_expected/notmuch-0.37-threads.{name[12:]}.tsv"
    return {
        "fedora-devel/notmuch": "jwzthreading-fedora-devel/_expected/"
        "notmuch-0.37-threads.2010-January.tsv",
        "mail-box/notmuch": "perl-mail-box/_expected/notmuch-0.37-threads.mbox.src.tsv",
    }[name]


def test_notmuch_tsv_files_map_to_the_right_messages(sets: dict[str, ReferenceSet]) -> None:
    root = require_corpus()
    checked = 0
    for name, ref in sets.items():
        if ref.source != "notmuch-0.37":
            continue
        rows = [
            line.split("\t")
            for line in (root / _notmuch_tsv(name)).read_text(encoding="utf-8").splitlines()
            if line and not line.startswith(("#", "thread\t"))
        ]
        # notmuch names a message without Message-ID "notmuch-sha1-<hash>".
        expected = {
            mid: None if parent == "-" or parent.startswith("notmuch-sha1-") else parent
            for _, _, mid, parent, *_ in rows
            if not mid.startswith("notmuch-sha1-")
        }
        raw_of = dict(ref.messages)
        found = {
            message_id(raw_of[child]): None if parent is None else message_id(raw_of[parent])
            for child, parent in ref.parents.items()
        }
        found.pop(None, None)
        assert found == expected, name
        checked += 1
    assert checked == 17
