"""Benchmark of the SMTP ingest path: Relais's gateway against a bare aiosmtpd server.

Generates N forum-like messages in memory (threads, French bodies, a few HTML parts and
attachments), sends them over SMTP on 127.0.0.1 with C concurrent clients to

1. a bare aiosmtpd server that only counts the bytes (the baseline),
2. a fresh in-process Relais instance (members registered, gateway started),
3. the bare server again (machines are shared and noisy: the baseline is the mean of 1 and 3),

then checks that Relais stored every message and threaded it as generated (rows, topics,
every message's topic and parent), and prints msgs/s and the ratio Relais / baseline.

    .venv/bin/python bench/ingest.py [--messages N] [--clients C] [--database-url URL] [--seed S] [--json]
    .venv/bin/python bench/ingest.py --profile [--messages N]   # cProfile of the pipeline, no SMTP

The exit status is 0 whether the goal is met or not (this is a measurement); it is non-zero
only if sending failed or the stored messages are not threaded as generated.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import argparse  # noqa: E402
import cProfile  # noqa: E402
import email.policy  # noqa: E402
import email.utils  # noqa: E402
import html  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import pstats  # noqa: E402
import random  # noqa: E402
import secrets  # noqa: E402
import smtplib  # noqa: E402
import socket  # noqa: E402
import tempfile  # noqa: E402
import textwrap  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import datetime, timedelta, timezone  # noqa: E402
from email.message import EmailMessage  # noqa: E402

FORUM_ADDRESS = "forum@example.org"
HOST = "127.0.0.1"
MEMBERS = 50
NEW_TOPIC_SHARE = 0.15
MAX_DEPTH = 8
GOAL = 0.50  # Relais at least half as fast as bare aiosmtpd, with SQLite

# --------------------------------------------------------------------------- messages

FIRST_NAMES = ["Amélie", "Benoît", "Cécile", "Dominique", "Élise", "François", "Gaëlle", "Hélène",
               "Jérôme", "Laurène", "Mathieu", "Noémie", "Pascal", "Régis", "Sébastien", "Thérèse",
               "Anaïs", "Jürgen", "Sören", "Zoé"]
LAST_NAMES = ["Dupré", "Lefèvre", "Müller", "Bérard", "Schäfer", "Girard", "Fauré", "Rémy",
              "Köhler", "Mercier", "Noël", "Lemaître", "Vogel", "Chevalier", "Hénaff"]

WORDS = (
    "frontalier frontaliers travailleurs travailleur obstacle obstacles coopération transfrontalière "
    "réglementation fiscalité imposition sécurité sociale assurance chômage retraite télétravail "
    "prestations familiales employeur salarié indépendant détachement formulaire attestation "
    "administration préfecture caisse primaire dossier procédure délai réponse instruction "
    "convention bilatérale accord-cadre règlement européen coordination interprétation jurisprudence "
    "eurodistrict agglomération mobilité transports horaires ligne desserte gare navette "
    "apprentissage diplôme reconnaissance qualification équivalence santé hôpital urgences "
    "remboursement carte vitale médecin soins frontière commune collectivité département région "
    "canton land ministère services compétents réunion groupe travail synthèse compte-rendu "
    "proposition solution étude difficulté situation cas concret exemple habitants entreprises "
    "élus partenaires réseau observatoire statistiques données enquête questionnaire "
    "échéance calendrier financement subvention programme Interreg projet pilote expérimentation "
    "évaluation recommandations modification décret arrêté circulaire notification demande "
    "bénéficiaires droits obligations conditions critères résidence domicile fiscal double "
    "imposition crédit d'impôt déclaration revenus seuil plafond exonération période transitoire"
).split()
CONNECTORS = ["en effet", "par ailleurs", "toutefois", "de plus", "en revanche", "à cet égard",
              "néanmoins", "en l'état", "à ce stade", "dans ce cadre", "selon nos informations"]
TOPIC_SUBJECTS = [
    "Télétravail des frontaliers : seuil de 25 %", "Reconnaissance des diplômes d'aide-soignant",
    "Carte vitale et soins programmés de l'autre côté", "Desserte ferroviaire du dimanche soir",
    "Double imposition des indemnités de chômage", "Accès aux urgences pour les non-résidents",
    "Apprentissage transfrontalier : statut de l'apprenti", "Allocations familiales : pièces demandées",
    "Détachement de salariés : formulaire A1", "Retraite : totalisation des périodes",
    "Crédit d'impôt et résidence fiscale", "Navette de l'eurodistrict : horaires d'été",
    "Subvention Interreg : calendrier de dépôt", "Observatoire : enquête auprès des habitants",
    "Interprétation du règlement 883/2004", "Délai de réponse de la caisse primaire",
]
REPLY_PREFIXES = ["Re: ", "Re: ", "Re: ", "RE: ", "AW: ", "RE : ", "Réf. : "]
ATTACHMENTS = [("compte-rendu.pdf", "application", "pdf"), ("tableau.xlsx", "application",
               "vnd.openxmlformats-officedocument.spreadsheetml.sheet"), ("carte.png", "image", "png"),
               ("courrier signé.pdf", "application", "pdf")]


@dataclass(frozen=True)
class Member:
    email: str
    name: str
    organisation: str


@dataclass
class Generated:
    index: int
    message_id: str          # without angle brackets, as Relais stores it
    topic: int               # index of the generated topic
    parent: int | None       # index of the generated parent message
    depth: int
    mail_from: str
    raw: bytes = b""
    kind: str = "plain"      # plain | alternative | attachment | alternative+attachment


@dataclass
class Workload:
    messages: list[Generated]
    topics: int
    members: list[Member]
    total_bytes: int = field(init=False)

    def __post_init__(self) -> None:
        self.total_bytes = sum(len(m.raw) for m in self.messages)


def make_members() -> list[Member]:
    members = []
    for i in range(MEMBERS):
        name = f"{FIRST_NAMES[i % len(FIRST_NAMES)]} {LAST_NAMES[(i * 7) % len(LAST_NAMES)]}"
        members.append(Member(f"member{i}@org{i % 10}.example", name, f"Organisation {i % 10}"))
    return members


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(7, 18))]
    if rng.random() < 0.35:
        words.insert(rng.randint(1, len(words) - 1), rng.choice(CONNECTORS) + ",")
    if rng.random() < 0.3:
        words[rng.randint(2, len(words) - 1)] += ","
    text = " ".join(words).rstrip(",")
    return text[0].upper() + text[1:] + rng.choice(".........?!")


def _body(rng: random.Random, author: Member, quoted: tuple[Member, datetime, str] | None) -> str:
    # Lengths skewed to short messages, as on a real list: most a few hundred characters.
    target = int(min(3000, max(300, rng.lognormvariate(6.6, 0.6))))
    paragraphs: list[str] = []
    length = 0
    while length < target:
        para = " ".join(_sentence(rng) for _ in range(rng.randint(1, 4)))
        if length + len(para) > target + 200:  # cut the last paragraph at a word
            para = para[: max(60, target - length)].rsplit(" ", 1)[0].rstrip(",") + "."
        paragraphs.append(textwrap.fill(para, 72))
        length += len(para) + 2
    parts = [rng.choice(["Bonjour,", "Bonjour à tous,", "Chers collègues,", "Bonjour à toutes et à tous,"])]
    parts += paragraphs
    parts.append(f"Cordialement,\n{author.name}\n{author.organisation}")
    text = "\n\n".join(parts)
    if quoted is not None:
        who, when, parent_text = quoted
        lines = [ln for ln in parent_text.splitlines() if ln.strip()][: rng.randint(2, 8)]
        intro = f"Le {when.strftime('%d/%m/%Y à %H:%M')}, {who.name} <{who.email}> a écrit :"
        text += "\n\n" + intro + "\n" + "\n".join(("> " + ln) if not ln.startswith(">") else (">" + ln)
                                                  for ln in lines)
    return text + "\n"


def _html(text: str) -> str:
    paras = [f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in text.split("\n\n")]
    return "<html><body>\n" + "\n".join(paras) + "\n</body></html>\n"


def _pick_topic(rng: random.Random, activity: list[int]) -> int:
    """A topic to reply in: mostly one of the recently active, sometimes any older one."""
    if rng.random() < 0.75:
        recent = sorted(range(len(activity)), key=lambda t: activity[t], reverse=True)[:12]
        # Geometric weights: the most recently active topic is the most likely.
        weights = [0.7 ** k for k in range(len(recent))]
        return rng.choices(recent, weights)[0]
    return rng.randrange(len(activity))


def generate(n: int, seed: int, run_tag: str) -> Workload:
    rng = random.Random(seed)
    members = make_members()
    start = datetime(2024, 3, 4, 8, 0, tzinfo=timezone.utc)
    gen: list[Generated] = []
    bodies: list[str] = []
    authors: list[Member] = []         # per message
    dates: list[datetime] = []         # per message
    refs: list[list[str]] = []         # per message: References (ids without brackets)
    topic_messages: list[list[int]] = []
    topic_subject: list[str] = []
    activity: list[int] = []           # per topic: index of its last message
    when = start
    for i in range(n):
        when += timedelta(seconds=rng.randint(20, 900))
        author = members[min(int(rng.paretovariate(1.2)) - 1, MEMBERS - 1) if rng.random() < 0.5
                         else rng.randrange(MEMBERS)]
        domain = author.email.rpartition("@")[2]
        message_id = f"{run_tag}.{i:06d}.{rng.getrandbits(32):08x}@{domain}"
        new_topic = i == 0 or rng.random() < NEW_TOPIC_SHARE
        if new_topic:
            topic = len(topic_messages)
            subject = f"{rng.choice(TOPIC_SUBJECTS)} ({topic + 1})"
            topic_messages.append([])
            topic_subject.append(subject)
            activity.append(i)
            parent, depth, references, quoted = None, 0, [], None
        else:
            topic = _pick_topic(rng, activity)
            members_of_topic = [m for m in topic_messages[topic] if gen[m].depth < MAX_DEPTH]
            # Most replies answer the latest message of the topic; others an earlier one.
            parent = members_of_topic[-1] if rng.random() < 0.55 else rng.choice(members_of_topic)
            depth = gen[parent].depth + 1
            references = [*refs[parent], gen[parent].message_id]
            base = topic_subject[topic]
            subject = base if rng.random() < 0.05 else rng.choice(REPLY_PREFIXES) + base
            quoted = (authors[parent], dates[parent], bodies[parent]) if rng.random() < 0.25 else None
        body = _body(rng, author, quoted)

        msg = EmailMessage()
        msg["From"] = email.utils.formataddr((author.name, author.email))
        msg["To"] = f"Forum Relais <{FORUM_ADDRESS}>"
        msg["Subject"] = subject
        msg["Date"] = email.utils.format_datetime(when)
        msg["Message-ID"] = f"<{message_id}>"
        if parent is not None:
            msg["In-Reply-To"] = f"<{gen[parent].message_id}>"
            msg["References"] = " ".join(f"<{r}>" for r in references)
        msg["User-Agent"] = rng.choice(["Mozilla Thunderbird 115.8", "Microsoft Outlook 16.0",
                                        "Roundcube Webmail/1.6.6", "Apple Mail (2.3774)"])
        msg.set_content(body)
        kind = "plain"
        if rng.random() < 0.05:
            msg.add_alternative(_html(body), subtype="html")
            kind = "alternative"
        if rng.random() < 0.02:
            filename, maintype, subtype = rng.choice(ATTACHMENTS)
            msg.add_attachment(rng.randbytes(rng.randint(2_000, 30_000)), maintype=maintype,
                               subtype=subtype, filename=filename)
            kind = "attachment" if kind == "plain" else kind + "+attachment"
        raw = msg.as_bytes(policy=email.policy.SMTP)  # CRLF line ends, as an MTA sends

        gen.append(Generated(i, message_id, topic, parent, depth, author.email, raw, kind))
        bodies.append(body)
        authors.append(author)
        dates.append(when)
        refs.append(references)
        topic_messages[topic].append(i)
        activity[topic] = i
    return Workload(gen, len(topic_messages), members)


# --------------------------------------------------------------------------- SMTP clients

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@dataclass
class SendResult:
    sent: int
    seconds: float
    errors: list[str]


def send_all(port: int, messages: list[Generated], clients: int) -> SendResult:
    """Send every message with `clients` threads, one connection each, round-robin shares.

    Timed from when every client is connected until the last DATA is answered.
    """
    shares = [messages[c::clients] for c in range(clients)]
    barrier = threading.Barrier(clients + 1)
    finished = [0.0] * clients
    sent = [0] * clients
    errors: list[str] = []
    lock = threading.Lock()

    def client(c: int) -> None:
        smtp = None
        try:
            smtp = smtplib.SMTP(HOST, port, timeout=300)
            smtp.ehlo("bench.example")
        except Exception as exc:  # still wait at the barrier, so that the others start
            with lock:
                errors.append(f"client {c}: connect: {exc!r}")
            smtp = None
        barrier.wait()
        if smtp is None:
            return
        for m in shares[c]:
            try:
                smtp.sendmail(m.mail_from, [FORUM_ADDRESS], m.raw)
                sent[c] += 1
            except smtplib.SMTPResponseException as exc:
                with lock:
                    errors.append(f"message {m.index} <{m.message_id}>: {exc.smtp_code} {exc.smtp_error!r}")
                smtp.rset()
            except Exception as exc:
                with lock:
                    errors.append(f"client {c}: message {m.index}: {exc!r}; client stopped")
                break
        finished[c] = time.perf_counter()
        try:
            smtp.quit()
        except Exception:
            pass

    threads = [threading.Thread(target=client, args=(c,), name=f"smtp-client-{c}") for c in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    end = max([f for f in finished if f] or [time.perf_counter()])
    return SendResult(sum(sent), end - start, errors)


def send_from_another_process(port: int, messages: list[Generated], clients: int) -> SendResult:
    """send_all in a separate process: real senders are other MTAs, and in-process client
    threads would compete with the server for the interpreter lock (unfairly to the server
    that does more work per message)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(send_all, port, messages, clients).result()


