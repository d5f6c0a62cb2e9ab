"""Benchmark of the web archive's pages at archive scale.

Generates T topics and M messages (default 10,000 and 100,000: thread trees, French bodies
some with quotes and signatures, 20 categories, 300 members in 40 organisations) straight
into a fresh database with bulk inserts, one of the topics holding exactly 200 messages.
Then times, as a signed-in member of a members-only archive (the reader who sees the most),

- the home page `/`, the 200-message topic page, a category page,
- and, as the floor, a static "hello" route added to the same Flask application,
- then the writing forms: POST /topics/new and POST /messages/<id>/reply, each answered
  once the post is built, run through the gateway's steps, stored and queued (a fresh form
  for each, its GET not timed),

each through the WSGI application in-process (Flask's test client) and over HTTP (werkzeug's
threaded server on 127.0.0.1, a new connection per request, as a browser's first visit),
in rounds that time every page once, so that load from elsewhere on the machine falls on
the floor and the pages alike.
Prints the median and 95th percentile of each, and each page's median as a multiple of the
floor's median measured in the same run. Goal: every page's median under 5x the floor's,
and no page's 95th percentile over 100 ms; each POST's 95th percentile under 100 ms.

    .venv/bin/python bench/web.py [--topics T] [--messages M] [--requests N] [--posts P]
                                  [--database-url URL] [--json]

The exit status is 0 whether the goal is met or not (this is a measurement); it is non-zero
only if a page does not answer 200 or does not show what it should.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import argparse  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from datetime import datetime, timedelta, timezone  # noqa: E402

from sqlalchemy import insert  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from archive_web import create_app  # noqa: E402
from storage.config import config_from_mapping  # noqa: E402
from storage.db import session_scope  # noqa: E402
from storage.instance import initialise  # noqa: E402
from storage.models import (  # noqa: E402
    Address,
    Category,
    Message,
    Organisation,
    OrganisationKind,
    Person,
    Role,
    Topic,
    utcnow,
)
from storage.web_sessions import open_web_session  # noqa: E402

BIG_TOPIC = 200
CATEGORIES = 20
ORGANISATIONS = 40
PEOPLE = 300
GOAL_RATIO = 5
GOAL_P95_MS = 100

WORDS = ("frontalier travailleur convention fiscale assurance chômage diplôme reconnaissance "
         "apprentissage transport scolaire santé hôpital préfecture eurodistrict coopération "
         "mobilité emploi formation retraite cotisation sécurité sociale télétravail permis "
         "véhicule douane entreprise artisan agrément infirmier crèche accueil langue").split()


def sentence(rng: random.Random) -> str:
    words = rng.choices(WORDS, k=rng.randint(8, 18))
    return words[0].capitalize() + " " + " ".join(words[1:]) + "."


def body(rng: random.Random, quoted: str | None, signature: str) -> str:
    paragraphs = ["\n".join(sentence(rng) for _ in range(rng.randint(1, 4))) for _ in range(rng.randint(1, 4))]
    text = "Bonjour,\n\n" + "\n\n".join(paragraphs)
    if quoted:
        text += "\n\nLe lundi, quelqu'un a écrit :\n" + "\n".join("> " + line for line in quoted.splitlines()[:8])
    return text + f"\n\n-- \n{signature}\n"


def generate(engine, topics: int, messages: int, seed: int) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    """Fill the database; returns (the 200-message topic's id, a busy category's slug)."""
    rng = random.Random(seed)
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    with session_scope(engine) as db:
        db.execute(insert(Organisation), [
            {"id": i, "name": f"Organisation {i}", "kind": (OrganisationKind.TEAM if i == 1 else
                                                             OrganisationKind.STATE if i <= 4 else OrganisationKind.MEMBER)}
            for i in range(1, ORGANISATIONS + 1)])
        db.execute(insert(Person), [{"id": i, "name": f"Personne {i}", "organisation_id": 1 + i % ORGANISATIONS,
                                     "role": Role.MEMBER} for i in range(1, PEOPLE + 1)])
        db.execute(insert(Address), [{"person_id": i, "email": f"personne{i}@example.org"}
                                     for i in range(1, PEOPLE + 1)])
        db.execute(insert(Category), [{"id": i, "name": f"Catégorie {i}", "slug": f"categorie-{i}"}
                                      for i in range(1, CATEGORIES + 1)])
    # Message counts per topic: one of exactly 200, the rest spread around the mean.
    rest = messages - BIG_TOPIC
    counts = [BIG_TOPIC] + [1] * (topics - 1)
    for _ in range(rest - (topics - 1)):
        counts[1 + rng.randrange(topics - 1)] += 1
    big_topic = topics // 2 + 1  # in the middle of the history, not the newest
    counts[0], counts[big_topic - 1] = counts[big_topic - 1], counts[0]
    message_pk = 0
    topic_rows, message_rows = [], []
    for topic_id in range(1, topics + 1):
        created = start + timedelta(minutes=topic_id * 60)
        subject = sentence(rng)[:70].rstrip(".")
        author = rng.randint(1, PEOPLE)
        first_pk = message_pk + 1
        texts: dict[int, str] = {}
        date = created
        for n in range(counts[topic_id - 1]):
            message_pk += 1
            parent = None if n == 0 else rng.randint(max(first_pk, message_pk - 6), message_pk - 1)
            who = author if n == 0 else rng.randint(1, PEOPLE)
            text = body(rng, texts.get(parent) if parent and rng.random() < 0.5 else None, f"Personne {who}")
            texts[message_pk] = text
            date = date + timedelta(minutes=rng.randint(1, 300))
            mid = f"m{message_pk}@bench.example.org"
            raw = (f"From: Personne {who} <personne{who}@example.org>\r\nTo: forum@example.org\r\n"
                   f"Subject: {'Re: ' if n else ''}{subject}\r\nMessage-ID: <{mid}>\r\n"
                   + (f"In-Reply-To: <m{parent}@bench.example.org>\r\n" if parent else "")
                   + "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
                   "Content-Transfer-Encoding: 8bit\r\n\r\n" + text.replace("\n", "\r\n")).encode()
            message_rows.append({
                "id": message_pk, "message_id": mid, "topic_id": topic_id, "parent_id": parent,
                "author_id": who, "from_name": f"Personne {who}", "from_address": f"personne{who}@example.org",
                "subject": ("Re: " if n else "") + subject, "date": date, "received_at": date, "text": text,
                "in_reply_to": f"m{parent}@bench.example.org" if parent else None, "raw": raw, "indexed_at": date})
        topic_rows.append({"id": topic_id, "subject": subject, "base_subject": subject.lower()[:500],
                           "category_id": 1 + topic_id % CATEGORIES, "author_id": author,
                           "created_at": created, "last_activity_at": date,
                           "status": "open" if topic_id % 3 else "closed",
                           "resolution": None if topic_id % 3 else "solution"})
        if len(message_rows) >= 5000 or topic_id == topics:
            with session_scope(engine) as db:
                if topic_rows:
                    db.execute(insert(Topic), topic_rows)
                db.execute(insert(Message), message_rows)
            topic_rows, message_rows = [], []
    return big_topic, f"categorie-{1 + big_topic % CATEGORIES}"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def one_in_process(client, path: str) -> float:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    response = client.get(path)
    response.get_data()
    elapsed = time.perf_counter() - t0
    if response.status_code != 200:
        raise SystemExit(f"{path} answered {response.status_code}")
    return elapsed


def one_over_http(port: int, path: str, cookie: str) -> float:
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path, headers={"Cookie": cookie})
    response = conn.getresponse()
    response.read()
    conn.close()
    elapsed = time.perf_counter() - t0
    if response.status != 200:
        raise SystemExit(f"{path} answered {response.status} over HTTP")
    return elapsed


_HIDDEN = re.compile(r'name="(csrf_token|form_token)" value="([^"]+)"')


def one_post(client, form_path: str, fields: dict[str, str]) -> float:  # type: ignore[no-untyped-def]
    """A fresh form (not timed), then its POST, answered once the post is stored and queued."""
    hidden = dict(_HIDDEN.findall(client.get(form_path).get_data(as_text=True)))
    t0 = time.perf_counter()
    response = client.post(form_path, data={**hidden, "action": "send", **fields})
    elapsed = time.perf_counter() - t0
    if response.status_code != 302:
        raise SystemExit(f"POST {form_path} answered {response.status_code}")
    return elapsed


def measure_posts(client, n: int, reply_to: int) -> dict[str, list[float]]:  # type: ignore[no-untyped-def]
    durations: dict[str, list[float]] = {"POST /topics/new": [], "POST /messages/<id>/reply": []}
    for i in range(n):
        durations["POST /topics/new"].append(one_post(client, "/topics/new", {
            "subject": f"Obstacle mesuré {i}", "body": "Bonjour,\n\nUn obstacle de plus, écrit sur le web.\n"}))
        durations["POST /messages/<id>/reply"].append(one_post(client, f"/messages/{reply_to}/reply", {
            "body": f"Réponse {i}, écrite sur le web.\n"}))
    return durations


def measure(pages: dict[str, str], n: int, timed) -> dict[str, list[float]]:  # type: ignore[no-untyped-def]
    """n rounds, each timing every page once: a burst of load on this shared machine then
    falls on the floor and the pages alike, and their ratio stays fair."""
    durations: dict[str, list[float]] = {name: [] for name in pages}
    for _ in range(n):
        for name, path in pages.items():
            durations[name].append(timed(path))
    return durations


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--topics", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200, help="timed requests per page and mode")
    parser.add_argument("--posts", type=int, default=200, help="timed POSTs of each writing form")
    parser.add_argument("--database-url", default="", help="an empty database (default: SQLite in a temporary folder)")
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.messages < args.topics - 1 + BIG_TOPIC:
        parser.error("--messages must be at least --topics + 199")

    with tempfile.TemporaryDirectory(prefix="relais-bench-web-") as tmp:
        config = config_from_mapping({
            "forum": {"address": "forum@example.org"}, "archive": {"visibility": "members"},
            "storage": {"database_url": args.database_url or f"sqlite:///{tmp}/relais.sqlite3", "data_dir": tmp},
            "search": {"index_dir": f"{tmp}/index"},
            "web": {"post_limit_per_hour": 1_000_000}}, base_dir=Path(tmp))
        engine = initialise(config)
        t0 = time.perf_counter()
        big_topic, category = generate(engine, args.topics, args.messages, args.seed)
        generated_s = time.perf_counter() - t0
        if not args.json:
            print(f"generated {args.topics} topics, {args.messages} messages in {generated_s:.1f} s", flush=True)

        app = create_app(config, engine)
        app.add_url_rule("/hello", "hello", lambda: "hello")  # the floor: Flask's own cost
        client = app.test_client()
        with session_scope(engine) as db:  # a signed-in member's browser
            sid = open_web_session(db, 1, "mail", "bench", utcnow())
        with client.session_transaction() as session:
            session["sid"] = sid
        cookie = f"relais_session={client.get_cookie('relais_session').value}"
        pages = {"hello (floor)": "/hello", "home": "/", f"topic ({BIG_TOPIC} messages)": f"/topics/{big_topic}",
                 "category": f"/categories/{category}"}
        topic_page = client.get(pages[f"topic ({BIG_TOPIC} messages)"]).get_data(as_text=True)
        if topic_page.count('<article class="message') != BIG_TOPIC:
            raise SystemExit("the topic page does not show its 200 messages")

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        results: dict[str, dict[str, float]] = {}
        try:
            cold = {name: one_in_process(client, path) for name, path in pages.items()}
            in_process = measure(pages, args.requests, lambda path: one_in_process(client, path))
            over_http = measure(pages, args.requests,
                                lambda path: one_over_http(server.server_port, path, cookie))
            posts = measure_posts(client, args.posts, reply_to=1)  # topic 1 is open
        finally:
            server.shutdown()
            engine.dispose()
        for name in pages:
            results[name] = {
                "cold_ms": cold[name] * 1000,
                "wsgi_median_ms": statistics.median(in_process[name]) * 1000,
                "wsgi_p95_ms": percentile(in_process[name], 0.95) * 1000,
                "http_median_ms": statistics.median(over_http[name]) * 1000,
                "http_p95_ms": percentile(over_http[name], 0.95) * 1000}

    posted = {name: {"wsgi_median_ms": statistics.median(d) * 1000, "wsgi_p95_ms": percentile(d, 0.95) * 1000}
              for name, d in posts.items()}
    floor = results["hello (floor)"]
    for figures in results.values():
        figures["wsgi_ratio"] = figures["wsgi_median_ms"] / floor["wsgi_median_ms"]
        figures["http_ratio"] = figures["http_median_ms"] / floor["http_median_ms"]
    if args.json:
        print(json.dumps({"topics": args.topics, "messages": args.messages, "requests": args.requests,
                          "generated_s": generated_s, "pages": results, "posts": posted}, indent=2))
        return 0
    print(f"\n{args.requests} requests per page, as a signed-in member; times in ms")
    print(f"{'page':<24}{'cold':>8}{'WSGI med':>10}{'p95':>8}{'x floor':>9}{'HTTP med':>10}{'p95':>8}{'x floor':>9}")
    for name, f in results.items():
        print(f"{name:<24}{f['cold_ms']:>8.1f}{f['wsgi_median_ms']:>10.2f}{f['wsgi_p95_ms']:>8.2f}"
              f"{f['wsgi_ratio']:>9.1f}{f['http_median_ms']:>10.2f}{f['http_p95_ms']:>8.2f}{f['http_ratio']:>9.1f}")
    pages_only = {k: v for k, v in results.items() if k != "hello (floor)"}
    ratio_ok = all(f["wsgi_ratio"] < GOAL_RATIO and f["http_ratio"] < GOAL_RATIO for f in pages_only.values())
    p95_ok = all(f["wsgi_p95_ms"] <= GOAL_P95_MS and f["http_p95_ms"] <= GOAL_P95_MS for f in pages_only.values())
    print(f"\ngoal: medians under {GOAL_RATIO}x the floor: {'met' if ratio_ok else 'NOT met'}; "
          f"95th percentiles under {GOAL_P95_MS} ms: {'met' if p95_ok else 'NOT met'}")
    print(f"\n{args.posts} POSTs of each form (stored and queued, answered 302); times in ms")
    for name, f in posted.items():
        print(f"{name:<28}{'median':>8}{f['wsgi_median_ms']:>8.1f}{'p95':>6}{f['wsgi_p95_ms']:>8.1f}")
    posts_ok = all(f["wsgi_p95_ms"] <= GOAL_P95_MS for f in posted.values())
    print(f"goal: POSTs' 95th percentiles under {GOAL_P95_MS} ms: {'met' if posts_ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
