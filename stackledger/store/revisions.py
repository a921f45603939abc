"""Attribute revisions that samples stated (`resource_revisions`, `transforms.usage.revisions`):
what ingest writes with each batch and rating reads with each day. (The inventory's revisions,
from Nova and Cinder, are `store.inventory`.)

Frames have the pure code's columns (`transforms.usage.revisions.REVISION_COLUMNS`, typed as
`typed` types them): `rcode` is the resource's code in `sample_resources`, instants are int64
nanoseconds since 1970 (naive UTC) — the store keeps them as timestamps.

Per batch, ingest reads the touched resources' last revisions (`read_last_revisions`), moves the
`seen_to` of those the batch only confirms (`advance_seen`) and reads and rewrites the others
(`read_revisions`, `write_changes`). On PostgreSQL each of these is one statement whose lists are
array parameters sent in binary (`= ANY(…)`, `unnest(…)`): an executemany of dicts, or psycopg's
text arrays, cost the client ~10 µs a row.

Two writers may build revisions of the same resources at once (Kafka consumers after a
rebalance, a file and the stream): `lock_resources` serialises them per bucket of resource codes
(`pg_advisory_xact_lock`, taken in bucket order, so writers wait and never deadlock), and the
caller reads the revisions it builds on only after taking the locks. SQLite serialises writers anyway.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import numpy as np
import pandas as pd
from sqlalchemy import (
    Connection,
    DateTime,
    Dialect,
    Integer,
    Select,
    TypeDecorator,
    any_,
    bindparam,
    column,
    func,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from stackledger.store import tables
from stackledger.store.bulk import chunks
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
    query = select(*(table.c[column].label(name) for name, column in _COLUMN.items()))
    if window is not None:
        query = query.where(table.c.valid_from < window.end, table.c.valid_to > window.start)
    return _read_of(conn, query, codes)


def read_last_revisions(conn: Connection, codes: np.ndarray) -> pd.DataFrame:
    """The last revision (the latest `valid_from`) of each of the resources `codes` that has
    revisions, sorted by rcode."""
    table = tables.resource_revisions
    later = table.alias("later")
    latest = select(func.max(later.c.valid_from)).where(later.c.resource == table.c.resource).scalar_subquery()
    query = select(*(table.c[column].label(name) for name, column in _COLUMN.items()))
    return _read_of(conn, query.where(table.c.valid_from == latest), codes)


def _read_of(conn: Connection, query: Select[Any], codes: np.ndarray | None) -> pd.DataFrame:
    """`query`'s rows (revision columns) of the resources `codes` (all, when None), typed and sorted:
    on PostgreSQL the codes are one array parameter (`= ANY`), elsewhere `IN` lists."""
    if codes is None:
        return _typed(_rows_read(conn, query))
    wanted = np.unique(np.asarray(codes, dtype=np.int64)).tolist()
    column = tables.resource_revisions.c.resource
    if conn.dialect.name == "postgresql":
        _binary_arrays(conn)
        return _typed(_rows_read(conn, query.where(column == any_(_array(wanted, Integer)))))
    rows = [row for chunk in chunks(wanted) for row in _rows_read(conn, query.where(column.in_(chunk)))]
    return _typed(rows)


def _rows_read(conn: Connection, query: Select[Any]) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in conn.execute(query).all()]


def write_changes(conn: Connection, upserts: pd.DataFrame, deletes: pd.DataFrame) -> int:
    """Apply a revision builder's changes: `deletes` (rcode, valid_from) go, then `upserts` (whole
    revisions) are inserted or overwrite the stored one of the same (rcode, valid_from). Returns
    rows written. On PostgreSQL each is one statement over array parameters (`unnest`)."""
    table = tables.resource_revisions
    postgres = conn.dialect.name == "postgresql"
    if postgres:
        _binary_arrays(conn)
    if len(deletes):
        codes = deletes["rcode"].to_numpy(dtype=np.int64).tolist()
        starts = _datetimes(deletes["valid_from"].to_numpy(dtype=np.int64))
        key = tuple_(table.c.resource, table.c.valid_from)
        if postgres:
            gone = _unnest({"resource": (codes, Integer), "valid_from": (starts, DateTime)})
            conn.execute(table.delete().where(key.in_(select(gone.c.resource, gone.c.valid_from))))
        else:
            for chunk in chunks(list(zip(codes, starts, strict=True))):
                conn.execute(table.delete().where(key.in_(chunk)))
    if not len(upserts):
        return 0
    columns = _columns(upserts)
    insert = (postgresql.insert if postgres else sqlite.insert)(table)
    updated = {name: insert.excluded[name] for name in columns if name not in ("resource", "valid_from")}
    if postgres:
        given = _unnest({name: (values, table.c[name].type) for name, values in columns.items()})
        insert = insert.from_select(list(columns), select(*(given.c[name] for name in columns)))
        conn.execute(insert.on_conflict_do_update(index_elements=["resource", "valid_from"], set_=updated))
    else:
        rows = [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)]
        conn.execute(insert.on_conflict_do_update(index_elements=["resource", "valid_from"], set_=updated), rows)
    return len(upserts)


def advance_seen(conn: Connection, rcode: np.ndarray, valid_from: np.ndarray, seen_to: np.ndarray) -> int:
    """Set the `seen_to` of the revisions (rcode, valid_from) (int64 codes and nanoseconds): what a
    batch that only confirms resources' last revisions changes (`transforms.usage.revision_timely`).
    One statement over array parameters on PostgreSQL. Returns the revisions given."""
    if not len(rcode):
        return 0
    table = tables.resource_revisions
    codes = np.asarray(rcode, dtype=np.int64).tolist()
    starts, seen = _datetimes(valid_from), _datetimes(seen_to)
    if conn.dialect.name == "postgresql":
        _binary_arrays(conn)
        given = _unnest({"resource": (codes, Integer), "valid_from": (starts, DateTime), "seen_to": (seen, DateTime)})
        conn.execute(
            update(table)
            .where(table.c.resource == given.c.resource, table.c.valid_from == given.c.valid_from)
            .values(seen_to=given.c.seen_to)
        )
    else:
        statement = update(table).where(
            table.c.resource == bindparam("key_resource"), table.c.valid_from == bindparam("key_valid_from")
        )
        names = ("key_resource", "key_valid_from", "seen_to")
        conn.execute(statement, [dict(zip(names, row, strict=True)) for row in zip(codes, starts, seen, strict=True)])
    return len(codes)


class _BinaryList(list[Any]):
    """A list psycopg sends as a binary array: its default text arrays escape every item through
    a regular expression (~12 µs a timestamp); binary ones pack them (~1 µs)."""


class _Array(TypeDecorator[list[Any]]):
    """PostgreSQL's ARRAY whose parameter reaches the driver as a `_BinaryList` (ARRAY's own bind
    processing copies every list into a plain one)."""

    impl = postgresql.ARRAY
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any]:
        return _BinaryList


def _array(values: list[Any], item: Any) -> Any:
    return bindparam(None, values, type_=_Array(item))


def _binary_arrays(conn: Connection) -> None:
    """Let this connection's driver send `_BinaryList` parameters in binary (PostgreSQL through
    psycopg; other drivers get plain lists)."""
    if conn.dialect.driver != "psycopg":
        return
    from psycopg.types.array import ListBinaryDumper

    conn.connection.driver_connection.adapters.register_dumper(_BinaryList, ListBinaryDumper)  # type: ignore[union-attr]


def _unnest(columns: dict[str, tuple[list[Any], Any]]) -> Any:
    """`unnest(:a, :b, …) AS given(a, b, …)`: equal-length lists as one row source (PostgreSQL)."""
    arrays = [_array(values, item) for values, item in columns.values()]
    names = [column(name, item) for name, (_values, item) in columns.items()]
    return func.unnest(*arrays).table_valued(*names).render_derived(name="given", with_types=False)


def _columns(frame: pd.DataFrame) -> dict[str, list[Any]]:
    """A revision frame's columns as the table's, in Python values (None when missing)."""
    columns: dict[str, list[Any]] = {}
    for name in _COLUMN:
        values = frame[name].to_numpy()
        if name in _TIMES:
            columns[name] = _datetimes(values)
        elif name == "rcode":
            columns["resource"] = values.astype(np.int64).tolist()
        elif name in _NUMBERS:
            columns[name] = [None if np.isnan(v) else float(v) for v in values.tolist()]
        else:
            columns[name] = [None if v is None or v != v else v for v in values.tolist()]
    return columns


def _datetimes(ns: Any) -> list[Any]:
    """int64 nanoseconds as naive datetimes (µs: the store's resolution)."""
    return np.asarray(ns, dtype=np.int64).astype("datetime64[ns]").astype("datetime64[us]").tolist()


def _typed(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    """Rows read (`_COLUMN` order) → int64 codes and nanoseconds, float numbers, text as objects
    (None when missing), sorted by (rcode, valid_from)."""
    values = list(zip(*rows, strict=True)) if rows else [() for _ in _COLUMN]
    data: dict[str, Any] = {}
    for name, read in zip(_COLUMN, values, strict=True):
        if name == "rcode":
            data[name] = np.array(read, dtype=np.int64)
        elif name in _TIMES:
            data[name] = pd.DatetimeIndex(read).as_unit("ns").asi8  # ~30x numpy's conversion of datetimes
        elif name in _NUMBERS:
            data[name] = np.array(read, dtype=float)
        else:
            data[name] = np.array(read, dtype=object)
    out = pd.DataFrame(data)
    return out.sort_values(["rcode", "valid_from"], ignore_index=True)


__all__ = ["BUCKETS", "advance_seen", "lock_resources", "read_last_revisions", "read_revisions", "write_changes"]