SENDER = send_from_another_process


# --------------------------------------------------------------------------- baseline

class CountingHandler:
    def __init__(self) -> None:
        self.sizes: list[int] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # type: ignore[no-untyped-def]
        self.sizes.append(len(envelope.original_content or b""))
        return "250 OK"


def run_baseline(workload: Workload, clients: int) -> SendResult:
    from aiosmtpd.controller import Controller

    handler = CountingHandler()
    controller = Controller(handler, hostname=HOST, port=free_port(), decode_data=False,
                            enable_SMTPUTF8=True, ready_timeout=10)
    controller.start()
    try:
        result = SENDER(controller.port, workload.messages, clients)
    finally:
        controller.stop()
    if len(handler.sizes) != result.sent:
        result.errors.append(f"baseline server counted {len(handler.sizes)} messages, clients sent {result.sent}")
    return result


# --------------------------------------------------------------------------- Relais

@dataclass
class Instance:
    config: object
    engine: object
    secret: str


def make_instance(database_url: str, tmpdir: Path, members: list[Member]) -> Instance:
    from storage.config import config_from_mapping, secret_key
    from storage.db import session_scope
    from storage.instance import initialise
    from storage.models import DeliveryMode, OrganisationKind, Role
    from storage.people import MemberRow, upsert_member

    cfg = config_from_mapping({"forum": {"address": FORUM_ADDRESS}, "storage": {"database_url": database_url}},
                              base_dir=tmpdir)
    engine = initialise(cfg)
    with session_scope(engine) as s:
        for m in members:
            upsert_member(s, MemberRow(m.email, m.name, m.organisation, OrganisationKind.MEMBER, Role.MEMBER),
                          DeliveryMode.ALL)
    return Instance(cfg, engine, secret_key(cfg))


