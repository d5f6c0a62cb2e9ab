"""Writing on the web, with the real Flask app over a real instance and the real gateway: a
signed-in member opens a topic or answers a message; the post is a real mail that goes
through the gateway's steps, reaches the subscribers through the relay, and a mail reply to
that copy threads under it. Forms are CSRF-checked, rate-limited, sent once however often
they are submitted, and keep what was typed when something is wrong."""

from __future__ import annotations

import email
import email.policy
import io
import re
import threading

import pytest
from sqlalchemy import select
from werkzeug.test import EnvironBuilder

from archive_web import create_app
from conftest import Instance
from delivery_support import relay_settings
from mailfactory import make_mail
from moderation_support import MODERATOR, TRUSTED, dkim_key, forum  # noqa: F401
from storage.db import session_scope
from storage.instance import initialise
from storage.models import Category, DraftAttachment, Fanout, HeldMessage, Message, Topic, TopicStatus
from webtools import csrf_token, sign_in, text_of

MAX_SIZE = 64 * 1024
LIMIT = 4
FORM_TOKEN = re.compile(r'name="form_token" value="([^"]+)"')


@pytest.fixture
def instance(make_config, sink):  # type: ignore[no-untyped-def]
    config = make_config(delivery=relay_settings(sink), moderation={"trusted_authserv_id": TRUSTED},
                         smtp={"max_message_size": MAX_SIZE}, web={"post_limit_per_hour": LIMIT})
    engine = initialise(config)
    yield Instance(config, engine)
    engine.dispose()


@pytest.fixture
def client(forum):  # type: ignore[no-untyped-def]
    return create_app(forum.config, forum.engine).test_client()


def signed_in(client, forum, address: str = "alice@example.org"):  # type: ignore[no-untyped-def]
    sign_in(client, forum.gateway.instance, forum.sink, address)
    return client


