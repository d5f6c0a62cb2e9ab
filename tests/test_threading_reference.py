"""Threading checked against the reference answers shipped with the corpus (SOURCES.md §3):
notmuch's corpora, the fedora-devel archive (MHonArc and notmuch), Mail::Thread, Mail::Box
and Dovecot's IMAP THREAD tests.

Relais's rules (storage/threads.py) are References-based, as notmuch's are, plus one
subject rule: a message with NO threading header whose subject is a reply ("Re: …") to
exactly one topic active in the last 30 days joins it (groups.io's fallback for clients
that drop headers). Where the references disagree with each other on that rule, Relais
follows the one that uses it. Every divergence from a reference is listed below with its
reason, and the test fails if a divergence appears or disappears.
"""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass

import pytest
from sqlalchemy import text

from corpus import ReferenceSet, corpus_dir, reference_sets, require_corpus
from mailgateway.importer import import_messages
from mailgateway.parse import message_ids
from storage.instance import initialise

pytestmark = pytest.mark.corpus

FEDORA = "jwzthreading-fedora-devel/2010-January.txt.gz#"
TESTBOX = "perl-mail-thread/testbox-"
MAILBOX = "perl-mail-box/mbox.src#"

SUBJECT_RULE = "no threading header and a reply subject matching one active topic: Relais joins it by subject"

# Topics Relais joins that the reference keeps apart: (set, label, label in the topic it joins, why).
JOINED = [
    ("fedora-devel/notmuch", FEDORA + "153", FEDORA + "55", SUBJECT_RULE + " (MHonArc agrees)"),
    ("mail-thread/testbox-4", TESTBOX + "4#4", TESTBOX + "4#0", SUBJECT_RULE + " (Mail::Thread agrees)"),
    ("mail-thread/testbox-9", TESTBOX + "9#4", TESTBOX + "9#0", SUBJECT_RULE + " (Mail::Thread t/9.t agrees)"),
    ("mail-thread/upstream/t/4.t", TESTBOX + "4#4", TESTBOX + "4#0", SUBJECT_RULE + " (t/4.t runs with nosubject=1)"),
    *[("mail-box/notmuch", MAILBOX + str(i), MAILBOX + "3", SUBJECT_RULE) for i in (4, 5, 6, 7)],
]
# Messages the reference puts in a topic that Relais keeps apart: (set, label, why).
SEPARATE = [
    ("fedora-devel/mhonarc", FEDORA + "285",
     "it answers a digest's Message-ID and so has a threading header: no subject rule (notmuch agrees)"),
    ("dovecot/thread4", "dovecot-imaptest-thread/thread4.mbox#1",
     "RFC 5256 REFERENCES groups by subject even with References; Relais never does"),
]
# Parents that differ: (set, label, parent Relais gives, why).
PARENTS = [
    ("fedora-devel/notmuch", FEDORA + "153", FEDORA + "55", "joined by subject: answers the topic's first message"),
    ("mail-thread/testbox-4", TESTBOX + "4#4", TESTBOX + "4#0", "joined by subject"),
    ("mail-thread/testbox-9", TESTBOX + "9#4", TESTBOX + "9#0", "joined by subject"),
    ("mail-thread/upstream/t/4.t", TESTBOX + "4#4", TESTBOX + "4#0", "joined by subject"),
    *[("mail-box/notmuch", MAILBOX + str(i), MAILBOX + "3", "joined by subject") for i in (4, 5, 6, 7)],
    *[("fedora-devel/mhonarc", FEDORA + str(i), None,
       "replies to a missing message: MHonArc hangs them under their first sibling (#3); "
       "notmuch and Relais keep them as roots under the missing message")
      for i in (6, 11, 12)],
    ("fedora-devel/mhonarc", FEDORA + "285", None, "kept apart (see SEPARATE)"),
    ("dovecot/thread4", "dovecot-imaptest-thread/thread4.mbox#1", None, "kept apart (see SEPARATE)"),
]
# Sets whose answers rest on IMAP conventions Relais does not share.
SKIPPED = {
    "dovecot/thread": "Dovecot conflates messages without a Message-ID; Relais gives each its own",
    "dovecot/thread2": "two byte-identical messages without Message-ID: Relais stores them once (an MTA retry)",
    "dovecot/thread3": "two messages with the same Message-ID: Relais stores the first only",
}


@dataclass
class Threaded:
    topic_of: dict[str, int]             # label -> topic id
    parent_of: dict[str, str | None]     # label -> parent label


def thread_through_relais(make_config, messages) -> Threaded:  # type: ignore[no-untyped-def]
    config = make_config()
    engine = initialise(config)
    summary = import_messages(engine, config, "test-secret", messages)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT m.message_id, m.topic_id, p.message_id FROM messages m "
                                 "LEFT JOIN messages p ON p.id = m.parent_id")).all()
    engine.dispose()
    assert not summary.unreadable, summary.unreadable
    by_id = {mid: (topic, parent) for mid, topic, parent in rows}
    label_of: dict[str, str] = {}
    for label, _ in messages:
        label_of.setdefault(summary.stored_ids[label], label)
    return Threaded(
        topic_of={label: by_id[summary.stored_ids[label]][0] for label, _ in messages},
        parent_of={label: label_of.get(by_id[summary.stored_ids[label]][1] or "") for label, _ in messages})