def counts(engine) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    from sqlalchemy import func, select

    from storage.db import session_scope
    from storage.models import Message, Topic

    with session_scope(engine, readonly=True) as s:
        return (s.scalar(select(func.count()).select_from(Message)) or 0,
                s.scalar(select(func.count()).select_from(Topic)) or 0)


def check_threading(engine, workload: Workload) -> list[str]:  # type: ignore[no-untyped-def]
    """Every generated topic is one stored topic, and every message has the generated parent."""
    from sqlalchemy import select
    from sqlalchemy.orm import aliased

    from storage.db import session_scope
    from storage.models import Message

    parent = aliased(Message)
    ids = [m.message_id for m in workload.messages]
    stored: dict[str, tuple[int, str | None]] = {}
    with session_scope(engine, readonly=True) as s:
        for start in range(0, len(ids), 500):
            rows = s.execute(
                select(Message.message_id, Message.topic_id, parent.message_id)
                .outerjoin(parent, parent.id == Message.parent_id)
                .where(Message.message_id.in_(ids[start:start + 500])))
            stored.update({mid: (topic_id, parent_mid) for mid, topic_id, parent_mid in rows})
    problems: list[str] = []
    missing = [m for m in workload.messages if m.message_id not in stored]
    if missing:
        problems.append(f"{len(missing)} messages not stored, e.g. #{missing[0].index} <{missing[0].message_id}>")
    topic_of: dict[int, set[int]] = {}
    wrong_parents = []
    for m in workload.messages:
        if m.message_id not in stored:
            continue
        topic_id, parent_mid = stored[m.message_id]
        topic_of.setdefault(m.topic, set()).add(topic_id)
        expected = None if m.parent is None else workload.messages[m.parent].message_id
        if parent_mid != expected:
            wrong_parents.append(f"#{m.index} <{m.message_id}>: parent {parent_mid} instead of {expected}")
    split = {t: ids_ for t, ids_ in topic_of.items() if len(ids_) > 1}
    if split:
        t, ids_ = next(iter(split.items()))
        problems.append(f"{len(split)} generated topics split over several stored topics, e.g. #{t} -> {sorted(ids_)}")
    owners: dict[int, list[int]] = {}
    for t, ids_ in topic_of.items():
        for tid in ids_:
            owners.setdefault(tid, []).append(t)
    merged = {tid: ts for tid, ts in owners.items() if len(ts) > 1}
    if merged:
        tid, ts = next(iter(merged.items()))
        problems.append(f"{len(merged)} stored topics hold several generated topics, e.g. topic {tid} <- {ts[:5]}")
    if wrong_parents:
        problems.append(f"{len(wrong_parents)} messages with a wrong parent, e.g. " + "; ".join(wrong_parents[:3]))
    return problems


