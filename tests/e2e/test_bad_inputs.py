"""The bad-input corpus (tests/e2e/bad_inputs/*.yaml, described in its README.md): every case
through the real CLI, twice. Each asserts the exit status and the exact error line (or its stable
prefix), no traceback, no listed secret in the output, nothing written, and — for `store` cases,
run on SQLite and PostgreSQL in a store holding a rated month — every row unchanged. Ingest cases
(`lines`, `stdin`) may change the store on the first run only: they assert the exact dead-letter
reasons, the good samples of the same input stored, and a re-run changing nothing."""

from __future__ import annotations

import io
import json
import os
import socket
import string
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from stackledger.cli import main
from stackledger.store import Store, tables
from tests import stored_samples
from tests.e2e.test_rate_cli import write_samples
from tests.secrets_check import database_text

CORPUS = Path(__file__).parent / "bad_inputs"
MONTH = "2026-10"  # what the store cases' store holds, ingested and rated
DATABASE_FILES = (".db", ".db-wal", ".db-shm")  # a SQLite store a command opened is not "written"


@dataclass(frozen=True)
class Case:
    id: str
    argv: list[str]
    error: str | None = None
    error_prefix: str | None = None
    error_contains: str | None = None
    exit: int = 2
    files: dict[str, str] = field(default_factory=dict)
    binary: dict[str, str] = field(default_factory=dict)
    env: dict[str, str | None] = field(default_factory=dict)
    store: bool = False
    writes: list[str] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)
    dead_letters: list[str] | None = None
    lines: list[Any] | None = None  # written to ${tmp}/samples.jsonl (`sample_lines`)
    stdin: str | None = None
    stored: list[str] = field(default_factory=list)  # message ids in the store after the run
    stdout: str | None = None  # the exact stdout of the first run
    changes: bool = False  # the first run may store (ingest); the re-run must not

    @property
    def changes_the_store(self) -> bool:
        return self.changes or self.lines is not None or self.stdin is not None


def load_cases() -> list[Case]:
    cases = [Case(**entry) for path in sorted(CORPUS.glob("*.yaml")) for entry in yaml.safe_load(path.read_text())]
    ids = [case.id for case in cases]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    for case in cases:
        assert case.error is None or case.error_prefix is None, f"{case.id}: give error or error_prefix, not both"
        checked = case.error, case.error_prefix, case.dead_letters, case.stdout
        assert any(check is not None for check in checked), f"{case.id}: give the error line or the dead letters"
    return cases


# A good sample; `lines` entries override its keys (`sample:`), or are JSON (`json:`, where any
# `{sample: {…}}` inside becomes a sample too), or raw text (a string).
GOOD_SAMPLE = {"counter_name": "vcpus", "counter_type": "gauge", "counter_unit": "vcpu", "counter_volume": 1,
               "resource_id": "r-corpus", "project_id": "p-corpus", "timestamp": "2026-09-10T00:00:00Z"}  # fmt: skip


def sample_lines(case: Case, fill: Any) -> str:
    """The text of `case.lines`; message ids are `<case id>-<n>` (n counts the generated samples) unless given."""
    counter = iter(range(1, 10_000))

    def expand(value: Any) -> Any:
        if isinstance(value, dict) and set(value) == {"sample"}:
            overrides = value["sample"] or {}
            made = {"message_id": f"{case.id}-{next(counter)}", **GOOD_SAMPLE, **overrides}
            return {key: item for key, item in made.items() if item != "<absent>"}
        if isinstance(value, dict):
            return {key: expand(item) for key, item in value.items()}
        if isinstance(value, list):
            return [expand(item) for item in value]
        return value

    out = []
    for entry in case.lines or []:
        if isinstance(entry, str):
            out.append(fill(entry))
        elif set(entry) == {"json"}:
            out.append(json.dumps(expand(entry["json"])))
        else:
            out.append(json.dumps(expand(entry)))
    return "\n".join(out) + "\n"


def stored_ids(url: str, ids: list[str]) -> list[str]:
    store = Store(url)
    try:
        return sorted(stored_samples.stored_ids(store, ids))
    finally:
        store.engine.dispose()


CASES = load_cases()


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ------------------------------------------------------------------------------ the seeded stores


