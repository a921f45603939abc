"""Attribute revisions that samples stated (`resource_revisions`, `transforms.usage.revisions`):
what ingest writes with each batch and rating reads with each day. (The inventory's revisions,
from Nova and Cinder, are `store.inventory`.)

Frames have the pure code's columns (`transforms.usage.revisions.REVISION_COLUMNS`, which the
pipeline applies with `typed`): `rcode` is the resource's code in `sample_resources`, instants
are int64 nanoseconds since 1970 (naive UTC) — the store keeps them as timestamps.

Two writers may build revisions of the same resources at once (Kafka consumers after a
rebalance, a file and the stream): `lock_resources` serialises them per bucket of resource codes
(`pg_advisory_xact_lock`, taken in bucket order, so writers wait and never deadlock), and the
caller reads the revisions it builds on only after taking the locks. SQLite serialises writers anyway.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Integer, bindparam, false, func, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite

from stackledger.store import tables
from stackledger.store.bulk import chunks
from stackledger.store.frames import read_frame
from stackledger.window import Window

_LOCK_SPACE: Final = 0x5A52  # advisory locks of revision writers: (space, bucket)
BUCKETS: Final = 64  # few enough locks per transaction for PostgreSQL's shared lock table
_TIMES: Final = ("valid_from", "valid_to", "seen_to")
# Frame column -> table column: the resource code is `rcode` in frames; every other name is the table's.
_COLUMN: Final = {
    "rcode": "resource",
    **{c.name: c.name for c in tables.resource_revisions.columns if c.name != "resource"},
}
_NUMBERS: Final = frozenset(c.name for c in tables.resource_revisions.columns if c.name in ("vcpus", "ram_mib"))


def lock_resources(conn: Connection, codes: np.ndarray) -> None:
    """Hold, until the transaction ends, the writer locks of the buckets of these resource codes."""
    if conn.dialect.name != "postgresql" or not len(codes):
        return
    buckets = sorted({int(code) % BUCKETS for code in np.unique(codes)})
    # One statement, locks taken in bucket order (unnest yields the array's order): two writers
    # wanting common buckets queue, never deadlock. (One statement a bucket cost a batch 64 round trips.)
    bucket = func.unnest(bindparam("buckets", buckets, type_=postgresql.ARRAY(Integer))).column_valued("bucket")
    conn.execute(select(func.pg_advisory_xact_lock(_LOCK_SPACE, bucket))).all()


def read_revisions(conn: Connection, codes: np.ndarray | None = None, *, window: Window | None = None) -> pd.DataFrame:
    """The stored revisions of the resources `codes` (all, when None) — those in force at some
    instant of `window` only, when given — sorted by (rcode, valid_from)."""
    table = tables.resource_revisions
    base = select(*(table.c[column].label(name) for name, column in _COLUMN.items()))
    if window is not None:
        base = base.where(table.c.valid_from < window.end, table.c.valid_to > window.start)
    if codes is None:
        return _typed(read_frame(conn, base))
    wanted = np.unique(np.asarray(codes, dtype=np.int64)).tolist()
    frames = [read_frame(conn, base.where(table.c.resource.in_(chunk))) for chunk in chunks(wanted)]
    frames = [frame for frame in frames if len(frame)]
    return _typed(pd.concat(frames, ignore_index=True) if frames else read_frame(conn, base.where(false())))


def write_changes(conn: Connection, upserts: pd.DataFrame, deletes: pd.DataFrame) -> int:
    """Apply a revision builder's changes: `deletes` (rcode, valid_from) go, then `upserts` (whole
    revisions) are inserted or overwrite the stored one of the same (rcode, valid_from). Returns rows written."""
    table = tables.resource_revisions
    if len(deletes):
        keys = [
            (int(rcode), _datetime(valid_from))
            for rcode, valid_from in zip(deletes["rcode"], deletes["valid_from"], strict=True)
        ]
        for chunk in chunks(keys):
            conn.execute(table.delete().where(tuple_(table.c.resource, table.c.valid_from).in_(chunk)))
    if not len(upserts):
        return 0
    rows = _rows(upserts)
    insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)
    updated = {name: insert.excluded[name] for name in rows[0] if name not in ("resource", "valid_from")}
    conn.execute(insert.on_conflict_do_update(index_elements=["resource", "valid_from"], set_=updated), rows)
    return len(rows)


def _rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    columns: dict[str, list[Any]] = {}
    for name in _COLUMN:
        values = frame[name].to_numpy()
        if name in _TIMES:
            columns[name] = values.astype(np.int64).astype("datetime64[ns]").astype("datetime64[us]").tolist()
        elif name == "rcode":
            columns["resource"] = values.astype(np.int64).tolist()
        elif name in _NUMBERS:
            columns[name] = [None if np.isnan(v) else float(v) for v in values.tolist()]
        else:
            columns[name] = [None if v is None or v != v else v for v in values.tolist()]
    names = list(columns)
    return [dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True)]


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows read → int64 codes and nanoseconds, float numbers, text as objects (None when missing)."""
    data: dict[str, Any] = {"rcode": frame["rcode"].to_numpy(dtype=np.int64)}
    for name in _TIMES:
        data[name] = pd.to_datetime(frame[name]).to_numpy(dtype="datetime64[ns]").view(np.int64)
    for name in _COLUMN:
        if name in data:
            continue
        column = frame[name]
        if name in _NUMBERS:
            data[name] = pd.to_numeric(column).to_numpy(dtype=float)
        else:
            data[name] = column.astype(object).where(column.notna(), None).to_numpy(dtype=object)
    out = pd.DataFrame({name: data[name] for name in _COLUMN})
    return out.sort_values(["rcode", "valid_from"], ignore_index=True)


def _datetime(ns: Any) -> Any:
    return np.datetime64(int(ns), "ns").astype("datetime64[us]").item()


__all__ = ["BUCKETS", "lock_resources", "read_revisions", "write_changes"]
