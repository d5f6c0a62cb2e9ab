"""Every mail to a person is in that person's language (issue 13): the footer of each copy of
a post, digests, answers to commands (in the language the command was written in, German
too), and the language given in the members CSV."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import pytest

from delivery_support import *  # noqa: F401,F403 (fixtures)
from delivery_support import text_parts
from mailfactory import make_mail
from mailgateway.delivery import deliver_due
from mailgateway.digest import send_digests
from mailgateway.requests import process_requests
from relais.cli import main
from storage.db import session_scope
from storage.models import DeliveryMode, utcnow
from storage.people import person_by_address

REQUEST = "forum-request@example.org"
FOOTERS = {"fr": "Gérer votre abonnement", "en": "Manage your subscription", "de": "Abonnement verwalten"}


def set_language(forum, address: str, language: str | None) -> None:  # type: ignore[no-untyped-def]
    with session_scope(forum.engine) as db:
        person_by_address(db, address).language = language


def language(forum, address: str) -> str | None:  # type: ignore[no-untyped-def]
    with session_scope(forum.engine) as db:
        return person_by_address(db, address).language


@pytest.fixture
def three(forum):  # type: ignore[no-untyped-def]
    forum.member("alice@example.org", "Alice Martin")
    for address, code in (("claire@example.fr", "fr"), ("john@example.org", "en"), ("jonas@example.de", "de")):
        forum.member(address)
        set_language(forum, address, code)
    return forum


def footer_languages(message) -> set[str]:  # type: ignore[no-untyped-def]
    text = "\n".join(text_parts(message))
    return {code for code, words in FOOTERS.items() if words in text}


def test_the_same_post_reaches_each_member_with_the_footer_in_their_language(three):
    three.post(make_mail("Obstacle : reconnaissance des diplômes",
                         body="Bonjour,\n\nLes diplômes d'infirmier ne sont pas reconnus.\n"))
    three.deliver()
    for address, code in (("claire@example.fr", "fr"), ("john@example.org", "en"), ("jonas@example.de", "de")):
        [copy] = three.copies_to(address)
        assert "Les diplômes d'infirmier ne sont pas reconnus." in text_parts(copy)[0]
        assert footer_languages(copy) == {code}, (address, text_parts(copy))
    [german] = three.copies_to("jonas@example.de")
    assert "Dieses Thema im Web:" in text_parts(german)[0]


def test_an_html_post_gets_the_html_footer_in_each_language(three):
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "Alice Martin <alice@example.org>", "forum@example.org", "Réunion"
    msg["Message-ID"], msg["Date"] = "<html-1@x>", "Mon, 23 Nov 2026 10:00:00 +0100"
    msg.set_content("Ordre du jour\n")
    msg.add_alternative("<html><body><p>Ordre du jour</p></body></html>", subtype="html")
    three.post(msg.as_bytes())
    three.deliver()
    [german] = three.copies_to("jonas@example.de")
    [english] = three.copies_to("john@example.org")
    assert any("Abbestellen</a>" in part for part in text_parts(german))
    assert any("Unsubscribe</a>" in part for part in text_parts(english))


def test_a_member_without_a_language_reads_the_forums_default(three):
    three.member("nobody@example.org")
    three.post(make_mail())
    three.deliver()
    [copy] = three.copies_to("nobody@example.org")
    assert footer_languages(copy) == {"fr"}


def test_digests_are_in_each_readers_language_with_dates_written_for_it(three):
    for address in ("jonas@example.de", "john@example.org"):
        with session_scope(three.engine) as db:
            person_by_address(db, address).subscription.mode = DeliveryMode.DIGEST
    three.post(make_mail("Horaires", date="Mon, 23 Nov 2026 09:00:00 +0000"))
    send_digests(three.engine, three.config, now=utcnow())
    deliver_due(three.engine, three.config)
    [german] = three.copies_to("jonas@example.de")
    [english] = three.copies_to("john@example.org")
    assert "] Zusammenfassung vom " in str(german["Subject"]) and "23.11.2026, 10:00" in text_parts(german)[0]
    assert "] Digest of " in str(english["Subject"]) and "Nov 23, 2026, 10:00" in text_parts(english)[0]


def ask(forum, subject: str, body: str = "\n", sender: str = "bob@example.org", n: int = 1):  # type: ignore[no-untyped-def]
    before = len(forum.copies_to(sender))
    assert forum.post(make_mail(subject, body=body, sender=sender, message_id=f"req{n}@x", to=REQUEST),
                      mail_from=sender, to=REQUEST)[0] == 250
    process_requests(forum.engine, forum.config)
    deliver_due(forum.engine, forum.config)
    return forum.copies_to(sender)[before:]


def test_a_command_in_german_is_answered_in_german_and_its_language_kept(forum):
    subscription = forum.member("bob@example.org", "Bob Weber")
    [confirmation] = ask(forum, "", body="Guten Tag,\nModus Zusammenfassung\nDanke\n")
    assert "Zur Bestätigung antworten Sie einfach" in text_parts(confirmation)[0]
    assert "modus digest" in text_parts(confirmation)[0]
    [answer] = ask(forum, f"AW: {confirmation['Subject']}", n=2)
    assert "Ab jetzt erhalten Sie eine tägliche Zusammenfassung." in text_parts(answer)[0]
    assert forum.subscription(subscription).mode is DeliveryMode.DIGEST
    # Until Bob chooses, the language he wrote in is his: later mail to him is in German.
    assert language(forum, "bob@example.org") == "de"
    [help_] = ask(forum, "help", n=3)  # an English word: answered in English all the same
    assert "subscribe (abonner)" in text_parts(help_)[0]


@pytest.mark.parametrize("line, mode", [("MODUS ALLE", DeliveryMode.ALL), ("modus themen", DeliveryMode.TOPICS),
                                        ("bitte modus keine", DeliveryMode.NONE)])
def test_german_mode_words_case_and_accents_not_mattering(forum, line, mode):
    subscription = forum.member("bob@example.org", "Bob Weber", mode=DeliveryMode.DIGEST)
    [confirmation] = ask(forum, line)
    ask(forum, confirmation["Subject"], n=2)
    assert forum.subscription(subscription).mode is mode


def test_german_help_follow_mute_and_unsubscribe(forum):
    forum.member("alice@example.org", "Alice Martin")
    forum.post(make_mail())
    subscription = forum.member("bob@example.org", "Bob Weber")
    [help_] = ask(forum, "Hilfe")
    assert "abbestellen (unsubscribe): nichts mehr erhalten" in text_parts(help_)[0]
    [confirmation] = ask(forum, "stummschalten 1", n=2)
    [answer] = ask(forum, confirmation["Subject"], n=3)
    assert "ist stummgeschaltet" in text_parts(answer)[0]
    [confirmation] = ask(forum, "abbestellen", n=4)
    [answer] = ask(forum, confirmation["Subject"], n=5)
    assert "Sie haben abbestellt" in text_parts(answer)[0]
    assert forum.subscription(subscription).mode is DeliveryMode.NONE


def test_a_chosen_language_is_not_replaced_by_the_language_of_a_command(forum):
    forum.member("bob@example.org", "Bob Weber")
    set_language(forum, "bob@example.org", "en")
    [confirmation] = ask(forum, "modus alle")
    [answer] = ask(forum, confirmation["Subject"], n=2)
    assert "Ab jetzt erhalten Sie jede Nachricht." in text_parts(answer)[0]  # answered as written
    assert language(forum, "bob@example.org") == "en"  # the choice stays


def test_the_members_csv_gives_each_persons_language(forum, tmp_path: Path, capsys):
    csv_file = tmp_path / "members.csv"
    csv_file.write_text("email,name,organisation,organisation_kind,role,language\n"
                        "jonas@example.de,Jonas Weber,Landkreis Lörrach,state,member,de-DE\n"
                        "john@example.org,John Smith,Eurodistrict,member,member,EN\n"
                        "claire@example.fr,Claire Dubois,Eurométropole,member,member,\n"
                        "mario@example.it,Mario Rossi,Comune,member,member,klingon\n", encoding="utf-8")
    config_file = tmp_path / "relais.toml"
    config_file.write_text(f'[forum]\naddress = "forum@example.org"\n'
                           f'[storage]\ndatabase_url = "{forum.config.database_url}"\n'
                           f'[search]\nindex_dir = "{forum.config.index_dir}"\n')
    assert main(["--config", str(config_file), "members", "import", str(csv_file)]) == 1
    assert "line 5: invalid: language: 'klingon' is not one of en, de, fr" in capsys.readouterr().err
    assert [language(forum, a) for a in ("jonas@example.de", "john@example.org", "claire@example.fr")] == \
        ["de", "en", None]
    forum.member("alice@example.org", "Alice Martin")
    forum.post(make_mail())
    forum.deliver()
    assert footer_languages(forum.copies_to("jonas@example.de")[0]) == {"de"}
    assert footer_languages(forum.copies_to("claire@example.fr")[0]) == {"fr"}
