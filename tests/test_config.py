"""config.toml: loaded once into a frozen Config; every setting documented; errors name the key."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest

from storage.config import REPO_DIR, Config, ConfigError, config_from_mapping, load_config

SAMPLE = REPO_DIR / "config.toml"


def test_the_sample_config_documents_every_setting_with_its_default():
    data = tomllib.loads(SAMPLE.read_text())
    defaults = Config()
    for section in dataclasses.fields(Config):
        if section.name == "base_dir":
            continue
        assert section.name in data, f"[{section.name}] missing from config.toml"
        section_defaults = getattr(defaults, section.name)
        for setting in dataclasses.fields(section_defaults):
            assert setting.name in data[section.name], f"{section.name}.{setting.name} missing from config.toml"
            assert data[section.name][setting.name] == getattr(section_defaults, setting.name), \
                f"config.toml gives {section.name}.{setting.name} another value than its default"


def test_every_setting_in_the_sample_has_a_comment_line_above_it():
    lines = SAMPLE.read_text().splitlines()
    for i, line in enumerate(lines):
        if "=" in line and not line.startswith("#"):
            previous = next(lines[j] for j in range(i - 1, -1, -1) if lines[j].strip())
            assert previous.startswith("#") or "=" in previous, f"no comment above {line!r}"


def test_relative_paths_are_relative_to_the_config_file(tmp_path: Path):
    path = tmp_path / "etc" / "relais.toml"
    path.parent.mkdir()
    path.write_text('[storage]\ndatabase_url = "sqlite:///db/forum.sqlite3"\n[search]\nindex_dir = "idx"\n')
    config = load_config(path)
    assert config.database_url == f"sqlite:///{tmp_path}/etc/db/forum.sqlite3"
    assert config.index_dir == tmp_path / "etc" / "idx"


def test_environment_variable_names_the_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "c.toml"
    path.write_text('[forum]\naddress = "obstacles@region.example.eu"\n')
    monkeypatch.setenv("RELAIS_CONFIG", str(path))
    assert load_config().domain == "region.example.eu"


@pytest.mark.parametrize("toml, named", [
    ('[forum]\nadress = "x@y"\n', "forum.adress"),
    ('[smpt]\nport = 25\n', "[smpt]"),
    ('[smtp]\nport = "25"\n', "smtp.port"),
    ('[smtp]\nport = 70000\n', "smtp.port"),
    ('[archive]\nvisibility = "everyone"\n', "archive.visibility"),
    ('[delivery]\ndefault_mode = "weekly"\n', "delivery.default_mode"),
    ('[forum]\naddress = "no-at-sign"\n', "forum.address"),
    ('[web]\nsecret_key = 42\n', "web.secret_key"),
])
def test_an_unknown_key_or_bad_value_stops_with_a_message_naming_it(tmp_path: Path, toml: str, named: str):
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError, match=named.replace("[", r"\[").replace("]", r"\]")):
        load_config(path)


def test_the_cli_reports_a_bad_config_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    from relais.cli import main

    path = tmp_path / "bad.toml"
    path.write_text('[smtp]\nmax_message_size = "big"\n')
    assert main(["--config", str(path), "topics", "list"]) == 2
    assert "smtp.max_message_size" in capsys.readouterr().err


def test_config_is_frozen():
    config = config_from_mapping({})
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.smtp.port = 25  # type: ignore[misc]
