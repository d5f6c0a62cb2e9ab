"""The personal-data pages in a real browser (Debian's Chromium, Playwright) against the real
`relais serve`: the privacy page, "My data" on the account page (the download is a zip) and
the administrators' erasure page, each audited by axe-core and readable on a phone.

Select with `-m browser` (see tests/browser_support.py for when they are skipped).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from archive_web import create_app
from browser_support import BROWSER_TESTS, browser_page, served, shoot  # noqa: F401
from storage.db import session_scope
from storage.instance import initialise
from storage.models import DeliveryMode, OrganisationKind, Role, utcnow
from storage.people import MemberRow, person_by_address, upsert_member
from storage.web_sessions import open_web_session
from webtools import make_config, visibility  # noqa: F401

pytestmark = BROWSER_TESTS


def _signed_in_as(page, config, address: str, role: Role) -> None:  # type: ignore[no-untyped-def]
    """The browser holds the cookie of a session opened for this member, as sign-in gives."""
    engine = initialise(config)
    with session_scope(engine) as db:
        if person_by_address(db, address) is None:
            upsert_member(db, MemberRow(address, "Ada Admin", "MOT", OrganisationKind.TEAM, role), DeliveryMode.ALL)
        sid = open_web_session(db, person_by_address(db, address).id, "mail", "", utcnow())
    engine.dispose()
    app = create_app(config)
    cookie = app.session_interface.get_signing_serializer(app).dumps({"sid": sid})  # type: ignore[attr-defined]
    page.context.clear_cookies()
    page.context.add_cookies([{"name": "relais_session", "value": cookie, "domain": "127.0.0.1", "path": "/"}])


def test_privacy_my_data_and_erasure_pages_in_a_browser(served, browser_page):  # type: ignore[no-untyped-def]
    page, base, audited = browser_page, f"http://127.0.0.1:{served.web.port}", {}
    page.goto(base + "/")
    page.get_by_role("link", name="Données personnelles").click()
    page.wait_for_url(base + "/privacy")
    assert page.get_by_role("heading", name="Vos données personnelles").is_visible()
    shoot(page, "privacy", audited)

    _signed_in_as(page, served, "alice@example.org", Role.MEMBER)
    page.goto(base + "/account")
    with page.expect_download() as download:
        page.get_by_role("link", name="Télécharger mes données").click()
    with zipfile.ZipFile(io.BytesIO(Path(download.value.path()).read_bytes())) as archive:
        assert "relais-data/profile.json" in archive.namelist()
    shoot(page, "account-data", audited)

    _signed_in_as(page, served, "ada@example.org", Role.ADMIN)
    page.goto(base + "/admin/erase")
    page.get_by_label("L’une des adresses de la personne").fill("tess@example.eu")
    page.get_by_label("Les retirer (les réponses restent, et l’absence est signalée)").check()
    page.get_by_label("Je confirme l’effacement : il est irréversible").check()
    page.get_by_role("button", name="Effacer").click()
    assert page.get_by_role("status").inner_text().startswith("La personne est effacée")
    shoot(page, "erase", audited)
    assert audited == {"privacy": [], "account-data": [], "erase": []}