@dataclass
class RelaisResult:
    send: SendResult
    messages_before: int
    topics_before: int
    messages_stored: int
    topics_stored: int
    problems: list[str]
    db_bytes: int | None
    wal_bytes: int | None


def run_relais(workload: Workload, clients: int, database_url: str, tmpdir: Path) -> RelaisResult:
    from mailgateway.server import start_gateway

    inst = make_instance(database_url, tmpdir, workload.members)
    engine = inst.engine
    messages_before, topics_before = counts(engine)
    controller = start_gateway(inst.config, inst.secret, host=HOST, port=free_port())
    try:
        send = SENDER(controller.port, workload.messages, clients)
    finally:
        controller.stop()
    messages_after, topics_after = counts(engine)
    problems = check_threading(engine, workload)
    engine.dispose()  # closes the connections: SQLite checkpoints the WAL into the file
    db_bytes = wal_bytes = None
    if engine.url.get_backend_name() == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        db_path = Path(engine.url.database)
        db_bytes = db_path.stat().st_size if db_path.exists() else None
        wal = db_path.with_name(db_path.name + "-wal")
        wal_bytes = wal.stat().st_size if wal.exists() else 0
    return RelaisResult(send, messages_before, topics_before, messages_after - messages_before,
                        topics_after - topics_before, problems, db_bytes, wal_bytes)


