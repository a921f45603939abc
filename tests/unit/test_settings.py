from __future__ import annotations

from pathlib import Path

import pytest

from stackledger.errors import ConfigError
from stackledger.settings import DEFAULT_RATE_CARD, PACKAGE_DATA, load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "stackledger.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_use_sqlite_in_working_directory() -> None:
    settings = load_settings(None, {})
    assert settings.database.url == "sqlite:///stackledger.db"
    assert settings.rate_card == DEFAULT_RATE_CARD


def test_file_then_environment_precedence(tmp_path: Path) -> None:
    path = write(tmp_path, "database:\n  url: sqlite:///from-file.db\ningest:\n  batch_size: 10\n")
    env = {"STACKLEDGER__INGEST__BATCH_SIZE": "250"}
    settings = load_settings(path, env)
    assert settings.database.url == "sqlite:///from-file.db"
    assert settings.ingest.batch_size == 250  # env wins, parsed as an int


def test_config_path_from_environment_variable(tmp_path: Path) -> None:
    path = write(tmp_path, "report:\n  organisation: Fjord Cloud\n")
    assert load_settings(None, {"STACKLEDGER_CONFIG": str(path)}).report.organisation == "Fjord Cloud"


def test_relative_rate_card_is_relative_to_the_config_file(tmp_path: Path) -> None:
    path = write(tmp_path, "rate_card: cards/ours.yaml\n")
    assert load_settings(path, {}).rate_card == tmp_path / "cards" / "ours.yaml"


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ("database:\n  uri: x\n", "database.uri", "unknown key"),
        ("ingest:\n  batch_size: lots\n", "ingest.batch_size", "valid integer"),
        ("ingest:\n  batch_size: 0\n", "ingest.batch_size", "greater than 0"),
        ("usage: [1, 2]\n", "usage", "valid dictionary"),
    ],
)
def test_errors_name_file_key_and_expectation(tmp_path: Path, text: str, key: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path, {})
    message = str(info.value)
    assert str(path) in message
    assert f"key {key}" in message
    assert expected in message


def test_environment_errors_name_the_environment() -> None:
    where = r"^environment variable STACKLEDGER__INGEST__BATCH_SIZE, key ingest.batch_size: "
    with pytest.raises(ConfigError, match=where + ".*greater than 0"):
        load_settings(None, {"STACKLEDGER__INGEST__BATCH_SIZE": "-3"})


def test_unreadable_and_invalid_yaml_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "missing.yaml", {})
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(write(tmp_path, "database: [unclosed\n"), {})
    with pytest.raises(ConfigError, match="mapping of sections"):
        load_settings(write(tmp_path, "- just\n- a list\n"), {})


def test_example_config_is_valid_and_matches_defaults() -> None:
    example = load_settings(PACKAGE_DATA / "config.example.yaml", {})
    defaults = load_settings(None, {})
    assert example.model_dump(exclude={"source_file"}) == defaults.model_dump(exclude={"source_file"})