def form(client, page: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The hidden fields of a writing form, as the browser sends them back."""
    html = client.get(page).get_data(as_text=True)
    return {"csrf_token": csrf_token(client, page), "form_token": FORM_TOKEN.search(html).group(1)}


def stored(forum, message_id: str | None = None) -> list[Message]:  # type: ignore[no-untyped-def]
    with session_scope(forum.engine) as db:
        query = select(Message).order_by(Message.id)
        if message_id:
            query = query.where(Message.message_id == message_id)
        found = list(db.scalars(query))
        db.expunge_all()
        return found


def parsed(message: Message) -> email.message.EmailMessage:
    return email.message_from_bytes(message.raw, policy=email.policy.default)  # type: ignore[return-value]


def test_visitors_are_asked_to_sign_in(client, forum):
    assert "Connectez-vous pour participer" in text_of(client.get("/"))
    response = client.get("/topics/new")
    assert response.status_code == 302 and "/sign-in" in response.headers["Location"]
    forum.open_topic()
    [first] = stored(forum)
    assert "/sign-in" in client.get(f"/messages/{first.id}/reply").headers["Location"]


def test_a_new_topic_is_a_real_mail_that_subscribers_receive_and_answer(client, forum):
    with session_scope(forum.engine) as db:
        db.add(Category(name="Fiscalité", slug="fiscalite"))
    signed_in(client, forum)
    page = client.get("/topics/new")
    assert page.status_code == 200 and "Nouveau sujet" in text_of(page) and "Fiscalité" in text_of(page)
    with session_scope(forum.engine) as db:
        category_id = db.scalar(select(Category.id))
    response = client.post("/topics/new", data={
        **form(client, "/topics/new"), "action": "send", "subject": "Obstacle : télétravail des frontaliers",
        "body": "Bonjour,\n\nVoir https://example.org/accord pour le détail.\n", "category": str(category_id),
        "attachments": [(io.BytesIO(b"%PDF-1.4 accord"), "accord fiscal.pdf", "application/pdf")]},
        content_type="multipart/form-data")
    assert response.status_code == 302
    [post] = stored(forum)
    assert response.headers["Location"].endswith(f"/messages/{post.id}")
    mail = parsed(post)
    assert post.message_id.endswith("@example.org") and mail["Message-ID"] == f"<{post.message_id}>"
    assert mail["From"] == "Alice Martin <alice@example.org>" and mail["Date"] and mail["To"] == "forum@example.org"
    [attachment] = list(mail.iter_attachments())
    assert attachment.get_filename() == "accord fiscal.pdf" and attachment.get_content() == b"%PDF-1.4 accord"
    with session_scope(forum.engine) as db:
        topic = db.get(Topic, post.topic_id)
        assert topic.subject == "Obstacle : télétravail des frontaliers" and topic.category_id == category_id
    topic_page = text_of(client.get(f"/topics/{post.topic_id}"))
    assert "Votre message est publié" in topic_page and "accord fiscal.pdf" in topic_page

    forum.deliver()
    [copy] = forum.copies_to("bob@example.org")
    assert copy["Message-ID"] == f"<{post.message_id}>" and "télétravail" in copy["Subject"]
    assert [a.get_filename() for a in copy.iter_attachments()] == ["accord fiscal.pdf"]
    code, _ = forum.send(make_mail(f"Re: {copy['Subject']}", body="Même chose chez nous.\n",
                                   message_id="bob-1@example.org", sender="Bob Weber <bob@example.org>",
                                   in_reply_to=post.message_id, references=[post.message_id]))
    assert code == 250
    [answer] = stored(forum, "bob-1@example.org")
    assert (answer.topic_id, answer.parent_id) == (post.topic_id, post.id)


def test_a_reply_on_the_web_threads_under_the_message_it_answers(client, forum):
    forum.open_topic()
    forum.send(make_mail("Re: Obstacle", body="Une piste.\n", message_id="bob-1@example.org",
                         sender="Bob Weber <bob@example.org>", in_reply_to="obstacle-1@mairie.example.org",
                         references=["obstacle-1@mairie.example.org"]))
    root, bobs = stored(forum)
    signed_in(client, forum)
    page = client.get(f"/messages/{bobs.id}/reply?quote=1")
    assert page.status_code == 200 and "Une piste." in text_of(page)
    assert "&gt; Une piste." in page.get_data(as_text=True)  # quoted in the textarea, as mail clients do
    response = client.post(f"/messages/{bobs.id}/reply", data={
        **form(client, f"/messages/{bobs.id}/reply"), "action": "send", "body": "Merci Bob, nous essayons.\n"})
    assert response.status_code == 302
    mine = stored(forum)[-1]
    mail = parsed(mine)
    assert (mine.topic_id, mine.parent_id) == (root.topic_id, bobs.id)
    assert mail["In-Reply-To"] == "<bob-1@example.org>"
    assert mail["References"] == "<obstacle-1@mairie.example.org> <bob-1@example.org>"
    assert mail["Subject"] == "Re: Obstacle"
    assert forum.count(Fanout) == 3  # queued for delivery like the mail posts
    assert "Merci Bob, nous essayons." in text_of(client.get(f"/topics/{root.topic_id}"))


def test_a_form_sent_twice_stores_one_post(client, forum):
    signed_in(client, forum)
    fields = {**form(client, "/topics/new"), "action": "send", "subject": "Question", "body": "Bonjour.\n"}
    first, second = client.post("/topics/new", data=fields), client.post("/topics/new", data=fields)
    assert first.status_code == second.status_code == 302
    assert first.headers["Location"] == second.headers["Location"]
    assert len(stored(forum)) == 1 and forum.count(Fanout) == 1
    assert "déjà été envoyé" in text_of(client.get(second.headers["Location"], follow_redirects=True))


def test_a_double_click_sends_two_requests_at_once_and_stores_one_post(client, forum):
    signed_in(client, forum)
    fields = {**form(client, "/topics/new"), "action": "send", "subject": "Double clic", "body": "Bonjour.\n"}
    second = create_app(forum.config, forum.engine).test_client()
    second.set_cookie("relais_session", client.get_cookie("relais_session").value)  # the same browser
    ready, answers = threading.Barrier(2), []

    def click(browser) -> None:  # type: ignore[no-untyped-def]
        ready.wait(timeout=10)
        answers.append(browser.post("/topics/new", data=fields).status_code)

    clicks = [threading.Thread(target=click, args=(b,)) for b in (client, second)]
    for t in clicks:
        t.start()
    for t in clicks:
        t.join(timeout=60)
    assert answers == [302, 302]
    assert len(stored(forum)) == 1 and forum.count(Fanout) == 1


def test_empty_fields_and_oversized_attachments_are_refused_keeping_the_text(client, forum):
    signed_in(client, forum)
    fields = form(client, "/topics/new")
    empty = client.post("/topics/new", data={**fields, "action": "send", "subject": " ", "body": "Mon texte."})
    assert empty.status_code == 422
    page = empty.get_data(as_text=True)
    assert 'role="alert"' in page and "Donnez un objet à votre message" in text_of(empty)
    assert "Mon texte." in page and 'aria-invalid="true"' in page and "autofocus" in page
    big = client.post("/topics/new", data={
        **fields, "action": "send", "subject": "Pièce jointe", "body": "Voici le fichier.",
        "attachments": [(io.BytesIO(b"x" * MAX_SIZE), "gros.bin")]},
        content_type="multipart/form-data")
    assert big.status_code == 422 and "trop volumineux" in text_of(big) and "Voici le fichier." in text_of(big)
    request = EnvironBuilder(path="/topics/new", method="POST", content_type="multipart/form-data", data={
        **fields, "action": "send", "subject": "Énorme", "body": "x",
        "attachments": [(io.BytesIO(b"x" * (2 * MAX_SIZE + 1024 * 1024 + 1)), "enorme.bin")]})
    environ = request.get_environ()
    try:
        absurd = client.open(environ)
    finally:
        environ["wsgi.input"].close()  # the body the application never read
        request.close()
    assert absurd.status_code == 413 and "Les fichiers envoyés sont trop volumineux" in text_of(absurd)
    assert stored(forum) == []


def test_the_preview_sends_nothing_and_keeps_the_attachments(client, forum):
    signed_in(client, forum)
    fields = form(client, "/topics/new")
    preview = client.post("/topics/new", data={
        **fields, "action": "preview", "subject": "Aperçu", "body": "Lien : https://example.org/x\n",
        "attachments": [(io.BytesIO(b"notes"), "notes.txt", "text/plain"),
                        (io.BytesIO(b"brouillon"), "brouillon.txt", "text/plain")]},
        content_type="multipart/form-data")
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200 and "Aperçu" in text_of(preview)
    assert '<a href="https://example.org/x"' in html
    assert "notes.txt" in text_of(preview) and "brouillon.txt" in text_of(preview)
    assert stored(forum) == []
    # The files are kept by the forum (a browser cannot fill a file input again); one is removed.
    drop = re.search(r'name="drop" value="(\d+)"> Retirer<span class="visually-hidden"> brouillon.txt', html).group(1)
    sent = client.post("/topics/new", data={**fields, "action": "send", "subject": "Aperçu",
                                            "body": "Lien : https://example.org/x\n", "drop": drop})
    assert sent.status_code == 302
    [post] = stored(forum)
    assert [(a.get_filename(), a.get_content()) for a in parsed(post).iter_attachments()] == [("notes.txt", "notes")]
    assert forum.count(DraftAttachment) == 0


def test_forms_need_their_tokens_and_members_have_a_rate_limit(client, forum):
    signed_in(client, forum)
    assert client.post("/topics/new", data={"action": "send", "subject": "x", "body": "y"}).status_code == 400
    forged = client.post("/topics/new", data={"csrf_token": csrf_token(client, "/topics/new"),
                                              "form_token": "forged", "action": "send", "subject": "x", "body": "y"})
    assert forged.status_code == 400 and stored(forum) == []
    for n in range(LIMIT):
        sent = client.post("/topics/new", data={**form(client, "/topics/new"), "action": "send",
                                                "subject": f"Sujet {n}", "body": "Bonjour."})
        assert sent.status_code == 302
    refused = client.post("/topics/new", data={**form(client, "/topics/new"), "action": "send",
                                               "subject": "Un de trop", "body": "Texte gardé."})
    assert refused.status_code == 429 and "Texte gardé." in text_of(refused)
    assert len(stored(forum)) == LIMIT


def test_a_reply_to_a_closed_topic_is_held_for_the_moderators(client, forum):
    topic_id = forum.open_topic()
    with session_scope(forum.engine) as db:
        db.get(Topic, topic_id).status = TopicStatus.CLOSED
    [root] = stored(forum)
    signed_in(client, forum, "bob@example.org")
    assert "Ce sujet est clos" in text_of(client.get(f"/messages/{root.id}/reply"))
    response = client.post(f"/messages/{root.id}/reply", data={
        **form(client, f"/messages/{root.id}/reply"), "action": "send", "body": "Encore une question."})
    assert response.status_code == 302
    assert len(stored(forum)) == 1
    with session_scope(forum.engine) as db:
        [held] = db.scalars(select(HeldMessage))
        assert held.reason == "topic closed" and held.from_address == "bob@example.org"
    assert "transmis aux modérateurs" in text_of(client.get(response.headers["Location"]))


def test_a_moderator_replies_and_closes_with_the_answer_in_one_form(client, forum):
    topic_id = forum.open_topic()
    forum.send(make_mail("Re: Obstacle", body="La convention de 2019 le permet.\n", message_id="bob-1@example.org",
                         sender="Bob Weber <bob@example.org>", in_reply_to="obstacle-1@mairie.example.org",
                         references=["obstacle-1@mairie.example.org"]))
    _root, bobs = stored(forum)
    signed_in(client, forum, MODERATOR)
    page = f"/messages/{bobs.id}/reply"
    assert "Répondre et clore" in text_of(client.get(page))
    response = client.post(page, data={**form(client, page), "action": "send", "body": "Merci, c'est la solution.",
                                       "close": "solution", "answer": "parent"})
    assert response.status_code == 302
    with session_scope(forum.engine) as db:
        topic = db.get(Topic, topic_id)
        assert (topic.status, topic.resolution.value, topic.answer_message_id) == (TopicStatus.CLOSED, "solution",
                                                                                   bobs.id)
    assert len(stored(forum)) == 3
    banner = client.get(f"/topics/{topic_id}").get_data(as_text=True)
    assert "Ce sujet est clos." in banner and f'href="/messages/{bobs.id}">Voir la réponse retenue' in banner
    assert f'href="/messages/{bobs.id}">voir la réponse' in client.get("/").get_data(as_text=True)
    assert forum.mail_to("alice@example.org", "topic-status")  # she opened the topic: she is told
