"""The run's scratch PostgreSQL database, and what the harness asks it (a benchmark may use SQL).

Only the harness's own questions live here: how many rows each step left, and how many bytes
the stored samples take. The commands under test reach the database by themselves.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from benchmarks.e2e.measure import read_proc

REPO = Path(__file__).resolve().parents[2]
URL_VARIABLES = ("STACKLEDGER_BENCH_PG_URL", "STACKLEDGER_TEST_PG_URL")

# The compact sample rows: every day partition of `sample_rows`, each with its indexes and TOAST.
# (The dictionaries, batches and attribute revisions are counted in the database's bytes.)
_SAMPLES_BYTES = text(
    "SELECT COALESCE((SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree('sample_rows')),"
    " pg_total_relation_size('sample_rows'))"
)


def base_url() -> str | None:
    """The ops PostgreSQL: from the environment, else from the env file `ops/up.sh` writes
    (`make bench-e2e` does not source it)."""
    for name in URL_VARIABLES:
        if os.environ.get(name):
            return os.environ[name]
    env_file = Path(os.environ.get("STACKLEDGER_OPS_DIR") or REPO / ".ops") / "env"
    if env_file.exists():
        values = dict(_export(line) for line in env_file.read_text(encoding="utf-8").splitlines())
        for name in URL_VARIABLES:
            if values.get(name):
                return values[name]
    return None


def _export(line: str) -> tuple[str, str]:
    key, _, value = line.removeprefix("export ").partition("=")
    return key.strip(), value.strip().strip("'\"")


@contextmanager
def scratch_database(base: str, name: str, *, keep: bool = False) -> Iterator[str]:
    """A new empty database `name` on the server of `base` (dropped first if left by a crashed
    run), dropped again on exit unless `keep`. Yields its URL."""
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    quoted = '"' + name.replace('"', '""') + '"'
    try:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"))
            conn.execute(text(f"CREATE DATABASE {quoted}"))
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        if not keep:
            with admin.connect() as conn:
                conn.execute(text(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"))
        admin.dispose()


def postmaster_pid(url: str) -> int | None:
    """The PID of the server's postmaster when it runs on this machine (our backend's parent),
    else None: then PostgreSQL's CPU cannot be measured."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            backend = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
            proc = read_proc(int(backend))
            if proc is None or _command(proc.ppid) != "postgres":
                return None
            return proc.ppid
    finally:
        engine.dispose()


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def row_counts(url: str) -> dict[str, int]:
    """Stored samples, dead letters, usage rows (hourly and daily) and cost lines (in all, and per price book)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            found = {
                table: int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
                for table in ("sample_rows", "dead_letters", "usage", "daily_usage", "cost_lines")
            }
            found["samples"] = found.pop("sample_rows")
            books = conn.execute(text("SELECT price_book, count(*) FROM cost_lines GROUP BY price_book"))
            found.update({f"cost_lines_{book}": int(n) for book, n in books})
            return found
    finally:
        engine.dispose()


def store_bytes(url: str) -> tuple[int, int]:
    """(bytes of the sample rows with their partitions, indexes and TOAST; bytes of the whole database)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            samples = int(conn.execute(_SAMPLES_BYTES).scalar_one())
            database = int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one())
            return samples, database
    finally:
        engine.dispose()