def partition(topic_of: dict[str, int], labels) -> set[frozenset[str]]:  # type: ignore[no-untyped-def]
    groups: dict[int, set[str]] = {}
    for label in labels:
        groups.setdefault(topic_of[label], set()).add(label)
    return {frozenset(g) for g in groups.values()}


def expected_partition(ref: ReferenceSet) -> set[frozenset[str]]:
    threads = [set(t) for t in ref.threads]
    for name, label, joins, _ in JOINED:
        if name == ref.name:
            a = next(t for t in threads if label in t)
            b = next(t for t in threads if joins in t)
            if a is not b:
                b |= a
                threads.remove(a)
    for name, label, _ in SEPARATE:
        if name == ref.name:
            next(t for t in threads if label in t).discard(label)
            threads.append({label})
    return {frozenset(t) for t in threads}


def notmuch_depth_choice(ref: ReferenceSet, label: str, expected: str | None, got: str | None) -> bool:
    """When In-Reply-To names a message it does not have, notmuch picks the References entry
    deepest in its current tree; Relais picks the nearest one it has. Both are ancestors the
    message names."""
    if ref.source != "notmuch-0.37" or expected is None or got is None:
        return False
    raw = dict(ref.messages)
    msg = email.message_from_bytes(raw[label], policy=email.policy.compat32)
    refs = message_ids(str(msg.get("References", "")))
    ids = {lab: message_ids(str(email.message_from_bytes(raw[lab], policy=email.policy.compat32)
                                .get("Message-ID", "")))[0] for lab in (expected, got)}
    return ids[expected] in refs and ids[got] in refs and refs.index(ids[got]) > refs.index(ids[expected])


def references():  # type: ignore[no-untyped-def]
    """One parameter per reference set; a single skipped one when the corpus is absent."""
    if not (corpus_dir() / "SOURCES.md").is_file():
        return [pytest.param(None, marks=pytest.mark.skip(
            reason=f"shared email corpus not found at {corpus_dir()}: set RELAIS_CORPUS_DIR"))]
    return [pytest.param(ref, id=ref.name) for ref in reference_sets()]


@pytest.mark.parametrize("ref", references())
def test_threads_match_the_reference(ref: ReferenceSet, make_config):  # type: ignore[no-untyped-def]
    require_corpus()
    if ref.name in SKIPPED:
        pytest.skip(SKIPPED[ref.name])
    got = thread_through_relais(make_config, list(ref.messages))
    labels = {label for thread in ref.threads for label in thread}
    assert partition(got.topic_of, labels) == expected_partition(ref)

    overrides = {label: parent for name, label, parent, _ in PARENTS if name == ref.name}
    wrong = {}
    for label, parent in ref.parents.items():
        expected = overrides.get(label, parent)
        if got.parent_of[label] != expected and not notmuch_depth_choice(ref, label, expected, got.parent_of[label]):
            wrong[label] = (expected, got.parent_of[label])
    assert not wrong
    stale = [label for label in overrides if ref.parents.get(label, "absent") == got.parent_of.get(label)]
    assert not stale, "a listed divergence no longer happens: remove it from PARENTS"


ORDER_SETS = ["notmuch/threading_ghost-root", "notmuch/threading_parent-priority", "notmuch/lkml",
              "fedora-devel/notmuch", "mail-thread/testbox-8"]


@pytest.mark.parametrize("name", ORDER_SETS)
def test_arrival_order_does_not_change_the_threads(name: str, make_config):  # type: ignore[no-untyped-def]
    """Parents arriving after their replies are linked when they come (public-inbox, notmuch
    T260): the same topics and parents in file order and in reverse order. Only messages
    whose Message-ID arrives twice with different headers (the first copy wins), and
    replies joined by subject (their topic must exist first) may differ."""
    require_corpus()
    ref = next(r for r in reference_sets() if r.name == name)
    messages = list(ref.messages)
    duplicated = _labels_sharing_an_id(messages)
    forward = thread_through_relais(make_config, messages)
    backward = thread_through_relais(make_config, messages[::-1])
    labels = {label for label, _ in messages} - duplicated - _joined_by_subject(name)
    assert partition(forward.topic_of, labels) == partition(backward.topic_of, labels)
    differ = {label for label in labels if forward.parent_of[label] != backward.parent_of[label]
              and forward.parent_of[label] not in duplicated}
    assert not differ


def _labels_sharing_an_id(messages) -> set[str]:  # type: ignore[no-untyped-def]
    seen: dict[str, list[str]] = {}
    for label, raw in messages:
        ids = message_ids(str(email.message_from_bytes(raw, policy=email.policy.compat32).get("Message-ID", "")))
        seen.setdefault(ids[0] if ids else label, []).append(label)
    return {label for labels in seen.values() if len(labels) > 1 for label in labels}


def _joined_by_subject(name: str) -> set[str]:
    return {label for set_name, label, _, _ in JOINED if set_name == name}
