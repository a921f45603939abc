"""Samples and dead letters: the raw records of ingestion (`sample_rows`, `sample_batches`, `dead_letters`).

Writes happen inside the caller's transaction (`with store.transaction() as conn:`), so a batch of
samples, its dead letters, its attribute revisions and its re-rating marks commit together or not
at all. The caller prepares the compact rows (`pipeline.sample_store`): codes from
`store.sample_codes`, day partitions from `store.sample_days`, repeats inside the batch removed.

- `write_rows` stores each (day, message) once. On PostgreSQL it is optimistic: one binary COPY
  straight into `sample_rows` inside a savepoint (most batches are new). A unique violation (a
  replayed file, a Kafka batch read again after a rebalance) rolls back to the savepoint and the
  batch goes the staged way: COPY into a session-local table, `INSERT … ON CONFLICT DO NOTHING`,
  then a comparison with the stored rows, which tells a **duplicate** (the same content: meter,
  resource, project, time, volume) from a **conflict** (the same key, other content). SQLite
  looks the keys up first. Rows are written in (day, message) order, so two writers of the same
  keys take their row locks in one order and wait instead of deadlocking.
- Dead letters dedupe on their fingerprint (origin, location, payload): replaying the same bad
  line stores it once. Their text is cut to the columns' widths and made storable (no NUL, no
  lone surrogate) here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from sqlalchemy import BigInteger, Column, Connection, MetaData, Table, exc, select, text, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite

from stackledger.store import tables
from stackledger.store.binary_copy import copy_in
from stackledger.store.bulk import chunks

PAYLOAD_MAX: Final = 16_384  # characters of a bad message kept in dead_letters.payload
REASON_MAX: Final = 2_000
_ORIGIN_MAX: Final = 512  # dead_letters.origin width
_LOCATION_MAX: Final = 255
COLUMNS: Final = tuple(column.name for column in tables.sample_rows.columns)
CONTENT: Final = ("meter", "resource", "project", "ts", "volume")  # what makes two samples the same
_STAGE: Final = "sample_rows_stage"  # a temporary table: per session, emptied at commit
_SQLITE_CHUNK: Final = 400


@dataclass(frozen=True)
class DeadLetter:
    """A message that could not be used, kept with the reason so it can be fixed and replayed."""

    origin: str  # absolute file path, "<stdin>", Kafka topic
    location: str  # "line 12", "line 12 sample 3", "partition 3 offset 991"
    reason: str
    payload: str  # the message; for one bad sample of a notification, just that sample

    @property
    def fingerprint(self) -> str:
        content = "\x00".join((self.origin, self.location, self.payload))
        return hashlib.sha256(content.encode("utf-8", "surrogatepass")).hexdigest()

    def row(self, received_at: dt.datetime) -> dict[str, Any]:
        payload = _storable(self.payload)
        if len(payload) > PAYLOAD_MAX:
            payload = f"{payload[:PAYLOAD_MAX]}…[truncated, {len(payload)} characters in all]"
        return {
            "fingerprint": self.fingerprint,
            "origin": _storable(self.origin)[-_ORIGIN_MAX:],
            "location": _storable(self.location)[:_LOCATION_MAX],
            "reason": _storable(self.reason)[:REASON_MAX],
            "payload": payload,
            "received_at": received_at,
        }


@dataclass(frozen=True)
class Stored:
    """What `write_rows` did with a batch: the rows it inserted (a mask over the batch), and the
    skipped ones: identical to a stored sample (duplicates) or not (conflicts, with the code of
    the batch that stored the other sample)."""

    inserted: np.ndarray  # bool per row
    duplicates: int
    conflicts: list[tuple[int, int]]  # (row position, stored batch code)


@dataclass(frozen=True)
class BatchOrigin:
    origin: str
    locations: str
    received_at: dt.datetime

    def describe(self) -> str:
        return f"{self.origin} {self.locations}, received {self.received_at:%Y-%m-%d %H:%M:%S} UTC"


# ------------------------------------------------------------------ batches


def new_batch(conn: Connection, origin: str, locations: str, received_at: dt.datetime) -> int:
    """A new `sample_batches` row (its count set by `count_batch`); returns its code."""
    table = tables.sample_batches
    values = {"origin": _storable(origin)[-_ORIGIN_MAX:], "locations": _storable(locations), "samples": 0,
              "received_at": received_at}  # fmt: skip
    return int(conn.execute(table.insert().values(**values).returning(table.c.code)).scalar_one())


def count_batch(conn: Connection, code: int, samples: int) -> None:
    """Set how many rows batch `code` stored; a batch that stored none is deleted (nothing names it)."""
    table = tables.sample_batches
    if samples:
        conn.execute(update(table).where(table.c.code == code).values(samples=samples))
    else:
        conn.execute(table.delete().where(table.c.code == code))


def batch_origins(conn: Connection, codes: Iterable[int]) -> dict[int, BatchOrigin]:
    table = tables.sample_batches
    wanted = sorted({int(code) for code in codes})
    found: dict[int, BatchOrigin] = {}
    for chunk in chunks(wanted, _SQLITE_CHUNK):
        query = select(table.c.code, table.c.origin, table.c.locations, table.c.received_at).where(
            table.c.code.in_(chunk)
        )
        found.update({int(code): BatchOrigin(origin, where, at) for code, origin, where, at in conn.execute(query)})
    return found


# ------------------------------------------------------------------ rows


def write_rows(conn: Connection, rows: Mapping[str, np.ndarray]) -> Stored:
    """Insert compact rows (every `sample_rows` column as an array; no (day, message) twice among
    them), each (day, message) once, inside the caller's transaction (module docstring)."""
    size = len(rows["message"])
    if not size:
        return Stored(np.zeros(0, dtype=bool), 0, [])
    if conn.dialect.name != "postgresql":
        return _write_looked_up(conn, rows)
    order = _key_order(rows)
    ordered = {name: np.asarray(rows[name])[order] for name in COLUMNS}
    try:
        with conn.begin_nested():
            copy_in(conn, tables.sample_rows, ordered)
    except exc.IntegrityError:
        stored = _write_staged(conn, ordered)
        inserted = np.zeros(size, dtype=bool)
        inserted[order] = stored.inserted
        return Stored(inserted, stored.duplicates, [(int(order[p]), b) for p, b in stored.conflicts])
    return Stored(np.ones(size, dtype=bool), 0, [])