def seed(url: str, folder: Path) -> None:
    """A store holding two ingested and rated days of 2026-10 (tests/e2e/test_rate_cli.py's samples)."""
    samples = write_samples(folder / "samples.jsonl")
    with pytest.MonkeyPatch.context() as env:
        clean_environment(env)
        env.setenv("STACKLEDGER__DATABASE__URL", url)
        assert main(["-q", "ingest", str(samples)]) == 0
        assert main(["-q", "rate", "--month", MONTH]) == 0


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def seeded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The URL of a store with a rated month, once per backend for the whole module."""
    folder = tmp_path_factory.mktemp(f"seeded-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{folder / 'ledger.db'}"
    else:
        url = request.getfixturevalue("pg_url")
        from sqlalchemy import create_engine, text

        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {', '.join(t.name for t in tables.metadata.sorted_tables)} CASCADE"))
        engine.dispose()
    seed(url, folder)
    return url


def clean_environment(env: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("STACKLEDGER__") or name == "STACKLEDGER_CONFIG":
            env.delenv(name)


# ------------------------------------------------------------------------------ running a case


def tree(folder: Path) -> dict[str, bytes]:
    return {str(path): path.read_bytes() for path in sorted(folder.rglob("*"))
            if path.is_file() and not path.name.endswith(DATABASE_FILES)}  # fmt: skip


def dead_letter_reasons(url: str) -> list[str]:
    from sqlalchemy import create_engine

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            query = select(tables.dead_letters.c.reason).order_by(tables.dead_letters.c.id)
            return [str(reason) for reason in conn.execute(query).scalars()]
    finally:
        engine.dispose()


def last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def run_case(case: Case, tmp: Path, db: str, env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    values = {"tmp": str(tmp), "db": db, "closed": str(closed_port()), "keystone": os.environ.get("OS_AUTH_URL", "")}
    if "${keystone}" in str(case) and not values["keystone"]:
        pytest.fail("OS_AUTH_URL is not set: run `ops/up.sh keystone` and `source .ops/env`", pytrace=False)

    def fill(text: str) -> str:
        return string.Template(text).substitute(values)

    for name, text in case.files.items():
        (tmp / name).write_text(fill(text), encoding="utf-8")
    for name, hexed in case.binary.items():
        (tmp / name).write_bytes(bytes.fromhex(hexed))
    if case.lines is not None:
        (tmp / "samples.jsonl").write_text(sample_lines(case, fill), encoding="utf-8")
    clean_environment(env)
    settings_env: dict[str, Any] = {"STACKLEDGER__DATABASE__URL": db, "STACKLEDGER__REPORT__OUT_DIR": str(tmp / "out")}
    for name, value in {**settings_env, **case.env}.items():
        if value is None:
            env.delenv(name, raising=False)
        else:
            env.setenv(name, fill(str(value)))
    argv = [fill(arg) for arg in case.argv]
    allowed = [fill(path) for path in case.writes]
    files_before = tree(tmp)
    rows_before = database_text(db) if case.store else None
    letters_before = dead_letter_reasons(db) if case.dead_letters is not None else []

    for attempt in ("first run", "re-run"):
        if attempt == "re-run" and case.changes_the_store:
            rows_before = database_text(db)  # the first run stored the good samples and dead letters
        if case.stdin is not None:
            env.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(fill(case.stdin).encode("utf-8", "surrogateescape"))))
        code = exit_status(argv)
        out, err = capsys.readouterr()
        context = f"{case.id} ({attempt}): exit {code}\nstdout:\n{out}\nstderr:\n{err}"
        assert code == case.exit, context
        assert "Traceback" not in out + err, context
        line = last_line(err)
        if case.error is not None:
            assert line == fill(case.error), context
        elif case.error_prefix is not None:
            assert line.startswith(fill(case.error_prefix)), context
        if case.stdout is not None and attempt == "first run":
            assert out == fill(case.stdout), context
        if case.error_contains is not None:
            assert fill(case.error_contains) in line, context
        leaked = [secret for secret in case.secrets if secret in out + err]
        assert not leaked, f"{context}\nleaked: {leaked}"

    written = {path for path in set(tree(tmp)) ^ set(files_before) if not path.startswith(tuple(allowed))}
    changed = {path for path, data in files_before.items() if tree(tmp).get(path, data) != data}
    assert not written and not changed, f"{case.id}: wrote {sorted(written | changed)}"
    if rows_before is not None:
        assert database_text(db) == rows_before, f"{case.id}: the store changed" + (
            " on the re-run" if case.changes_the_store else "")  # fmt: skip
    if case.dead_letters is not None:
        assert dead_letter_reasons(db)[len(letters_before) :] == case.dead_letters, case.id
    if case.stored:
        assert stored_ids(db, case.stored) == sorted(case.stored), f"{case.id}: good samples not stored"


def exit_status(argv: list[str]) -> int:
    """`main(argv)`, argparse's exit (bad arguments) included."""
    try:
        return main(argv)
    except SystemExit as stop:
        return int(stop.code or 0)


@pytest.fixture
def case_env() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as env:
        yield env


@pytest.mark.parametrize("case", [case for case in CASES if case.store], ids=lambda case: case.id)
def test_bad_input_in_a_store(case: Case, seeded: str, tmp_path: Path, case_env: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    run_case(case, tmp_path, seeded, case_env, capsys)


@pytest.mark.parametrize("case", [case for case in CASES if not case.store], ids=lambda case: case.id)
def test_bad_input(
    case: Case, tmp_path: Path, case_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run_case(case, tmp_path, f"sqlite:///{tmp_path / 'ledger.db'}", case_env, capsys)


def test_the_corpus_covers_every_family() -> None:
    """At least 60 cases (issue 12), and each family present."""
    families = {path.stem: len(yaml.safe_load(path.read_text())) for path in CORPUS.glob("*.yaml")}
    assert sum(families.values()) >= 60
    assert {"config", "environment", "rate_cards", "rules", "price_books", "arguments", "services",
            "samples"} <= set(families)  # fmt: skip
