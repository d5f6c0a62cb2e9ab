"""Moderation on the web, with the real Flask app over a real instance: a moderator signs in
by the emailed link, decides held messages, changes a topic's status, resolution and
category, manages categories, repairs threads, writes sheets, confirms a command mail by its
link, and reads the audit log. Others are kept out."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from archive_web import create_app
from mailfactory import make_mail
from moderation_support import MODERATOR, body_of, dkim_key, forum, instance  # noqa: F401
from storage.db import session_scope
from storage.models import Category, Message, Topic
from webtools import path_of, sign_in, submit, text_of

STRANGER = "claire@prefecture.example.fr"


@pytest.fixture
def client(forum):  # type: ignore[no-untyped-def]
    return create_app(forum.config, forum.engine).test_client()


@pytest.fixture
def moderator(client, forum):  # type: ignore[no-untyped-def]
    sign_in(client, forum.gateway.instance, forum.sink, MODERATOR)
    return client


def hold_a_strangers_mail(forum, message_id: str = "s1@prefecture.example.fr") -> None:  # type: ignore[no-untyped-def]
    forum.send(make_mail("Question de la préfecture", body="Bonjour.\n", message_id=message_id,
                         sender=f"Claire <{STRANGER}>"))


def test_moderation_is_for_moderators_only(client, forum):
    assert client.get("/moderation/held").status_code == 302  # anonymous: sent to sign in
    sign_in(client, forum.gateway.instance, forum.sink, "bob@example.org")
    assert client.get("/moderation/held").status_code == 403
    assert client.post("/moderation/held/1/approve", data={}).status_code == 400  # no CSRF token


def test_approving_a_held_message_on_the_web_posts_it(moderator, forum):
    hold_a_strangers_mail(forum)
    page = moderator.get("/moderation/held")
    assert "Question de la préfecture" in text_of(page) and STRANGER in text_of(page)
    [held] = forum.held()
    response = submit(moderator, "/moderation/held", f"/moderation/held/{held.id}/approve")
    assert response.status_code == 302
    assert forum.count(Message) == 1 and forum.posts_queued() == 1
    assert forum.log()[-1][:3] == ("approve", "Modo Team", "web")
    assert "Aucun message n'attend" in text_of(moderator.get("/moderation/held")) or \
        "No message is waiting" in text_of(moderator.get("/moderation/held"))


def test_rejecting_with_a_reason_tells_the_sender(moderator, forum):
    hold_a_strangers_mail(forum)
    [held] = forum.held()
    submit(moderator, "/moderation/held", f"/moderation/held/{held.id}/reject", reason="Hors du champ du forum")
    assert forum.count(Message) == 0 and forum.held()[0].status.value == "rejected"
    [told] = [m for m in forum.mail_to(STRANGER, "held-notice") if "publié" in m["Subject"]]
    assert "Motif : Hors du champ du forum" in body_of(told)


def test_always_allowing_a_sender_lets_their_next_mail_through(moderator, forum):
    hold_a_strangers_mail(forum)
    [held] = forum.held()
    submit(moderator, "/moderation/held", f"/moderation/held/{held.id}/allow")
    code, reply = forum.send(make_mail("Autre question", message_id="s2@prefecture.example.fr",
                                       sender=f"Claire <{STRANGER}>"))
    assert code == 250 and "accepted" in reply
    assert forum.count(Message) == 2 and len(forum.held()) == 1
    assert [row[0] for row in forum.log()] == ["allow-sender", "approve"]


def test_status_resolution_and_a_new_category_on_the_web(moderator, forum, tmp_path):
    topic_id = forum.open_topic()
    page = f"/moderation/topics/{topic_id}"
    submit(moderator, page, f"{page}/status", resolution="legal-impossibility")
    submit(moderator, page, f"{page}/category", new_name="Fiscalité")
    shown = forum.topic_json(topic_id, tmp_path)
    assert (shown["status"], shown["resolution"], shown["category"]) == ("closed", "legal-impossibility", "Fiscalité")
    public = text_of(moderator.get(f"/topics/{topic_id}"))
    assert "impossibilité juridique" in public.lower() or "legal impossibility" in public.lower()
    submit(moderator, page, f"{page}/status", resolution="open")
    assert forum.topic_json(topic_id, tmp_path)["status"] == "open"
    log = text_of(moderator.get("/moderation/log"))
    # In words, never the stored codes ("category-create", "closed (legal-impossibility)").
    assert "Modo Team" in log and "a créé une catégorie" in log and "clos (impossibilité juridique)" in log
    assert "category-create" not in log and "legal-impossibility" not in log and "sur le web" in log
    assert [row[0] for row in forum.log()] == ["close", "category-create", "category", "reopen"]


def test_categories_are_created_renamed_and_merged(moderator, forum, tmp_path):
    first = forum.open_topic()
    second = forum.open_topic("Obstacle : transports", "obstacle-2@mairie.example.org")
    submit(moderator, f"/moderation/topics/{first}", f"/moderation/topics/{first}/category", new_name="Emploi")
    submit(moderator, f"/moderation/topics/{second}", f"/moderation/topics/{second}/category", new_name="Travail")
    submit(moderator, "/moderation/categories", "/moderation/categories", name="Santé")
    with session_scope(forum.engine) as db:
        ids = {c.name: c.id for c in db.scalars(select(Category))}
    submit(moderator, "/moderation/categories", f"/moderation/categories/{ids['Emploi']}/rename",
           name="Emploi transfrontalier")
    submit(moderator, "/moderation/categories", f"/moderation/categories/{ids['Travail']}/merge",
           target=str(ids["Emploi"]))
    assert forum.topic_json(second, tmp_path)["category"] == "Emploi transfrontalier"
    with session_scope(forum.engine) as db:
        assert sorted((c.name, c.slug) for c in db.scalars(select(Category))) == [
            ("Emploi transfrontalier", "emploi-transfrontalier"), ("Santé", "sante")]
    assert [row[0] for row in forum.log()][-3:] == ["category-create", "category-rename", "category-merge"]


def test_splitting_a_reply_makes_a_topic_that_threading_keeps_apart(moderator, forum, tmp_path):
    topic_id = forum.open_topic()
    forum.send(make_mail("Re: Obstacle", body="Autre chose : les horaires de bus.\n", message_id="r1@example.org",
                         sender="Bob <bob@example.org>", in_reply_to="obstacle-1@mairie.example.org",
                         references=["obstacle-1@mairie.example.org"]))
    with session_scope(forum.engine) as db:
        reply_pk = db.scalar(select(Message.id).where(Message.message_id == "r1@example.org"))
    response = submit(moderator, f"/moderation/topics/{topic_id}", f"/moderation/topics/{topic_id}/split",
                      message=str(reply_pk))
    new_topic = int(response.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    assert new_topic != topic_id
    # A later answer to the split message names the old root in References too: it stays apart.
    forum.send(make_mail("Re: Re: Obstacle", body="Les horaires changent en mai.\n", message_id="r2@example.org",
                         sender="Alice <alice@example.org>", in_reply_to="r1@example.org",
                         references=["obstacle-1@mairie.example.org", "r1@example.org"]))
    assert [m["message_id"] for m in forum.topic_json(new_topic, tmp_path)["messages"]] == [
        "r1@example.org", "r2@example.org"]
    assert [m["message_id"] for m in forum.topic_json(topic_id, tmp_path)["messages"]] == [
        "obstacle-1@mairie.example.org"]
    # And merging puts them back together, by hand.
    submit(moderator, f"/moderation/topics/{new_topic}", f"/moderation/topics/{new_topic}/merge", target=str(topic_id))
    assert len(forum.topic_json(topic_id, tmp_path)["messages"]) == 3
    with session_scope(forum.engine) as db:
        assert db.get(Topic, new_topic) is None
    assert [row[0] for row in forum.log()] == ["split", "split", "merge"]


def test_sheets_are_sanitised_and_listed_on_the_public_pages(moderator, client, forum):
    topic_id = forum.open_topic()
    page = f"/moderation/topics/{topic_id}"
    submit(moderator, page, f"{page}/sheets", kind="obstacle", title="Diplômes d'infirmier",
           body="**Obstacle** : la reconnaissance.\n\n<script>alert(1)</script>\n\n[voir](javascript:alert(1))")
    submit(moderator, page, f"{page}/sheets", kind="good-practice", title="Guichet commun de Kehl",
           body="- un seul interlocuteur")
    html = moderator.get(f"/topics/{topic_id}").get_data(as_text=True)
    assert "<strong>Obstacle</strong>" in html and "<script>alert" not in html and 'href="javascript:' not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # shown as text, never run
    assert "<li>un seul interlocuteur</li>" in html
    assert "Diplômes d&#39;infirmier" in moderator.get("/obstacles").get_data(as_text=True)
    practices = text_of(moderator.get("/good-practices"))
    assert "Guichet commun de Kehl" in practices and "Diplômes" not in practices
    assert [row[0] for row in forum.log()] == ["sheet-create", "sheet-create"]


def test_an_unauthenticated_command_is_confirmed_by_its_link(client, forum, tmp_path):
    topic_id = forum.open_topic()
    forum.command("#clore remonte\n", signed=False)
    forum.run_jobs()
    [request] = forum.mail_to(MODERATOR, "command-confirm")
    link = path_of(next(w for w in body_of(request).split() if "/moderation/confirm/" in w))
    assert "#clore remonte" in text_of(client.get(link))  # showing the page changes nothing
    assert forum.topic_json(topic_id, tmp_path)["status"] == "open"
    response = submit(client, link, link)
    assert response.status_code == 200
    shown = forum.topic_json(topic_id, tmp_path)
    assert (shown["status"], shown["resolution"]) == ("closed", "escalated")
    assert forum.log() == [("close", "Modo Team", "web-confirmed", "open", "closed (escalated)")]
    assert "no longer valid" in text_of(client.get(link)) or "plus valable" in text_of(client.get(link))
