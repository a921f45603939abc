"""`stackledger.store.binary_copy` round trip on the ops PostgreSQL: `--rows` compact readings
(resource int4, meter int2, ts timestamp, volume float8, project int4) written with `copy_in`, read
back with `copy_out` (COPY TO STDOUT through psycopg) and `packed_out` (TID-range pages packed into
one bytea each). Prints rows/s and the CPU of this process and of the PostgreSQL backend.

    python -m benchmarks.bench_binary_copy [--rows 3000000]
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Float,
    Integer,
    MetaData,
    SmallInteger,
    Table,
    create_engine,
    select,
    text,
)
from sqlalchemy.engine import make_url

from benchmarks.bench_sample_store import measured
from benchmarks.common import emit
from stackledger.store.binary_copy import copy_in, copy_out, packed_out

READINGS = Table(
    "bench_readings", MetaData(),
    Column("resource", Integer, nullable=False), Column("meter", SmallInteger, nullable=False),
    Column("ts", DateTime, nullable=False), Column("volume", Float, nullable=False),
    Column("project", Integer, nullable=False), Column("id", BigInteger, nullable=False),
)  # fmt: skip


def run(url: str, rows: int) -> None:
    rng = np.random.default_rng(5)
    day = 1_792_000_000 * 10**9
    arrays = {
        "resource": rng.integers(0, 30_000, rows, dtype=np.int32),
        "meter": rng.integers(0, 14, rows, dtype=np.int16),
        "ts": day + np.sort(rng.integers(0, 86_400 * 10**6, rows)) * 1000,
        "volume": rng.random(rows) * 1e9,
        "project": rng.integers(0, 50, rows, dtype=np.int32),
        "id": np.arange(rows),
    }
    engine = create_engine(url)
    READINGS.metadata.create_all(engine)
    with engine.connect() as conn:
        conn.info["backend_pid"] = conn.execute(select(text("pg_backend_pid()"))).scalar_one()
        conn.commit()
        with measured(conn) as cost, conn.begin():
            copy_in(conn, READINGS, arrays)
        report("copy_in", rows, cost)
        with measured(conn) as cost, conn.begin():
            got = sum(len(chunk["id"]) for chunk in copy_out(conn, select(READINGS)))
        report("copy_out", got, cost)
        with measured(conn) as cost, conn.begin():
            got = sum(len(chunk["id"]) for chunk in packed_out(conn, READINGS, list(arrays)))
        report("packed_out", got, cost)


def report(path: str, rows: int, cost: dict[str, float]) -> None:
    emit("binary_copy", f"{path}_rows_per_s", rows / cost["wall"], "rows/s", rows=rows,
         client_cpu_us_per_row=round(cost["client"] / rows * 1e6, 3),
         server_cpu_us_per_row=round(cost["server"] / rows * 1e6, 3))  # fmt: skip


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=3_000_000)
    args = parser.parse_args(argv)
    base = make_url(os.environ.get("STACKLEDGER_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:55432/postgres"))
    name = f"stackledger_bench_{os.getpid()}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        run(base.set(database=name).render_as_string(hide_password=False), args.rows)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