# --------------------------------------------------------------------------- profile

def profile(workload: Workload, database_url: str, tmpdir: Path, top: int) -> None:
    """Run mailgateway.ingest.receive (what the ingest writer runs for each DATA), one
    transaction per message, under cProfile."""
    from mailgateway.addresses import classify
    from mailgateway.ingest import receive
    from storage.db import session_scope
    from storage.models import utcnow

    inst = make_instance(database_url, tmpdir, workload.members)
    recipients = [classify(inst.config, inst.secret, FORUM_ADDRESS)]
    replies: dict[str, int] = {}
    prof = cProfile.Profile()
    start = time.perf_counter()
    prof.enable()
    for m in workload.messages:
        with session_scope(inst.engine) as db:
            reply = receive(db, inst.config, inst.secret, m.raw, m.mail_from, recipients, utcnow())
        replies[reply[:3]] = replies.get(reply[:3], 0) + 1
    prof.disable()
    seconds = time.perf_counter() - start
    n = len(workload.messages)
    print(f"profile: {n} messages through mailgateway.ingest.receive in {seconds:.2f} s "
          f"= {n / seconds:.0f} msgs/s (under cProfile); replies {replies}")
    messages_stored, topics_stored = counts(inst.engine)
    print(f"  stored {messages_stored} messages, {topics_stored} topics (generated {workload.topics})")
    for order in ("cumulative", "tottime"):
        out = io.StringIO()
        stats = pstats.Stats(prof, stream=out)
        stats.strip_dirs().sort_stats(order).print_stats(top)
        print(out.getvalue())
    inst.engine.dispose()


