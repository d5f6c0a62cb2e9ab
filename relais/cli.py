"""The `relais` command: the operators' stable interface (and our own checks')."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tqdm import tqdm

from mailgateway.erasure import erase_member, rebuild_index_after_erasure
from mailgateway.importer import archive_messages, import_messages
from relais.members_csv import read_member_file
from storage.config import Config, ConfigError, load_config, secret_key
from storage.db import Engine, session_scope
from storage.instance import initialise
from storage.messages import topic_messages
from storage.models import DeliveryMode
from storage.outbound import queue_counts
from storage.people import person_by_address, upsert_member
from storage.personal_data import export_files, personal_data
from storage.search_feed import message_total
from storage.topics import TopicSummary, recent_topics, topic_summary


def _topic_json(t: TopicSummary) -> dict[str, Any]:
    return {"id": t.id, "subject": t.subject, "status": t.status, "resolution": t.resolution,
            "category": t.category, "messages": t.messages, "created": t.created.isoformat(),
            "last_activity": t.last_activity.isoformat()}


@contextmanager
def instance_engine(config: Config) -> Iterator[Engine]:
    """The instance's database, brought up to date, and closed when the command ends."""
    engine = initialise(config)
    try:
        yield engine
    finally:
        engine.dispose()


def cmd_init(config: Config, args: argparse.Namespace) -> int:
    with instance_engine(config):
        pass
    print(f"Database ready: {config.database_url}")
    print(f"Search index ready: {config.index_dir}")
    return 0


def cmd_serve(config: Config, args: argparse.Namespace) -> int:
    from relais.serve import serve

    serve(config)
    return 0


def cmd_members_import(config: Config, args: argparse.Namespace) -> int:
    try:
        member_file = read_member_file(Path(args.file))
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    created = updated = 0
    with instance_engine(config) as engine, session_scope(engine) as db:
        for _line, row in member_file.rows:
            if upsert_member(db, row, DeliveryMode(config.delivery.default_mode)):
                created += 1
            else:
                updated += 1
    for line, why in member_file.invalid:
        print(f"line {line}: invalid: {why}", file=sys.stderr)
    print(f"members: {created} created, {updated} updated, {len(member_file.invalid)} invalid")
    return 1 if member_file.invalid else 0


def cmd_members_export(config: Config, args: argparse.Namespace) -> int:
    """What the forum holds about a person, into a folder (for the data protection officer)."""
    folder = Path(args.dir)
    with instance_engine(config) as engine, session_scope(engine, readonly=True) as db:
        person = person_by_address(db, args.email)
        data = personal_data(db, person.id) if person is not None else None
    if data is None:
        print(f"error: no member with the address {args.email}", file=sys.stderr)
        return 1
    for name, content in export_files(data).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)
    print(f"export: {len(data.messages)} messages, {len(data.held)} held messages and the records "
          f"written to {folder}")
    return 0


def cmd_members_erase(config: Config, args: argparse.Namespace) -> int:
    policy = args.policy or config.privacy.erasure_policy
    with instance_engine(config) as engine:
        with session_scope(engine, readonly=True) as db:
            person = person_by_address(db, args.email)
            person_id, name = (person.id, person.name) if person is not None else (None, "")
        if person_id is None:
            print(f"error: no member with the address {args.email}", file=sys.stderr)
            return 1
        if not args.yes:
            answer = input(f"Erase {name} <{args.email}> under the {policy!r} policy? "
                           "This cannot be undone. Type 'yes': ")
            if answer.strip().lower() != "yes":
                print("Nothing erased.")
                return 1
        done = erase_member(engine, config, person_id, policy, via="cli")
        assert done is not None
        rebuild_index_after_erasure(engine, config)
    print(f"erased: {done.messages} messages {'redacted' if policy == 'redact' else 'deleted'}, "
          f"{done.others} other messages no longer naming them; search index rebuilt")
    return 0


def cmd_import(config: Config, args: argparse.Namespace) -> int:
    path = Path(args.path)
    if not path.exists():
        print(f"error: no such file or folder: {path}", file=sys.stderr)
        return 2
    total = sum(1 for _ in archive_messages(path))
    with instance_engine(config) as engine, \
            tqdm(total=total, unit="msg", desc="import", disable=args.quiet) as bar:
        summary = import_messages(engine, config, secret_key(config), archive_messages(path), bar.update)
    for label, why in summary.unreadable:
        print(f"unreadable: {label}: {why}", file=sys.stderr)
    print(f"import: {summary.imported} imported, {summary.duplicates} duplicates, "
          f"{len(summary.unreadable)} unreadable (of {total} messages)")
    return 0


def cmd_topics_list(config: Config, args: argparse.Namespace) -> int:
    with instance_engine(config) as engine, session_scope(engine, readonly=True) as db:
        topics = recent_topics(db)
    if args.json:
        print(json.dumps([_topic_json(t) for t in topics], ensure_ascii=False, indent=2))
    else:
        for t in topics:
            state = t.status + (f" ({t.resolution})" if t.resolution else "")
            print(f"#{t.id:<6} {t.last_activity:%Y-%m-%d %H:%M}  {t.messages:>4} msg  {state:<10} "
                  f"{t.category or '-':<20} {t.subject}")
        print(f"{len(topics)} topics")
    return 0