def _key_order(rows: Mapping[str, np.ndarray]) -> np.ndarray:
    keys = np.ascontiguousarray(rows["message"]).view(">u8").reshape(-1, 2)
    return np.lexsort((keys[:, 1], keys[:, 0], rows["day"]))


def _write_staged(conn: Connection, rows: Mapping[str, np.ndarray]) -> Stored:
    quote = postgresql.dialect().identifier_preparer.quote
    size = len(rows["message"])
    columns = ", ".join(quote(name) for name in COLUMNS)
    table = quote(tables.sample_rows.name)
    conn.execute(text(f"CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGE} (LIKE {table}, "
                      "position int8 NOT NULL) ON COMMIT DELETE ROWS"))  # fmt: skip
    conn.execute(text(f"TRUNCATE {_STAGE}"))  # a second batch in the same transaction starts empty
    copy_in(conn, _stage_table(), {**{name: rows[name] for name in COLUMNS}, "position": np.arange(size)})
    positions = conn.execute(text(
        f"WITH written AS (INSERT INTO {table} ({columns}) SELECT {columns} FROM {_STAGE} "  # noqa: S608
        "ORDER BY position ON CONFLICT DO NOTHING RETURNING message, day) "
        f"SELECT s.position FROM {_STAGE} s JOIN written w ON w.message = s.message AND w.day = s.day"
    )).scalars().all()  # fmt: skip
    inserted = np.zeros(size, dtype=bool)
    inserted[np.asarray(positions, dtype=np.int64)] = True
    differ = " OR ".join(f"s.{quote(c)} IS DISTINCT FROM t.{quote(c)}" for c in CONTENT)
    found = conn.execute(text(
        f"SELECT s.position, t.batch FROM {_STAGE} s JOIN {table} t "  # noqa: S608
        f"ON t.message = s.message AND t.day = s.day WHERE ({differ}) ORDER BY s.position"
    )).all()  # fmt: skip
    conflicts = [(int(position), int(batch)) for position, batch in found if not inserted[position]]
    return Stored(inserted, int(size - inserted.sum()) - len(conflicts), conflicts)


