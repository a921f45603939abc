"""docs/dev/ARCHITECTURE.md matches the code: every file it names exists, and its layer table is
the layers contract `lint-imports` enforces (pyproject's [tool.importlinter])."""

from __future__ import annotations

import re
import tomllib

from tests.conftest import REPO

DOC = REPO / "docs" / "dev" / "ARCHITECTURE.md"
PATH = re.compile(r"`((?:stackledger|collectors|transforms|reports|alarms|airflow_dags|tests|docs)/[\w./-]+)`")


def test_every_file_the_architecture_names_exists() -> None:
    named = set(PATH.findall(DOC.read_text(encoding="utf-8")))
    assert len(named) > 40  # the page traces a sample file by file
    missing = sorted(path for path in named if not (REPO / path).exists())
    assert not missing, f"ARCHITECTURE.md names files that do not exist: {missing}"


def test_the_layer_table_is_the_enforced_contract() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    [layers] = [c for c in config["tool"]["importlinter"]["contracts"] if c["type"] == "layers"]
    enforced = [sorted(part.strip() for part in layer.split("|")) for layer in layers["layers"]]
    table = DOC.read_text(encoding="utf-8").split("| layer (top to bottom) |", 1)[1].split("\n\n", 1)[0]
    documented = [sorted(re.findall(r"`(\w+)`", row.split("|")[2])) for row in table.splitlines()[2:]]
    assert documented == enforced
