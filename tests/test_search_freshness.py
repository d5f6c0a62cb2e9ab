"""The index stays true to the database: new messages and topic changes reach it, a crash
loses nothing, and `relais reindex` rebuilds it while searches go on."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from mailgateway.indexer import index_all_pending, rebuild_index, recover_interrupted
from searchforum import Forum, make_forum
from storage.db import make_engine, session_scope
from storage.models import Message
from storage.search_queue import claim_pending
from storage.search_index import SearchIndex, current_generation
from storage.search_query import SearchRequest, find


@pytest.fixture
def forum(gateway) -> Forum:  # type: ignore[no-untyped-def]
    return make_forum(gateway)


def waiting(forum: Forum) -> int:
    with session_scope(forum.engine, readonly=True) as db:
        return db.scalar(select(func.count()).select_from(Message).where(Message.indexed_at.is_(None)))


def topic_ids(search: SearchIndex, text: str) -> list[int]:
    return [t.topic_id for t in find(search, SearchRequest(text=text), full_access=True).topics]


def topic_total(search: SearchIndex, text: str) -> int:
    return find(search, SearchRequest(text=text), full_access=True).total_topics


def test_a_stored_message_is_found_once_the_job_has_run(forum: Forum):
    message_id = forum.post("Navette du dimanche", "Les horaires d'été changent.\n")
    assert forum.titles(q="horaires") == []
    assert forum.index() == 1 and waiting(forum) == 0
    assert forum.titles(q="horaires") == ["Navette du dimanche"]
    assert topic_ids(forum.search, "horaires") == [forum.topic_of(message_id)]


def test_a_message_stored_then_killed_before_indexing_is_indexed_at_restart(forum: Forum):
    config = forum.gateway.instance.config
    forum.post("Allocations familiales", "Quelles pièces justificatives demander ?\n")
    # The process dies after the 250: nothing indexed. A second message was being indexed
    # when it died (claimed by the job, not yet written).
    forum.post("Carte vitale", "Remboursement des soins programmés.\n")
    with session_scope(forum.engine) as db:
        assert len(claim_pending(db, 1)) == 1
    # A new process: its own engine and index handle, the start-up recovery, the job.
    engine = make_engine(config.database_url)
    search = SearchIndex(config.index_dir)
    try:
        assert topic_ids(search, "justificatives") == []
        assert recover_interrupted(engine) == 1
        assert index_all_pending(engine, config, search) == 2
        assert len(topic_ids(search, "justificatives")) == 1
        assert len(topic_ids(search, "remboursement")) == 1
    finally:
        search.close()
        engine.dispose()


def test_topic_changes_reach_the_index(forum: Forum):
    message_id = forum.post("Double imposition", "Le crédit d'impôt ne s'applique pas.\n")
    forum.post("Re: Double imposition", "Voir la convention.\n", reply_to=message_id)
    forum.index()
    assert forum.titles(q="statut:clos") == []
    forum.change_topic(message_id, status="closed", resolution="solution", category="Fiscalité")
    assert waiting(forum) == 2
    forum.index()
    result = forum.json(q="statut:clos category:fiscalite")
    assert [t["title"] for t in result["topics"]] == ["Double imposition"]
    assert result["total_messages"] == 2
    assert forum.titles(status="closed", resolution="solution") == ["Double imposition"]


def test_a_change_made_while_the_job_works_is_not_lost(forum: Forum):
    message_id = forum.post("Apprentissage", "Statut de l'apprenti.\n")
    with session_scope(forum.engine) as db:
        claim_pending(db, 10)  # the job has taken the message…
    forum.change_topic(message_id, status="closed")  # …when a moderator closes the topic
    assert waiting(forum) == 1
    forum.index()
    assert forum.titles(q="statut:clos") == ["Apprentissage"]


def test_a_late_first_message_renames_the_topic_in_the_index(forum: Forum):
    forum.post("Re: Horaires", "Merci pour la réponse.\n", reply_to="origin@test.example.org")
    forum.index()
    assert forum.titles(q="dimanche", title_only="1") == []
    forum.gateway.send(
        b"From: Alice Martin <alice@example.org>\r\nTo: forum@example.org\r\n"
        b"Subject: Horaires du dimanche\r\nMessage-ID: <origin@test.example.org>\r\n"
        b"Date: Sun, 01 Mar 2026 09:00:00 +0000\r\n\r\nLes trains du dimanche ?\r\n",
        mail_from="alice@example.org")
    forum.index()
    result = forum.json(q="dimanche", title_only="1")
    assert [t["title"] for t in result["topics"]] == ["Horaires du dimanche"]


def test_reindex_while_searching(forum: Forum):
    config = forum.gateway.instance.config
    for i in range(30):
        forum.post(f"Obstacle {i}", f"Un formulaire de détachement ({i}).\n")
    forum.index()
    # Stored but not indexed: only the new index will have it.
    late = forum.post("Subvention Interreg", "Le calendrier de dépôt du formulaire.\n")
    old = current_generation(config.index_dir)
    during: list[tuple[int, list[int]]] = []
    done = 0

    def search_meanwhile(count: int) -> None:
        nonlocal done
        done += count
        if done in (1, 15, 31):  # while the new index is being written
            during.append((topic_total(forum.search, "formulaire"), topic_ids(forum.search, "interreg")))

    rebuild_index(forum.engine, config, progress=search_meanwhile)
    assert during == [(30, [])] * 3
    assert current_generation(config.index_dir) != old
    # The searcher reopens on the new index at its next query.
    assert topic_ids(forum.search, "interreg") == [forum.topic_of(late)]
    assert topic_total(forum.search, "formulaire") == 31


def test_reindex_from_another_thread_while_a_searcher_answers(forum: Forum):
    config = forum.gateway.instance.config
    for i in range(20):
        forum.post(f"Sujet {i}", "La desserte ferroviaire du soir.\n")
    forum.index()
    answers: list[int] = []
    stop = threading.Event()

    def keep_searching() -> None:
        while not stop.is_set():
            answers.append(topic_total(forum.search, "ferroviaire"))

    searcher = threading.Thread(target=keep_searching)
    searcher.start()
    try:
        rebuild_index(forum.engine, config)
        rebuild_index(forum.engine, config)
    finally:
        stop.set()
        searcher.join(timeout=30)
    assert answers and set(answers) == {20}


def test_relais_reindex_command(forum: Forum, capsys):
    from relais.cli import main

    forum.post("Reconnaissance", "Le diplôme d'infirmier.\n")
    config = forum.gateway.instance.config
    path = config.base_dir / "relais.toml"
    path.write_text(f'[forum]\naddress = "forum@example.org"\n[storage]\ndatabase_url = "{config.database_url}"\n'
                    f'[search]\nindex_dir = "{config.index_dir}"\n')
    old = current_generation(config.index_dir)
    assert main(["--config", str(path), "reindex", "--quiet"]) == 0
    assert "reindex: 1 messages indexed" in capsys.readouterr().out
    assert current_generation(config.index_dir) != old
    assert forum.titles(q="infirmier") == ["Reconnaissance"]


def test_searches_answer_while_the_indexing_job_commits(forum: Forum):
    """Issue 10, finding 11: each commit deletes the previous table of contents, and a
    searcher being opened from it at that moment failed (a 500 on the search page)."""
    from datetime import datetime, timezone

    from storage.search_index import MessageDocument

    forum.post("Navette transfrontalière", "La navette du soir.\n")
    forum.index()
    # The indexing job's own handle on the index, committing one document at a time.
    job = SearchIndex(forum.gateway.instance.config.index_dir)
    stop = threading.Event()
    failures: list[str] = []
    answered = 0

    def commit() -> None:
        for pk in range(10_000, 10_060):
            job.write([MessageDocument(pk, pk, "", f"navette {pk}", "", "", "", "", None, "open", "",
                                       datetime.now(timezone.utc), False)])
        stop.set()

    def search() -> None:
        nonlocal answered
        client = forum.client()
        while not stop.is_set():
            try:
                response = client.get("/search.json", query_string={"q": "navette"})
                if response.status_code != 200:
                    failures.append(response.get_data(as_text=True)[:200])
                answered += 1
                with forum.search.searcher() as searcher:  # the bare opening too, many times
                    searcher.doc_count()
            except Exception as error:  # what the web turned into a 500
                failures.append(repr(error))

    threads = [threading.Thread(target=commit)] + [threading.Thread(target=search) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    job.close()
    assert failures == [] and answered > 30