def _stage_table() -> Table:
    columns = [Column(c.name, c.type, nullable=False) for c in tables.sample_rows.columns]
    return Table(_STAGE, MetaData(), *columns, Column("position", BigInteger, nullable=False))


def _write_looked_up(conn: Connection, rows: Mapping[str, np.ndarray]) -> Stored:
    """SQLite: the stored rows of the batch's keys first, then an insert of the new ones."""
    table = tables.sample_rows
    size = len(rows["message"])
    records = _records(rows)
    stored: dict[tuple[Any, int], tuple[Any, ...]] = {}
    keys = [(r["message"], r["day"]) for r in records]
    for chunk in chunks(keys, _SQLITE_CHUNK):
        query = select(table.c.message, table.c.day, *(table.c[c] for c in CONTENT), table.c.batch).where(
            tuple_(table.c.message, table.c.day).in_(chunk)
        )
        stored.update({(row[0], int(row[1])): tuple(row[2:]) for row in conn.execute(query)})
    inserted = np.zeros(size, dtype=bool)
    conflicts = []
    for position, (key, record) in enumerate(zip(keys, records, strict=True)):
        found = stored.get(key)
        if found is None:
            inserted[position] = True
        elif found[:-1] != tuple(record[c] for c in CONTENT):
            conflicts.append((position, int(found[-1])))
    new = [record for record, fresh in zip(records, inserted, strict=True) if fresh]
    if new:
        conn.execute(table.insert(), new)
    return Stored(inserted, int(size - inserted.sum()) - len(conflicts), conflicts)


def _records(rows: Mapping[str, np.ndarray]) -> list[dict[str, Any]]:
    import uuid

    stamps = np.asarray(rows["ts"], dtype="datetime64[ns]").astype("datetime64[us]").tolist()
    messages = [uuid.UUID(bytes=bytes(key)) for key in np.asarray(rows["message"])]
    plain = {name: np.asarray(rows[name]).tolist() for name in COLUMNS if name not in ("ts", "message")}
    return [
        {"ts": stamps[i], "message": messages[i], **{name: values[i] for name, values in plain.items()}}
        for i in range(len(messages))
    ]


# ------------------------------------------------------------------ dead letters


def write_dead_letters(conn: Connection, letters: Iterable[DeadLetter], *, now: dt.datetime) -> int:
    """Store dead letters once each (by fingerprint), `received_at` = `now`. Returns how many were new."""
    unique = {letter.fingerprint: letter for letter in letters}
    rows = [letter.row(now) for letter in unique.values()]
    table = tables.dead_letters
    insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)
    new = 0
    for chunk in chunks(rows, _SQLITE_CHUNK):
        new += len(conn.execute(insert.on_conflict_do_nothing().returning(table.c.fingerprint), list(chunk)).all())
    return new


def _storable(value: str) -> str:
    """Text a database column accepts: no NUL, no lone surrogates."""
    if "\x00" in value:
        value = value.replace("\x00", "\\u0000")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


__all__ = [
    "COLUMNS", "CONTENT", "PAYLOAD_MAX", "REASON_MAX", "BatchOrigin", "DeadLetter", "Stored", "batch_origins",
    "count_batch", "new_batch", "write_dead_letters", "write_rows",
]  # fmt: skip
