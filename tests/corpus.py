"""Access to the shared real-email test corpus (read-only, never copied into the repo).

This module owns three things:

* locating the corpus (``corpus_dir``/``require_corpus``; default ``<repo>/../shared/corpus``,
  overridable with ``RELAIS_CORPUS_DIR``);
* turning its files into a stream of single email messages (``iter_corpus_messages``): non-email
  files are skipped and mbox files are split, each message keeping its exact bytes;
* the reference threading answers shipped with it (``reference_sets``), expressed on the same
  message labels, so a test can deliver ``messages`` and compare what it stored with ``threads``
  and ``parents``.

Labels are paths relative to the corpus root (POSIX form); a message split out of an mbox gets
``#N`` appended, N being its 0-based position in the mbox.

See ``<corpus>/SOURCES.md`` §1-§3 for what each folder and reference file is.

Dovecot imaptest scripts left out of ``reference_sets``:

* ``thread5``, ``thread8``: they start from an empty mailbox (``state: created``) and APPEND
  messages step by step, expunging in between; no expectation is about the mbox as delivered.
* ``thread-orderedsubject``, ``thread-orderedsubject2``: THREAD=ORDEREDSUBJECT (pure subject
  grouping), not reference threading.
* ``sort-subject``: a SORT test, not threading.

For ``thread`` and ``thread7`` only the first ``thread references`` answer is used: it is computed
on the full mailbox, before the script expunges a message and asks again.

Mail::Thread upstream expectations left out: ``t/5.t`` and ``t/6.t`` assert nothing about the
result (only that threading completes), and ``t/open-ended.t`` is the same answer as ``t/2.t``.
"""

from __future__ import annotations

import functools
import gzip
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path, PurePosixPath
from types import MappingProxyType

import pytest

ENV_VAR = "RELAIS_CORPUS_DIR"


@dataclass(frozen=True)
class ReferenceSet:
    name: str
    source: str
    messages: tuple[tuple[str, bytes], ...]
    threads: tuple[frozenset[str], ...]
    parents: Mapping[str, str | None]
    note: str


def corpus_dir() -> Path:
    override = os.environ.get(ENV_VAR)
    if override:
        return Path(override)
    return Path(__file__).resolve().parent.parent.parent / "shared" / "corpus"


def require_corpus() -> Path:
    path = corpus_dir()
    if not (path / "SOURCES.md").is_file():
        pytest.skip(
            f"shared email corpus not found at {path}: "
            f"set {ENV_VAR} to run the corpus tests"
        )
    return path


# --------------------------------------------------------------------------- file selection

_SKIP_EXACT_NAMES = frozenset({"SOURCES.md", "COPYING"})
_SKIP_SUFFIXES = (".json", ".xml", ".tsv", ".list", ".tnef", ".html.gz", ".md")
_SKIP_NAME_RE = re.compile(
    r"""^(?:README.*            # provenance notes
        |.*LICENSE.*            # LICENSE, ARTISTIC-LICENSE.txt
        |.*-summary\.txt        # mimekit's expected summaries (they start with "From -")
        |mbox\.rlug-\d+         # mime4j's expected result of splitting mbox.rlug
        )$""",
    re.VERBOSE,
)
_DOVECOT_DIR = "dovecot-imaptest-thread"

# Folders that are maildirs (one message per file): a "From " line in them is part of the
# message (notmuch insert/mbox-attachment.eml carries a whole mbox as an attachment).
_MAILDIR_FOLDERS = frozenset({"notmuch-test-corpora", "mu-testdata"})

# Files known to be mboxes. They are split even when they hold a single message, so that a
# label never changes with the number of messages in the box.
_MBOX_GLOBS = (
    "*.mbox",
    "*.mbox.txt",
    "*.txt.gz",
    "perl-mail-thread/testbox*",
    "perl-mail-box/mbox.*",
    "apache-mime4j-testmsgs/mbox-test-1/mbox.rlug",
)


