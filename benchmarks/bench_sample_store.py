"""The compact sample store prototype (`stackledger.store.compact_samples`) on the ops PostgreSQL:
bytes per stored sample, batch ingest with dedupe, and reading a day back.

In a scratch database it loads `--rows` samples into each of two day partitions — one with
Ceilometer's uuid1 message ids (time-ordered), one with random uuid4 ids — in batches of 100,000
through `store_rows` (COPY to a staging table, INSERT … ON CONFLICT), then prints per day:
heap, index and total bytes per sample (`pg_total_relation_size`), the index's leaf density
(`pgstattuple`), ingest rows/s with client and server CPU; then a repeated batch (all
duplicates) and a changed one (all conflicts); then the day read back with `packed_out` and
`copy_out`. PostgreSQL CPU is its backend's, from /proc (same machine).

    python -m benchmarks.bench_sample_store [--rows 3000000]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

import numpy as np
from sqlalchemy import Column, Connection, MetaData, Table, create_engine, select, text
from sqlalchemy.engine import make_url

from benchmarks.common import emit
from stackledger.store import compact_samples as cs
from stackledger.store.binary_copy import copy_out, packed_out

BATCH: Final = 100_000
DAYS: Final = {"uuid1": 9783, "uuid4": 9784}  # 2026-10-14, 2026-10-15 as days since 2000
_UUID1_OFFSET: Final = 0x01B21DD213814000  # 100 ns ticks from 1582-10-15 to 1970


def uuid1_keys(ts_ns: np.ndarray, serial: np.ndarray) -> np.ndarray:
    """Version-1 UUIDs as Ceilometer's uuid1() makes them: 100 ns ticks, clock sequence, node."""
    ticks = ts_ns // 100 + _UUID1_OFFSET + serial % 10
    record = np.zeros(len(ts_ns), dtype=[("low", ">u4"), ("mid", ">u2"), ("high", ">u2"), ("seq", ">u2"),
                                         ("node_hi", ">u2"), ("node_lo", ">u4")])  # fmt: skip
    record["low"] = ticks & 0xFFFFFFFF
    record["mid"] = (ticks >> 32) & 0xFFFF
    record["high"] = ((ticks >> 48) & 0x0FFF) | 0x1000
    record["seq"] = 0x8000 | ((serial // 10) & 0x3FFF)
    record["node_hi"], record["node_lo"] = 0x0242, 0xAC110002
    return record.view("V16").ravel()


def uuid4_keys(rng: np.random.Generator, size: int) -> np.ndarray:
    raw = rng.integers(0, 256, (size, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    return raw.view("V16").ravel()


def day_rows(kind: str, rows: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One day of a 10,000-instance cloud's samples in arrival (time) order."""
    day = DAYS[kind]
    start = (day + cs.EPOCH_2000_DAYS) * cs.DAY_NS
    ts = start + np.sort(rng.integers(0, cs.DAY_NS, rows)) // 1000 * 1000
    serial = np.arange(rows, dtype=np.int64)
    keys = uuid1_keys(ts, serial) if kind == "uuid1" else uuid4_keys(rng, rows)
    return {"ts": ts, "volume": rng.random(rows) * 1e9, "message": keys, "resource": rng.integers(1, 30_000, rows),
            "project": rng.integers(0, 50, rows), "batch": serial // BATCH + 1, "meter": rng.integers(1, 8, rows),
            "day": np.full(rows, day, dtype=np.int16)}  # fmt: skip


def backend_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def measured(conn: Connection) -> Iterator[dict[str, float]]:
    """CPU of this process and of the connection's PostgreSQL backend, and wall time."""
    pid = conn.info["backend_pid"]
    out: dict[str, float] = {}
    server, client, wall = backend_cpu(pid), time.process_time(), time.perf_counter()
    yield out
    out.update(server=backend_cpu(pid) - server, client=time.process_time() - client,
               wall=time.perf_counter() - wall)  # fmt: skip


def batches(rows: dict[str, np.ndarray]) -> Iterator[dict[str, np.ndarray]]:
    for begin in range(0, len(rows["ts"]), BATCH):
        yield {name: values[begin : begin + BATCH] for name, values in rows.items()}


def run(url: str, rows: int) -> None:
    rng = np.random.default_rng(14)
    engine = create_engine(url)
    cs.create_tables(engine)
    cs.ensure_day_partitions(engine, DAYS.values())
    with engine.connect() as conn:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS pgstattuple"))
        conn.info["backend_pid"] = conn.execute(select(text("pg_backend_pid()"))).scalar_one()
        conn.commit()
        for kind, day in DAYS.items():
            data = day_rows(kind, rows, rng)
            with measured(conn) as cost:
                for batch in batches(data):
                    with conn.begin():
                        cs.store_rows(conn, batch)
            context: dict[str, Any] = {"keys": kind, "rows": rows}
            emit("sample_store", "ingest_rows_per_s", rows / cost["wall"], "rows/s",
                 client_cpu_s=round(cost["client"], 2), server_cpu_s=round(cost["server"], 2),
                 cpu_rows_per_s=round(rows / (cost["client"] + cost["server"])), **context)  # fmt: skip
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as own:
                own.execute(text(f"VACUUM ANALYZE {cs.partition_name(day)}"))
            sizes(conn, day, rows, context)
            conn.commit()
            dedupe(conn, next(batches(data)), context)
            reads(conn, day, rows, context)


def sizes(conn: Connection, day: int, rows: int, context: dict[str, Any]) -> None:
    name = cs.partition_name(day)
    heap, indexes, total = conn.execute(
        text("SELECT pg_relation_size(CAST(:t AS regclass)), pg_indexes_size(CAST(:t AS regclass)), "
             "pg_total_relation_size(CAST(:t AS regclass))"), {"t": name}).one()  # fmt: skip
    index = conn.execute(text("SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = CAST(:t AS regclass)"),
                         {"t": name}).scalar_one()  # fmt: skip
    density = conn.execute(text("SELECT avg_leaf_density FROM pgstatindex(:i)"), {"i": index}).scalar_one()
    for metric, value in (("heap", heap), ("index", indexes), ("total", total)):
        emit("sample_store", f"{metric}_bytes_per_sample", value / rows, "bytes", **context)
    emit("sample_store", "index_leaf_density", float(density), "%", **context)


def dedupe(conn: Connection, batch: dict[str, np.ndarray], context: dict[str, Any]) -> None:
    with conn.begin():
        again = cs.store_rows(conn, batch)
    changed = {**batch, "volume": batch["volume"] + 1, "batch": batch["batch"] + 10**6}
    with conn.begin():
        conflicting = cs.store_rows(conn, changed)
    emit("sample_store", "redelivered_batch", int(again.inserted.sum()), "inserted", duplicates=again.duplicates,
         conflicts=len(again.conflicts), **context)  # fmt: skip
    emit("sample_store", "changed_batch", int(conflicting.inserted.sum()), "inserted",
         duplicates=conflicting.duplicates, conflicts=len(conflicting.conflicts), **context)  # fmt: skip


def reads(conn: Connection, day: int, rows: int, context: dict[str, Any]) -> None:
    partition = Table(cs.partition_name(day), MetaData(), *(Column(c.name, c.type) for c in cs.sample_rows.columns))
    names = ["resource", "meter", "ts", "volume", "project"]
    with measured(conn) as cost, conn.begin():
        got = sum(len(chunk["ts"]) for chunk in packed_out(conn, partition, names))
    assert got == rows, (got, rows)
    emit("sample_store", "packed_out_rows_per_s", rows / cost["wall"], "rows/s", client_cpu_s=round(cost["client"], 2),
         server_cpu_s=round(cost["server"], 2), **context)  # fmt: skip
    query = select(*(partition.c[name] for name in names))
    with measured(conn) as cost, conn.begin():
        got = sum(len(chunk["ts"]) for chunk in copy_out(conn, query))
    emit("sample_store", "copy_out_rows_per_s", rows / cost["wall"], "rows/s", client_cpu_s=round(cost["client"], 2),
         server_cpu_s=round(cost["server"], 2), **context)  # fmt: skip


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=3_000_000, help="samples per day partition")
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
