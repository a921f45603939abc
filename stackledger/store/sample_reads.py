"""Reading compact sample rows back, a day at a time, as arrays (what rating's day reader buckets).

`scan_day(conn, day, meters=…)` yields the day's rows of the given meter codes as chunks of
equal-length arrays (`READ_COLUMNS`; `ts` as int64 ns since 1970, naive UTC). On PostgreSQL it is
one pass over the day's partition with `binary_copy.packed_out` (one query per 4,096 heap pages,
each answered with the rows packed into one bytea: no Python per row); on SQLite one query.
Read inside one transaction (REPEATABLE READ on PostgreSQL) for a consistent view of several
chunks; rows committed meanwhile may or may not be seen, which the re-rate marks account for.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Final

import numpy as np
from sqlalchemy import Column, Connection, MetaData, String, Table, and_, select, type_coerce
from sqlalchemy.sql import ColumnElement

from stackledger.store import tables
from stackledger.store.binary_copy import packed_out
from stackledger.store.sample_days import existing_partitions_name

READ_COLUMNS: Final = ("resource", "meter", "ts", "volume", "project")
_DTYPES: Final = {"resource": np.int64, "meter": np.int64, "volume": np.float64, "project": np.int64}


def scan_day(
    conn: Connection,
    day: int,
    *,
    meters: Sequence[int],
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> Iterator[dict[str, np.ndarray]]:
    """The rows of day `day` whose meter code is in `meters` (and time in [since, until), where
    given), in chunks of arrays (module docstring)."""
    if not len(meters):
        return
    if conn.dialect.name == "postgresql":
        name = existing_partitions_name(conn, day)
        if name is None:
            return
        partition = Table(name, MetaData(), *(Column(c.name, c.type) for c in tables.sample_rows.columns))
        where = _where(partition, meters, since, until)
        for chunk in packed_out(conn, partition, READ_COLUMNS, where=where):
            yield {name: chunk[name].astype(_DTYPES.get(name, np.int64)) for name in READ_COLUMNS}
        return
    yield _sqlite_day(conn, day, meters, since, until)


def _where(
    table: Table, meters: Sequence[int], since: dt.datetime | None, until: dt.datetime | None
) -> ColumnElement[bool]:
    clauses: list[ColumnElement[bool]] = [table.c.meter.in_([int(m) for m in meters])]
    if since is not None:
        clauses.append(table.c.ts >= since)
    if until is not None:
        clauses.append(table.c.ts < until)
    return and_(*clauses)


def _sqlite_day(
    conn: Connection, day: int, meters: Sequence[int], since: dt.datetime | None, until: dt.datetime | None
) -> dict[str, np.ndarray]:
    rows = tables.sample_rows
    where = and_(rows.c.day == day, _where(rows, meters, since, until))
    # Times as SQLite keeps them (ISO text), parsed by numpy at once rather than one datetime per row.
    columns = [type_coerce(rows.c[name], String).label(name) if name == "ts" else rows.c[name] for name in READ_COLUMNS]
    found = conn.execute(select(*columns).where(where)).all()
    if not found:
        return {name: np.zeros(0, dtype=np.int64 if name != "volume" else np.float64) for name in READ_COLUMNS}
    resource, meter, ts, volume, project = zip(*found, strict=True)
    stamps = np.array(ts, dtype="datetime64[us]").astype("datetime64[ns]").view(np.int64)
    return {
        "resource": np.asarray(resource, dtype=np.int64),
        "meter": np.asarray(meter, dtype=np.int64),
        "ts": stamps,
        "volume": np.asarray(volume, dtype=np.float64),
        "project": np.asarray(project, dtype=np.int64),
    }


__all__ = ["READ_COLUMNS", "scan_day"]
