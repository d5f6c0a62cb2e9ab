"""The `relais` command as an operator uses it: a config file, then init, members import,
archive import and topics, checking what it prints and what it stores."""

from __future__ import annotations

import json
import mailbox
from pathlib import Path

import pytest

from mailfactory import make_mail
from relais.cli import main
from storage.db import session_scope
from storage.models import DeliveryMode, Person, Role
from storage.people import person_by_address


@pytest.fixture
def config_file(make_config, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    config = make_config()
    path = tmp_path / "relais.toml"
    path.write_text(f'[forum]\naddress = "forum@example.org"\n'
                    f'[storage]\ndatabase_url = "{config.database_url}"\n'
                    f'[search]\nindex_dir = "{tmp_path / "index"}"\n')
    return path


def relais(config_file: Path, *args: str) -> int:
    return main(["--config", str(config_file), *args])


def test_init_creates_the_database_and_index_and_can_run_again(config_file, tmp_path, capsys):
    assert relais(config_file, "init") == 0
    assert relais(config_file, "init") == 0
    out = capsys.readouterr().out
    assert out.count("Database ready") == 2 and (tmp_path / "index").is_dir()


MEMBERS = """email,name,organisation,organisation_kind,role
alice@example.org,Alice Martin,Eurométropole de Strasbourg,member,member
Bob@Example.org,Bob Weber,Landkreis Lörrach,member,moderator
not-an-address,Nobody,Somewhere,member,member
carol@prefecture.example.fr,Carol Petit,Préfecture du Grand Est,state,member
dave@example.org,Dave,MOT,agency,member
erin@mot.example.org,Erin Roux,Mission opérationnelle transfrontalière,team,admin
alice@example.org,Alice again,Eurométropole de Strasbourg,member,member
frank@example.org,Frank,Somewhere,member,king
"""


def test_members_import_reports_created_updated_invalid_with_line_numbers(config_file, tmp_path, capsys, make_config):
    csv_file = tmp_path / "members.csv"
    csv_file.write_text(MEMBERS, encoding="utf-8")
    assert relais(config_file, "members", "import", str(csv_file)) == 1  # some rows are invalid
    captured = capsys.readouterr()
    assert "members: 4 created, 0 updated, 4 invalid" in captured.out
    for line, field in ((4, "email"), (6, "organisation_kind"), (8, "email"), (9, "role")):
        assert f"line {line}: invalid: {field}" in captured.err

    # Idempotent: a second run updates, creates nothing.
    assert relais(config_file, "members", "import", str(csv_file)) == 1
    assert "members: 0 created, 4 updated, 4 invalid" in capsys.readouterr().out

    from storage.instance import initialise
    engine = initialise(make_config())
    with session_scope(engine) as db:
        bob = person_by_address(db, "bob@example.org")
        assert bob.role is Role.MODERATOR and bob.organisation.name == "Landkreis Lörrach"
        carol = person_by_address(db, "carol@prefecture.example.fr")
        assert carol.organisation.kind.value == "state"
        assert carol.subscription.mode is DeliveryMode.ALL
        assert db.query(Person).count() == 4
    engine.dispose()


def write_archive(tmp_path: Path) -> tuple[Path, Path, Path]:
    root = make_mail("Frontaliers : assurance chômage", message_id="root@x", sender="alice@example.org")
    reply = make_mail("Re: Frontaliers : assurance chômage", message_id="reply@x", sender="paul@elsewhere.example",
                      in_reply_to="root@x", references=["root@x"], date="Tue, 24 Nov 2026 10:00:00 +0100")
    other = make_mail("Transport scolaire", message_id="other@x", sender="zoe@elsewhere.example")
    box_path = tmp_path / "archive.mbox"
    box = mailbox.mbox(box_path)
    for raw in (reply, root):  # the reply first: the parent arrives after it
        box.add(raw)
    box.close()
    maildir = mailbox.Maildir(tmp_path / "maildir")
    maildir.add(other)
    folder = tmp_path / "eml"
    folder.mkdir()
    (folder / "1.eml").write_bytes(other)
    (folder / "garbage.eml").write_bytes(b"\x00\x01 not a message at all")
    return box_path, tmp_path / "maildir", folder


def test_import_threads_an_mbox_is_idempotent_and_reports(config_file, tmp_path, capsys):
    box_path, maildir, folder = write_archive(tmp_path)
    assert relais(config_file, "import", str(box_path), "--quiet") == 0
    assert "import: 2 imported, 0 duplicates, 0 unreadable (of 2 messages)" in capsys.readouterr().out
    assert relais(config_file, "import", str(box_path), "--quiet") == 0
    assert "import: 0 imported, 2 duplicates, 0 unreadable (of 2 messages)" in capsys.readouterr().out
    assert relais(config_file, "import", str(maildir), "--quiet") == 0
    assert "1 imported" in capsys.readouterr().out
    assert relais(config_file, "import", str(folder), "--quiet") == 0
    out, err = capsys.readouterr()
    assert "0 imported, 1 duplicates, 1 unreadable (of 2 messages)" in out and "garbage.eml" in err

    assert relais(config_file, "topics", "list", "--json") == 0
    topics = json.loads(capsys.readouterr().out)
    assert sorted((t["subject"], t["messages"], t["status"]) for t in topics) == [
        ("Frontaliers : assurance chômage", 2, "open"), ("Transport scolaire", 1, "open")]
    assert set(topics[0]) == {"id", "subject", "status", "resolution", "category", "messages",
                              "created", "last_activity"}
    frontaliers = next(t for t in topics if t["messages"] == 2)
    assert relais(config_file, "topics", "show", str(frontaliers["id"]), "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert [(m["message_id"], m["parent"]) for m in shown["messages"]] == [("root@x", None), ("reply@x", "root@x")]


def test_imported_authors_who_are_not_members_get_no_rights(config_file, tmp_path, make_config):
    box_path, _, _ = write_archive(tmp_path)
    assert relais(config_file, "import", str(box_path), "--quiet") == 0
    from storage.instance import initialise
    engine = initialise(make_config())
    with session_scope(engine) as db:
        paul = person_by_address(db, "paul@elsewhere.example")
        assert paul.role is Role.ARCHIVE and not paul.is_member and paul.subscription is None
    engine.dispose()


def test_topics_list_text_and_a_missing_topic(config_file, tmp_path, capsys):
    box_path, _, _ = write_archive(tmp_path)
    relais(config_file, "import", str(box_path), "--quiet")
    capsys.readouterr()
    assert relais(config_file, "topics", "list") == 0
    out = capsys.readouterr().out
    assert "Frontaliers : assurance chômage" in out and "1 topics" in out
    assert relais(config_file, "topics", "show", "999") == 1
    assert "no topic 999" in capsys.readouterr().err


def test_import_of_a_missing_path_says_so(config_file, capsys):
    assert relais(config_file, "import", "/nonexistent/archive.mbox") == 2
    assert "no such file or folder" in capsys.readouterr().err