def _is_message_file(rel: PurePosixPath) -> bool:
    name = rel.name
    if "_expected" in rel.parts[:-1] or name.startswith("."):
        return False
    if name in _SKIP_EXACT_NAMES or name.endswith(_SKIP_SUFFIXES) or _SKIP_NAME_RE.match(name):
        return False
    if rel.parts[0] == _DOVECOT_DIR and not name.endswith(".mbox"):
        return False  # imaptest scripts: expected IMAP dialogues, not mail
    return True


def _message_files(root: Path) -> list[PurePosixPath]:
    rels = (PurePosixPath(p.relative_to(root).as_posix()) for p in root.rglob("*") if p.is_file())
    return sorted((rel for rel in rels if _is_message_file(rel)), key=str)


# --------------------------------------------------------------------------- mbox splitting

_BOM = b"\xef\xbb\xbf"
# A "From " line at the start of the file (after an optional UTF-8 BOM, as in mimekit's
# unmunged.mbox.txt) or right after an empty line, LF or CRLF. Some boxes (testbox-6, mimekit's
# simple and content-length mboxes) have no empty line before the separator, so a line that has
# the full shape of a separator ("From -" alone, or "From <sender> <asctime date>") also counts.
_SEPARATOR_RE = re.compile(
    rb"""(?:\A(?:\xef\xbb\xbf)?|(?<=\n\n)|(?<=\n\r\n))From\ 
    |(?<=\n)From\ (?=-[ \t]*\r?\n
        |[^\r\n]*\ (?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)
         \ (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)
         \ +\d{1,2}\ \d{1,2}:\d\d(?::\d\d)?(?:\ [^\r\n]*)?\r?\n)""",
    re.VERBOSE,
)


def split_mbox(data: bytes) -> list[bytes]:
    """Split mbox bytes into messages, dropping only the "From " separator lines.

    Each message keeps every byte up to the next separator, including the empty line before it
    (this is how mime4j's own expected split files are cut). ">From " is left escaped. A "From "
    line inside a body after an empty line starts a new message: mboxo cannot tell them apart,
    and MimeKit expects the same (4 messages in unmunged.mbox.txt).
    """
    starts = [m.start() for m in _SEPARATOR_RE.finditer(data)]
    if not starts or starts[0] > len(_BOM):
        raise ValueError("not an mbox: data does not start with a 'From ' line")
    messages = []
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(data)
        newline = data.find(b"\n", start, end)
        messages.append(data[newline + 1 : end] if newline >= 0 else b"")
    return messages


def _read(path: Path) -> bytes:
    if path.name.endswith(".gz"):
        with gzip.open(path, "rb") as fh:
            return fh.read()
    return path.read_bytes()


def _is_declared_mbox(rel: PurePosixPath) -> bool:
    return any(rel.match(pattern) for pattern in _MBOX_GLOBS)


def _file_messages(root: Path, rel: PurePosixPath) -> list[tuple[str, bytes]]:
    data = _read(root / rel)
    label = str(rel)
    if _is_declared_mbox(rel):
        return [(f"{label}#{i}", raw) for i, raw in enumerate(split_mbox(data))]
    if rel.parts[0] not in _MAILDIR_FOLDERS and data.removeprefix(_BOM).startswith(b"From "):
        parts = split_mbox(data)
        # A single message with a leading Unix "From " line stays whole: tolerating that line is
        # part of what such fixtures test.
        if len(parts) > 1:
            return [(f"{label}#{i}", raw) for i, raw in enumerate(parts)]
    return [(label, data)]


def iter_corpus_messages() -> Iterator[tuple[str, bytes]]:
    """Every single email message of the corpus as (label, raw bytes), in sorted path order."""
    root = corpus_dir()
    for rel in _message_files(root):
        yield from _file_messages(root, rel)


def corpus_message_count() -> int:
    return sum(1 for _ in iter_corpus_messages())


# --------------------------------------------------------------------------- reference sets


def message_id(raw: bytes) -> str | None:
    """The Message-ID of a raw message without angle brackets, or None when it has none."""
    value = BytesHeaderParser(policy=compat32).parsebytes(raw).get("Message-ID")
    if value is None:
        return None
    value = str(value).strip()
    return value[1:-1] if value.startswith("<") and value.endswith(">") else value or None


