"""What the browser tests share: Debian's Chromium driven by Playwright, against the real
`relais serve` (gateway, web server, scheduler) started in-process on free ports, with a real
SMTP sink standing for the outgoing relay; axe-core (from the npm registry, installed by
`make browser-deps`) checks the pages for accessibility problems, and screenshots go to
test-artifacts/.

A browser test module sets `pytestmark = BROWSER_TESTS` and imports the fixtures it uses
(`served`, `browser_page`) by name. The tests are skipped, saying why, only outside CI when
Chromium is not installed; in CI (CI=true) they always run, and fail if it is missing.
"""

from __future__ import annotations

import json
import os
import smtplib
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from conftest import FORUM, free_port
from relais.serve import serve
from storage.config import REPO_DIR, Config
from storage.db import session_scope
from storage.instance import initialise
from storage.models import DeliveryMode, OrganisationKind, Role
from storage.people import MemberRow, upsert_member
from webtools import link_in, mail_with_subject

CHROMIUM = Path("/usr/bin/chromium")
AXE = REPO_DIR / "build" / "axe-core" / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = REPO_DIR / "test-artifacts"
IN_CI = os.environ.get("CI") == "true"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WIDE, PHONE = 1280, 390

BROWSER_TESTS = [
    pytest.mark.browser,
    pytest.mark.skipif(not IN_CI and not CHROMIUM.exists(),
                       reason="Debian's chromium is not installed (/usr/bin/chromium): run `make browser-deps`"),
    pytest.mark.parametrize("visibility", ["members"]),
]


# ----------------------------------------------------------------- relais serve in a thread

def wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listening on port {port} after {timeout} s") from None
            threading.Event().wait(0.05)  # poll again shortly: the server is starting


def serving_config(make_config, web_port: int, **sections: dict[str, Any]) -> Config:  # type: ignore[no-untyped-def]
    """A configuration for `relais serve` on 127.0.0.1: the web on `web_port`, SMTP on a free
    port, the delivery job every second; `sections` add to it (an [oidc] section, say)."""
    return make_config(forum={"base_url": f"http://127.0.0.1:{web_port}"},
                       smtp={"host": "127.0.0.1", "port": free_port()},
                       web={"host": "127.0.0.1", "port": web_port},
                       delivery={"interval_seconds": 1}, **sections)


def add_members(config: Config, members: Iterable[MemberRow]) -> None:
    engine = initialise(config)
    with session_scope(engine) as db:
        for member in members:
            upsert_member(db, member, DeliveryMode.ALL)
    engine.dispose()


@contextmanager
def serving(config: Config) -> Iterator[Config]:
    """`relais serve` itself, in a thread, until the block ends."""
    stop = threading.Event()
    thread = threading.Thread(target=serve, args=(config, stop), name="relais-serve")
    thread.start()
    try:
        wait_for_port(config.web.port)
        wait_for_port(config.smtp.port)
        yield config
    finally:
        stop.set()
        thread.join(timeout=60)


@pytest.fixture
def served(make_config) -> Iterator[Config]:  # type: ignore[no-untyped-def]
    """`relais serve` with two members: Alice, and Tess of the technical team."""
    config = serving_config(make_config, free_port())
    add_members(config, [MemberRow("alice@example.org", "Alice Martin", "Eurométropole", OrganisationKind.MEMBER,
                                   Role.MEMBER),
                         MemberRow("tess@example.eu", "Tess Team", "MOT", OrganisationKind.TEAM, Role.MEMBER)])
    with serving(config):
        yield config


def send(config: Config, raw: bytes, sender: str) -> None:
    with smtplib.SMTP("127.0.0.1", config.smtp.port, timeout=30) as client:
        client.sendmail(sender, [FORUM], raw)


# ----------------------------------------------------------------- the browser

@contextmanager
def chromium_page(locale: str) -> Iterator[Any]:
    """A page of a fresh headless Chromium whose reader asks for `locale`."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(locale=locale, viewport={"width": 1200, "height": 900})
        context.set_default_timeout(20_000)
        page = context.new_page()
        page.set_default_navigation_timeout(20_000)
        yield page
        context.close()
        browser.close()


@pytest.fixture
def browser_page(served: Config):  # type: ignore[no-untyped-def]
    """A French-speaking reader's page; `relais serve` runs."""
    with chromium_page("fr-FR") as page:
        yield page


def sign_in_by_mailed_link(page, sink, address: str) -> None:  # type: ignore[no-untyped-def]
    """On the sign-in page (in French): ask for the link, follow the one mailed, confirm."""
    page.get_by_label("Votre adresse électronique").fill(address)
    page.get_by_role("button", name="M'envoyer un lien de connexion").click()
    page.get_by_role("heading", name="Consultez votre messagerie").wait_for()
    page.goto(link_in(mail_with_subject(sink, address, "Votre lien de connexion")))
    page.get_by_role("button", name="Se connecter").click()


# ----------------------------------------------------------------- audits and screenshots

def serious_violations(page) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    """axe-core's serious and critical findings against WCAG 2.1 A and AA on the open page."""
    if not AXE.exists():
        pytest.fail(f"axe-core is missing ({AXE}): run `make browser-deps`")
    page.evaluate(AXE.read_text())
    results = page.evaluate("""async () => await axe.run(document, {
        runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})""")
    return [{"id": v["id"], "impact": v["impact"], "help": v["help"],
             "targets": [n["target"] for n in v["nodes"]][:5]}
            for v in results["violations"] if v["impact"] in ("serious", "critical")]


def shoot(page, name: str, audited: dict[str, object]) -> None:  # type: ignore[no-untyped-def]
    """Screenshots at both widths, the axe-core audit, and no sideways scrolling on a phone."""
    for width in (WIDE, PHONE):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= PHONE, f"{name} scrolls sideways at {PHONE} px ({scroll} px)"
    audited[name] = serious_violations(page)
    page.set_viewport_size({"width": WIDE, "height": 900})


def pages_with_findings(audited: dict[str, Any], report: str) -> dict[str, Any]:
    """Writes the audits to test-artifacts/`report` (JSON); returns the pages with findings."""
    (ARTIFACTS / report).write_text(json.dumps(audited, indent=2, ensure_ascii=False))
    return {name: found for name, found in audited.items() if found}
