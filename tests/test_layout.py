"""The layers stay honest: who may import what (read from each module's syntax tree)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from storage.config import REPO_DIR

PACKAGES = ("mailgateway", "archive_web", "storage", "relais")


def imported_modules(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in (REPO_DIR / package).rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        names = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(REPO_DIR))] = names
    return found


@pytest.mark.parametrize("package, forbidden", [
    ("mailgateway", {"flask", "sqlalchemy", "whoosh", "archive_web", "relais"}),
    ("archive_web", {"aiosmtpd", "sqlalchemy", "whoosh", "relais"}),
    ("storage", {"flask", "aiosmtpd", "mailgateway", "archive_web", "relais"}),
    ("relais", {"sqlalchemy", "whoosh"}),
])
def test_package_does_not_import(package: str, forbidden: set[str]):
    offenders = {path: names & forbidden for path, names in imported_modules(package).items() if names & forbidden}
    assert not offenders


def test_only_the_config_module_reads_config_toml():
    readers = [p for p in REPO_DIR.glob("*/**/*.py") if "tomllib" in p.read_text()
               and p.parts[-2] in PACKAGES]
    assert [p.relative_to(REPO_DIR).as_posix() for p in readers] == ["storage/config.py"]


def test_no_module_is_a_grab_bag_past_400_lines():
    long = {p.relative_to(REPO_DIR).as_posix(): n for package in PACKAGES
            for p in (REPO_DIR / package).rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 400 and "migrations" not in p.parts}
    assert not long
