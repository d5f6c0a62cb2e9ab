"""The privacy page (/privacy): its content comes from [privacy] and [retention] in
config.toml, in each interface language, and every page's footer links to it."""

from __future__ import annotations

import pytest
from flask import Flask

from archive_web import create_app
from webtools import make_config, text_of, visibility  # noqa: F401

pytestmark = pytest.mark.parametrize("visibility", ["members"])
ENGLISH = {"Accept-Language": "en-US,en;q=0.9"}


@pytest.fixture
def app(make_config, instance) -> Flask:  # type: ignore[no-untyped-def]
    config = make_config(
        privacy={"controller": "Mission opérationnelle transfrontalière, 38 rue des Bourdonnais, Paris",
                 "contact": "dpo@espaces-transfrontaliers.example",
                 "purposes_fr": "Animer le réseau des acteurs transfrontaliers.",
                 "purposes_en": "Running the network of cross-border actors.",
                 "legal_basis_fr": "Mission d'intérêt public.", "legal_basis_en": "A task in the public interest."},
        retention={"held_days": 45, "bounce_days": 61, "ip_address_days": 3})
    return create_app(config, instance.engine)


def test_the_privacy_page_says_what_the_configuration_says_in_french_and_english(app: Flask):
    client = app.test_client()
    french = text_of(client.get("/privacy"))
    assert "Mission opérationnelle transfrontalière, 38 rue des Bourdonnais, Paris" in french
    assert "dpo@espaces-transfrontaliers.example" in french
    assert "Animer le réseau des acteurs transfrontaliers." in french and "Mission d'intérêt public." in french
    assert "Messages retenus pour modération, acceptés ou refusés : 45 jours." in french
    assert "Avis de non-distribution concernant votre adresse : 61 jours." in french
    assert "ceux tenus par adresse IP : 3 jours" in french
    assert "ne peuvent pas être rappelées" in french
    english = text_of(client.get("/privacy", headers=ENGLISH))
    assert "Running the network of cross-border actors." in english and "A task in the public interest." in english
    assert "Messages held for moderation, approved or rejected: 45 days." in english
    assert "Animer" not in english


def test_every_page_links_to_it_in_its_footer(app: Flask):
    client = app.test_client()
    for path in ("/", "/help", "/sign-in", "/obstacles", "/privacy", "/no-such-page"):
        page = client.get(path).get_data(as_text=True)
        footer = page[page.index('<footer class="site-footer">'):]
        assert '<a href="/privacy">Données personnelles</a>' in footer, path


def test_without_configuration_it_says_so(make_config, instance):  # type: ignore[no-untyped-def]
    page = text_of(create_app(make_config(), instance.engine).test_client().get("/privacy"))
    assert "pas encore renseigné" in page and "90 jours" in page