# --------------------------------------------------------------------------- main

def rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="SMTP ingest benchmark: Relais's gateway against bare aiosmtpd.")
    p.add_argument("--messages", type=int, default=2000, metavar="N", help="messages to send (default 2000)")
    p.add_argument("--clients", type=int, default=4, metavar="C",
                   help="concurrent SMTP client threads, one connection each (default 4)")
    p.add_argument("--database-url", metavar="URL",
                   help="Relais database (default: a fresh SQLite file in a temporary folder); "
                        "must be a database Relais may create its schema in")
    p.add_argument("--seed", type=int, default=1, help="seed of the generated messages (default 1)")
    p.add_argument("--json", action="store_true", help="also print the figures as one JSON object")
    p.add_argument("--in-process-clients", action="store_true",
                   help="run the SMTP clients as threads of the benchmark's own process "
                        "(default: in a separate process, as real senders are)")
    p.add_argument("--profile", action="store_true",
                   help="instead of the benchmark, run the pipeline in-process (no SMTP) under cProfile")
    p.add_argument("--profile-top", type=int, default=30, metavar="K", help="rows of the profile (default 30)")
    args = p.parse_args(argv)
    if args.messages < 1 or args.clients < 1:
        p.error("--messages and --clients must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    global SENDER
    args = parse_args(argv)
    if args.in_process_clients:
        SENDER = send_all
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("mail.log").setLevel(logging.WARNING)

    with tempfile.TemporaryDirectory(prefix="relais-bench-") as tmp:
        tmpdir = Path(tmp)
        database_url = args.database_url or f"sqlite:///{tmpdir / 'relais.sqlite3'}"
        # Message-IDs are deterministic by seed; a given (possibly non-empty) database gets a
        # random tag as well, so that a second run is not answered "already received".
        run_tag = f"bench-s{args.seed}" + (f"-{secrets.token_hex(4)}" if args.database_url else "")
        t = time.perf_counter()
        workload = generate(args.messages, args.seed, run_tag)
        gen_seconds = time.perf_counter() - t
        if args.profile:
            profile(workload, database_url, tmpdir, args.profile_top)
            return 0

        kinds: dict[str, int] = {}
        for m in workload.messages:
            kinds[m.kind] = kinds.get(m.kind, 0) + 1
        backend = database_url.partition(":")[0].partition("+")[0]
        print(f"ingest: {args.messages} messages, {args.clients} client{'s' if args.clients != 1 else ''}, {backend}  "
              f"(seed {args.seed}; {workload.topics} topics, max depth {max(m.depth for m in workload.messages)}, "
              f"{workload.total_bytes / 1e6:.1f} MB, "
              + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
              + f"; generated in {gen_seconds:.1f} s)", flush=True)

        base1 = run_baseline(workload, args.clients)
        relais = run_relais(workload, args.clients, database_url, tmpdir)
        base2 = run_baseline(workload, args.clients)

    n = args.messages
    base_rates = [rate(b.sent, b.seconds) for b in (base1, base2)]
    base_rate = sum(base_rates) / 2
    relais_rate = rate(relais.send.sent, relais.send.seconds)
    ratio = relais_rate / base_rate if base_rate else 0.0
    width = len(f"{max(base_rates + [relais_rate]):.0f}")

    def line(label: str, r: SendResult) -> str:
        return f"  {label:<14}: {r.sent} msgs in {r.seconds:.2f} s = {rate(r.sent, r.seconds):{width}.0f} msgs/s"

    print(line("bare aiosmtpd", base1) + "  (before)")
    print(line("relais", relais.send))
    print(line("bare aiosmtpd", base2) + "  (after)")
    print(f"  {'bare (mean)':<14}: {base_rate:.0f} msgs/s")
    if backend == "sqlite":
        verdict = "OK" if ratio >= GOAL else "BELOW GOAL"
        print(f"  {'ratio':<14}: {ratio * 100:.1f} % of bare (goal >= {GOAL * 100:.0f} %)  {verdict}")
    else:
        print(f"  {'ratio':<14}: {ratio * 100:.1f} % of bare (the goal >= {GOAL * 100:.0f} % is for SQLite)")
    print(f"  {'stored':<14}: {relais.messages_stored} messages (sent {n}), "
          f"{relais.topics_stored} topics (generated {workload.topics})")
    if relais.db_bytes is not None:
        print(f"  {'database':<14}: {relais.db_bytes / 1e6:.1f} MB"
              + (f" (+ {relais.wal_bytes / 1e6:.1f} MB WAL)" if relais.wal_bytes else "")
              + f" for {workload.total_bytes / 1e6:.1f} MB of mail")
    if relais.messages_before:
        print(f"  note: the database already held {relais.messages_before} messages; counts are the increase")

    errors = [f"baseline (before): {e}" for e in base1.errors] + [f"relais: {e}" for e in relais.send.errors] \
        + [f"baseline (after): {e}" for e in base2.errors]
    problems = list(relais.problems)
    if relais.messages_stored != n:
        problems.insert(0, f"{relais.messages_stored} messages stored, {n} sent")
    if relais.topics_stored != workload.topics:
        problems.insert(0, f"{relais.topics_stored} topics stored, {workload.topics} generated")
    for e in errors[:20]:
        print(f"  ERROR {e}", file=sys.stderr)
    if len(errors) > 20:
        print(f"  ... and {len(errors) - 20} more errors", file=sys.stderr)
    for p in problems:
        print(f"  WRONG {p}", file=sys.stderr)
    if not errors and not problems:
        print("  threading     : every message stored, in its generated topic, under its generated parent")

    if args.json:
        print(json.dumps({
            "messages": n, "clients": args.clients, "backend": backend, "seed": args.seed,
            "topics_generated": workload.topics, "mail_bytes": workload.total_bytes,
            "baseline_before": {"sent": base1.sent, "seconds": round(base1.seconds, 4),
                                "msgs_per_s": round(base_rates[0], 1)},
            "baseline_after": {"sent": base2.sent, "seconds": round(base2.seconds, 4),
                               "msgs_per_s": round(base_rates[1], 1)},
            "baseline_msgs_per_s": round(base_rate, 1),
            "relais": {"sent": relais.send.sent, "seconds": round(relais.send.seconds, 4),
                       "msgs_per_s": round(relais_rate, 1), "messages_stored": relais.messages_stored,
                       "topics_stored": relais.topics_stored},
            "ratio": round(ratio, 4), "goal": GOAL, "goal_met": (ratio >= GOAL) if backend == "sqlite" else None,
            "database_bytes": relais.db_bytes, "wal_bytes": relais.wal_bytes,
            "errors": errors, "problems": problems,
        }, ensure_ascii=False))
    return 1 if errors or problems else 0


if __name__ == "__main__":
    sys.exit(main())
