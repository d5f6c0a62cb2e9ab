"""My subscription (/account): what a member changes there is stored, and what they see."""

from __future__ import annotations

import pytest

from mailfactory import make_mail
from mailgateway.delivery import deliver_due
from storage.db import session_scope
from storage.models import Address, CategoryFollow, DeliveryMode, FollowLevel, Person, Subscription, TopicFollow
from webtools import (  # noqa: F401
    app,
    classify_topic,
    client,
    link_in,
    mails_to,
    make_config,
    path_of,
    sign_in,
    submit,
    text_of,
    visibility,
)

pytestmark = pytest.mark.parametrize("visibility", ["members"])


@pytest.fixture
def alice(instance, client, sink):  # type: ignore[no-untyped-def]
    instance.add_member("alice@example.org", "Alice Martin")
    sign_in(client, instance, sink, "alice@example.org")
    return instance


def stored(instance, model, **where):  # type: ignore[no-untyped-def]
    with session_scope(instance.engine, readonly=True) as db:
        return db.query(model).filter_by(**where).all()


def test_anonymous_readers_are_asked_to_sign_in_and_brought_back(instance, client):
    response = client.get("/account")
    assert response.status_code == 302 and response.headers["Location"] == "/sign-in?next=/account"


def test_changing_the_delivery_mode_is_stored(alice, client):
    page = text_of(client.get("/account"))
    assert "Chaque message" in page and "Résumé quotidien" in page
    assert 'id="mode-all" name="mode" value="all" checked' in client.get("/account").get_data(as_text=True)
    response = submit(client, "/account", "/account/mode", mode="digest")
    assert response.status_code == 302
    assert "Votre choix est enregistré" in text_of(client.get("/account"))
    [subscription] = stored(alice, Subscription)
    assert subscription.mode is DeliveryMode.DIGEST
    assert submit(client, "/account", "/account/mode", mode="weekly").status_code == 302
    assert stored(alice, Subscription)[0].mode is DeliveryMode.DIGEST
    assert "Veuillez choisir l'un des modes de réception" in text_of(client.get("/account"))


def test_unsubscribing_and_subscribing_again(alice, client):
    submit(client, "/account", "/account/unsubscribe")
    assert stored(alice, Subscription)[0].mode is DeliveryMode.NONE
    page = text_of(client.get("/account"))
    assert "Vous êtes désabonné" in page and "Recevoir à nouveau les courriels du forum" in page
    submit(client, "/account", "/account/subscribe")
    assert stored(alice, Subscription)[0].mode is DeliveryMode.ALL


def test_following_and_muting_topics_from_their_page(alice, client, gateway):
    gateway.send(make_mail("Mobilité des apprentis", message_id="m1@x"))
    gateway.send(make_mail("Télétravail", message_id="m2@x"))
    submit(client, "/topics/1", "/account/topics/1", level="follow", next="/topics/1")
    submit(client, "/topics/2", "/account/topics/2", level="mute")
    assert "Vous suivez ce sujet." in text_of(client.get("/topics/1"))
    levels = {f.topic_id: f.level for f in stored(alice, TopicFollow)}
    assert levels == {1: FollowLevel.FOLLOW, 2: FollowLevel.MUTE}
    page = text_of(client.get("/account"))
    assert "Mobilité des apprentis — suivi" in page and "Télétravail — en sourdine" in page
    submit(client, "/account", "/account/topics/2", level="")
    assert [f.topic_id for f in stored(alice, TopicFollow)] == [1]


def test_following_categories(alice, client, gateway):
    gateway.send(make_mail("Mobilité des apprentis", message_id="m1@x"))
    classify_topic(alice, 1, category="Formation")
    response = client.post("/account/categories", data={"csrf_token": _token(client), "category": ["1"]})
    assert response.status_code == 302
    assert [f.category_id for f in stored(alice, CategoryFollow)] == [1]
    assert 'id="category-1" name="category" value="1" checked' in client.get("/account").get_data(as_text=True)


def _token(client) -> str:  # type: ignore[no-untyped-def]
    from webtools import csrf_token
    return csrf_token(client, "/account")


def test_adding_an_address_is_confirmed_from_that_mailbox(alice, client, sink):
    before = len(sink.received)
    submit(client, "/account", "/account/addresses", address="Alice.Martin@Mairie.example.fr")
    assert "Un lien de confirmation a été envoyé" in text_of(client.get("/account"))
    assert not stored(alice, Address, email="alice.martin@mairie.example.fr")
    deliver_due(alice.engine, alice.config)
    [mail] = mails_to(sink, "alice.martin@mairie.example.fr", before + 1)
    link = path_of(link_in(mail))
    other_browser = client.application.test_client()  # opened where the mail is read
    assert "Confirmer cette adresse" in text_of(other_browser.get(link))
    done = submit(other_browser, link, link)
    assert "est désormais liée à votre compte" in text_of(done)
    [added] = stored(alice, Address, email="alice.martin@mairie.example.fr")
    assert added.person_id == stored(alice, Person, name="Alice Martin")[0].id
    assert "alice.martin@mairie.example.fr" in text_of(client.get("/account"))


def test_an_address_of_another_member_is_not_taken(alice, client, sink):
    alice.add_member("bruno@example.de", "Bruno Keller")
    submit(client, "/account", "/account/addresses", address="bruno@example.de")
    deliver_due(alice.engine, alice.config)
    link = path_of(link_in(mails_to(sink, "bruno@example.de", 2)[-1]))
    assert "appartient à un autre membre" in text_of(submit(client, link, link))
    assert [a.email for a in stored(alice, Address, person_id=1)] == ["alice@example.org"]


def test_removing_addresses_keeps_at_least_one(alice, client):
    with session_scope(alice.engine) as db:
        db.add(Address(email="alice@autre.example", person_id=1))
    page = client.get("/account").get_data(as_text=True)
    assert page.count("/remove") == 2
    submit(client, "/account", "/account/addresses/2/remove")
    assert [a.email for a in stored(alice, Address)] == ["alice@example.org"]
    assert "/remove" not in client.get("/account").get_data(as_text=True)
    submit(client, "/account", "/account/addresses/1/remove")
    assert [a.email for a in stored(alice, Address)] == ["alice@example.org"]