def cmd_topics_show(config: Config, args: argparse.Namespace) -> int:
    with instance_engine(config) as engine, session_scope(engine, readonly=True) as db:
        topic = topic_summary(db, args.id)
        if topic is None:
            print(f"error: no topic {args.id}", file=sys.stderr)
            return 1
        by_pk: dict[int, str] = {}
        messages = []
        for m in topic_messages(db, args.id):
            by_pk[m.id] = m.message_id
            messages.append({"message_id": m.message_id, "from": m.from_address, "name": m.from_name,
                             "date": m.date.isoformat(), "subject": m.subject,
                             "parent": by_pk.get(m.parent_id) if m.parent_id else None})
    if args.json:
        print(json.dumps({**_topic_json(topic), "messages": messages}, ensure_ascii=False, indent=2))
    else:
        print(f"#{topic.id} {topic.subject}\nstatus: {topic.status}"
              f"{' (' + topic.resolution + ')' if topic.resolution else ''}\n"
              f"category: {topic.category or '-'}\nmessages: {topic.messages}\n")
        depth: dict[str, int] = {}
        for m in messages:
            depth[m["message_id"]] = depth.get(m["parent"], -1) + 1 if m["parent"] else 0
            print(f"{'  ' * depth[m['message_id']]}{m['date'][:16]}  {m['from']}  {m['subject']}")
    return 0


def cmd_reindex(config: Config, args: argparse.Namespace) -> int:
    from mailgateway.indexer import rebuild_index

    with instance_engine(config) as engine:
        with session_scope(engine, readonly=True) as db:
            total = message_total(db)
        # No monitor thread: the index writer may fork worker processes (--processes).
        tqdm.monitor_interval = 0
        with tqdm(total=total, unit="msg", desc="reindex", disable=args.quiet, mininterval=0.5) as bar:
            name = rebuild_index(engine, config, args.processes, bar.update)
    print(f"reindex: {total} messages indexed into {config.index_dir / name}, now in use")
    return 0


def cmd_queue(config: Config, args: argparse.Namespace) -> int:
    with instance_engine(config) as engine, session_scope(engine, readonly=True) as db:
        counts = queue_counts(db)
    print(json.dumps(counts) if args.json else "  ".join(f"{k}: {v}" for k, v in counts.items()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="relais", description="Relais, a mailing-list-first forum.")
    parser.add_argument("--config", help="config file (default: $RELAIS_CONFIG, else built-in defaults)")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("init", help="create or upgrade the database and the search index").set_defaults(func=cmd_init)
    sub.add_parser("serve", help="run the SMTP gateway, web archive and scheduler").set_defaults(func=cmd_serve)

    members = sub.add_parser("members", help="manage members").add_subparsers(dest="action", required=True)
    members_import = members.add_parser("import", help="add or update members from a CSV file")
    members_import.add_argument("file", help="CSV with columns email,name,organisation,organisation_kind,role")
    members_import.set_defaults(func=cmd_members_import)
    members_export = members.add_parser("export", help="what the forum holds about a person, into a folder")
    members_export.add_argument("email")
    members_export.add_argument("dir")
    members_export.set_defaults(func=cmd_members_export)
    members_erase = members.add_parser("erase", help="erase a person (GDPR): their data, and their name from messages")
    members_erase.add_argument("email")
    members_erase.add_argument("--policy", choices=["redact", "delete"],
                               help="what becomes of their messages (default: privacy.erasure_policy)")
    members_erase.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    members_erase.set_defaults(func=cmd_members_erase)

    archive = sub.add_parser("import", help="import an mbox, a Maildir or a folder of messages")
    archive.add_argument("path")
    archive.add_argument("--quiet", action="store_true", help="no progress bar")
    archive.set_defaults(func=cmd_import)

    topics = sub.add_parser("topics", help="list and show topics").add_subparsers(dest="action", required=True)
    topics_list = topics.add_parser("list", help="all topics, most recently active first")
    topics_list.add_argument("--json", action="store_true")
    topics_list.set_defaults(func=cmd_topics_list)
    topics_show = topics.add_parser("show", help="one topic and its messages in thread order")
    topics_show.add_argument("id", type=int)
    topics_show.add_argument("--json", action="store_true")
    topics_show.set_defaults(func=cmd_topics_show)

    reindex = sub.add_parser("reindex", help="rebuild the search index from the database (searches go on meanwhile)")
    reindex.add_argument("--processes", type=int, help="writer processes (default: search.reindex_processes)")
    reindex.add_argument("--quiet", action="store_true", help="no progress bar")
    reindex.set_defaults(func=cmd_reindex)

    queue = sub.add_parser("queue", help="outgoing queue counts (pending, sent, failed)")
    queue.add_argument("--json", action="store_true")
    queue.set_defaults(func=cmd_queue)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as error:
        print(f"relais: configuration error: {error}", file=sys.stderr)
        return 2
    return args.func(config, args)


if __name__ == "__main__":
    sys.exit(main())