def _tsv_rows(path: Path) -> list[dict[str, str]]:
    text = path.read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"), strict=True)) for line in lines[1:]]


def _tsv_note(path: Path) -> str:
    """The 'threads=.. messages=..' comment line of a notmuch TSV (what notmuch itself counted)."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# threads="):
            return line[2:]
    return ""


def _partition(
    rows: list[dict[str, str]], label_of_row: Callable[[dict[str, str]], str]
) -> tuple[frozenset[str], ...]:
    threads: dict[str, set[str]] = {}
    for row in rows:
        threads.setdefault(row["thread"], set()).add(label_of_row(row))
    return tuple(frozenset(members) for members in threads.values())


def _freeze(parents: dict[str, str | None]) -> Mapping[str, str | None]:
    return MappingProxyType(dict(parents))


def _notmuch_set(
    name: str,
    tsv: Path,
    messages: list[tuple[str, bytes]],
    label_of_file: Callable[[str], str],
    note: str,
) -> ReferenceSet:
    """A notmuch-0.37 TSV: one row per unique Message-ID, `files` = every file carrying it."""
    rows = _tsv_rows(tsv)
    order = {label: i for i, (label, _) in enumerate(messages)}
    label_of_mid: dict[str, str] = {}
    for row in rows:
        labels = [label_of_file(f) for f in row["files"].split(";")]
        # Several files with one Message-ID: the expectation is stated on the first delivered.
        label_of_mid[row["message_id"]] = min(labels, key=order.__getitem__)
    threads = _partition(rows, lambda row: label_of_mid[row["message_id"]])
    parents = {
        label_of_mid[row["message_id"]]: (
            None if row["parent_message_id"] == "-" else label_of_mid[row["parent_message_id"]]
        )
        for row in rows
    }
    return ReferenceSet(
        name=name,
        source="notmuch-0.37",
        messages=tuple(messages),
        threads=threads,
        parents=_freeze(parents),
        note=f"{note} ({_tsv_note(tsv)}; References/In-Reply-To only, no subject merging; "
        "parent None = root or child of a missing ghost ancestor)",
    )


def _mbox_messages(root: Path, rel: str) -> list[tuple[str, bytes]]:
    return [(f"{rel}#{i}", raw) for i, raw in enumerate(split_mbox(_read(root / rel)))]


def _folder_messages(root: Path, folder: str) -> list[tuple[str, bytes]]:
    prefix = folder + "/"
    return [
        msg
        for rel in _message_files(root)
        if str(rel).startswith(prefix)
        for msg in _file_messages(root, rel)
    ]


_NOTMUCH_CORPORA = {
    "default": "default",
    "lkml": "lkml",
    "duplicate": "duplicate",
    "broken": "broken",
    "threading_ghost-root": "threading/ghost-root",
    "threading_parent-priority": "threading/parent-priority",
}


def _notmuch_sets(root: Path) -> list[ReferenceSet]:
    base = "notmuch-test-corpora"
    sets = []
    for corpus, folder in _NOTMUCH_CORPORA.items():
        prefix = f"{base}/{folder}"
        sets.append(
            _notmuch_set(
                f"notmuch/{corpus}",
                root / base / "_expected" / f"notmuch-0.37-threads.{corpus}.tsv",
                _folder_messages(root, prefix),
                lambda f, prefix=prefix: f"{prefix}/{f}",
                f"notmuch test corpus {folder}/, one file per message",
            )
        )
    return sets


def _mbox_notmuch_set(root: Path, name: str, mbox: str, tsv: Path, note: str) -> ReferenceSet:
    # These TSVs were computed over the mbox split into files named by 0-based position.
    return _notmuch_set(
        name, tsv, _mbox_messages(root, mbox), lambda f: f"{mbox}#{int(f)}", note
    )


_FEDORA_MBOX = "jwzthreading-fedora-devel/2010-January.txt.gz"


def _fedora_sets(root: Path) -> list[ReferenceSet]:
    expected = root / "jwzthreading-fedora-devel" / "_expected"
    messages = _mbox_messages(root, _FEDORA_MBOX)

    def label(index: str) -> str:
        return f"{_FEDORA_MBOX}#{int(index)}"

    rows = _tsv_rows(expected / "mhonarc-thread-page.2010-January.tsv")
    threads = _partition(rows, lambda row: label(row["msg_index"]))
    parents: dict[str, str | None] = {}
    for row in rows:
        # The page nests at most 3 deep: a depth-3 row may really be deeper, so its parent is
        # only the nearest shown ancestor and is not asserted.
        if row["depth"] == "3":
            continue
        parent = row["parent_msg_index"]
        parents[label(row["msg_index"])] = None if parent == "-" else label(parent)
    mhonarc = ReferenceSet(
        name="fedora-devel/mhonarc",
        source="mhonarc",
        messages=tuple(messages),
        threads=threads,
        parents=_freeze(parents),
        note="MHonArc 'by thread' page of fedora-devel-list 2010-01 (60 threads); uses subject "
        "fallback (joins msgs 153/285 into 'Common Lisp apps in Fedora'); nesting capped at "
        "depth 3, so parents of depth-3 rows are not asserted",
    )
    notmuch = _mbox_notmuch_set(
        root,
        "fedora-devel/notmuch",
        _FEDORA_MBOX,
        expected / "notmuch-0.37-threads.2010-January.tsv",
        "fedora-devel-list 2010-01 pipermail mbox; differs from MHonArc only on "
        "'Common Lisp apps in Fedora' ({153, 248} and {285} split off)",
    )
    return [mhonarc, notmuch]


_TESTBOXES = tuple(
    f"testbox{suffix}" for suffix in ("", "-2", "-3", "-4", "-5", "-6", "-7", "-8", "-9")
)
_EMPTY_CONTAINER = "[ Message not available ]"


def _mail_thread_sets(root: Path) -> list[ReferenceSet]:
    folder = "perl-mail-thread"
    expected = root / folder / "_expected"
    sets = [
        _mbox_notmuch_set(
            root,
            f"mail-thread/{box}",
            f"{folder}/{box}",
            expected / f"notmuch-0.37-threads.{box}.tsv",
            f"Mail::Thread test mbox {box}",
        )
        for box in _TESTBOXES
    ]

    by_test: dict[str, list[dict[str, str]]] = {}
    for row in _tsv_rows(expected / "upstream-Mail-Thread-tests-expected.tsv"):
        by_test.setdefault(row["test"], []).append(row)
    for test, rows in by_test.items():
        box, options = rows[0]["mbox"], rows[0]["options"]
        if test in ("t/5.t", "t/6.t", "t/open-ended.t"):
            continue
        messages = _mbox_messages(root, f"{folder}/{box}")
        label_of_mid = {message_id(raw): label for label, raw in messages}
        threads: list[frozenset[str]] = []
        parents: dict[str, str | None] = {}
        if rows[0]["depth"] == "-":
            # t/7.t only asserts the root count; with a single message that fixes the answer.
            if len(messages) != 1 or rows[0]["expected_root_count"] != "1":
                raise ValueError(f"{test}: cannot map a bare root count onto {box}")
            threads = [frozenset({messages[0][0]})]
            parents = {messages[0][0]: None}
        else:
            # Rows are a depth-first dump: the ancestor chain is a stack indexed by depth.
            chain: list[str | None] = []
            current: set[str] = set()
            for row in rows:
                depth = int(row["depth"])
                if depth == 0 and current:
                    threads.append(frozenset(current))
                    current = set()
                del chain[depth:]
                if row["subject"] == _EMPTY_CONTAINER:
                    chain.append(None)
                    continue
                label = label_of_mid[row["message_id"]]
                current.add(label)
                # A child of an empty container counts as a root, in the same thread.
                parents[label] = chain[-1] if chain else None
                chain.append(label)
            if current:
                threads.append(frozenset(current))
        sets.append(
            ReferenceSet(
                name=f"mail-thread/upstream/{test}",
                source="mail-thread-upstream",
                messages=tuple(messages),
                threads=tuple(threads),
                parents=_freeze(parents),
                note=f"Mail::Thread (JWZ) {test} on {box}, options: {options}; "
                f"expected root count {rows[0]['expected_root_count']}; empty containers "
                "dropped (their children are roots of the same thread)",
            )
        )
    return sets


def _mail_box_sets(root: Path) -> list[ReferenceSet]:
    return [
        _mbox_notmuch_set(
            root,
            "mail-box/notmuch",
            "perl-mail-box/mbox.src",
            root / "perl-mail-box" / "_expected" / "notmuch-0.37-threads.mbox.src.tsv",
            "Mail::Box mbox.src, ImageMagick list 2000 (mbox.win is the same with CRLF, not "
            "included here)",
        )
    ]


_DOVECOT_SCRIPTS = ("thread", "thread2", "thread3", "thread4", "thread6", "thread7")
_TOKEN_RE = re.compile(r"\(|\)|\d+")


def parse_imap_thread(response: str) -> tuple[list[set[int]], dict[int, int | None]]:
    """Parse an RFC 5256 THREAD response ("* THREAD (1 (2 4)(3))") into threads and parents.

    "(a b c)" is a chain a->b->c; "(a (b)(c))" gives a the children b and c; a nested list with
    no leading number ("((1)(2))") has a missing common parent, so its members are roots.
    """
    tokens = _TOKEN_RE.findall(response.split(None, 2)[2])
    pos = 0
    parents: dict[int, int | None] = {}

    def thread_list(parent: int | None, members: set[int]) -> None:
        nonlocal pos
        if tokens[pos] != "(":
            raise ValueError(f"bad THREAD response: {response!r}")
        pos += 1
        last = parent
        while tokens[pos] != ")":
            if tokens[pos] == "(":
                thread_list(last, members)
            else:
                number = int(tokens[pos])
                parents[number] = last
                members.add(number)
                last = number
                pos += 1
        pos += 1

    threads = []
    while pos < len(tokens):
        members: set[int] = set()
        thread_list(None, members)
        threads.append(members)
    return threads, parents


def _first_references_answer(script: str) -> str:
    lines = [line.strip() for line in script.splitlines() if line.strip()]
    for i, line in enumerate(lines):
        if line.lower().startswith(("ok store", "ok expunge", "ok append", "state:")):
            break
        if line.lower().startswith("ok thread references"):
            return lines[i + 1]
    raise ValueError("no THREAD REFERENCES answer on the full mailbox")


def _dovecot_sets(root: Path) -> list[ReferenceSet]:
    sets = []
    for script in _DOVECOT_SCRIPTS:
        mbox = f"{_DOVECOT_DIR}/{script}.mbox"
        messages = _mbox_messages(root, mbox)
        script_text = (root / _DOVECOT_DIR / script).read_text(encoding="utf-8")
        answer = _first_references_answer(script_text)
        numbered, numbered_parents = parse_imap_thread(answer)

        def label(number: int, mbox: str = mbox) -> str:
            return f"{mbox}#{number - 1}"  # IMAP sequence numbers are 1-based

        sets.append(
            ReferenceSet(
                name=f"dovecot/{script}",
                source="dovecot-imaptest",
                messages=tuple(messages),
                threads=tuple(frozenset(label(n) for n in members) for members in numbered),
                parents=_freeze(
                    {label(n): None if p is None else label(p) for n, p in numbered_parents.items()}
                ),
                note=f"IMAP THREAD=REFERENCES (RFC 5256) expected '{answer}'; REFERENCES also "
                "groups by base subject, and duplicate Message-IDs count as distinct messages",
            )
        )
    return sets


@functools.cache
def _reference_sets(root: Path) -> tuple[ReferenceSet, ...]:
    return tuple(
        _notmuch_sets(root)
        + _fedora_sets(root)
        + _mail_thread_sets(root)
        + _mail_box_sets(root)
        + _dovecot_sets(root)
    )


def reference_sets() -> list[ReferenceSet]:
    """Every reference threading answer shipped with the corpus, on iter_corpus_messages labels."""
    return list(_reference_sets(corpus_dir()))
