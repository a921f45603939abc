"""Compact sample rows (docs/dev/SCALE.md): the prototype phase B wires into ingest and rating.
Nothing imports it yet, and its tables live in their own MetaData (no migration yet).

A stored sample is 48 bytes of columns — time, volume, a 16-byte message key, resource,
project and batch codes, meter code and day — 72 bytes as a PostgreSQL tuple, about 77 a row
with its line pointer, plus about 50 for its share of the (message, day) unique index.

- **Day partitions** (PostgreSQL): `sample_rows` is partitioned by `day` (days since
  2000-01-01). `ensure_day_partitions` creates missing days in their own short transaction,
  race-free between consumers (a transaction-level advisory lock per day, then CREATE TABLE
  … LIKE and ATTACH PARTITION: a SHARE UPDATE EXCLUSIVE lock on the parent, so ingest and
  rating of other days go on). `detach_day_partition` removes one day for retention (DETACH …
  CONCURRENTLY, then DROP). SQLite keeps the same columns in one table.
- **Dedupe**: the unique index is (message, day), as a partitioned table's must hold its
  partition key. `store_rows` COPYs a batch into a session-local staging table and inserts
  with ON CONFLICT DO NOTHING; a skipped row identical to the stored one (meter, resource,
  project, time, volume) is a duplicate, a different one a **conflict** (returned with both
  batches). A message id reused on another UTC day is a different key: not caught.
- **Message keys**: a message id that reads as a UUID is that UUID; any other id is the first
  16 bytes of its BLAKE2b digest with RFC 9562's version 8 and variant bits set.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

import numpy as np
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Uuid,
    exc,
    func,
    select,
    text,
)
from sqlalchemy.dialects import postgresql

from stackledger.errors import StoreError
from stackledger.store.binary_copy import copy_in

metadata = MetaData()
DAY_NS: Final = 86_400 * 10**9
EPOCH_2000_DAYS: Final = 10_957  # 2000-01-01 in days since 1970
_LOCK_SPACE: Final = 0x5A4D  # advisory locks of partition creation: (space, day)

sample_rows = Table(
    "sample_rows",
    metadata,
    # Widest first: 8-byte columns, the 16-byte key (byte-aligned), then 4- and 2-byte codes, so
    # no padding: 48 bytes of data after the 24-byte tuple header.
    Column("ts", DateTime, nullable=False),  # naive UTC, µs
    Column("volume", Float, nullable=False),  # float8, the meter's declared unit
    Column("message", Uuid, nullable=False),  # message_key(message_id)
    Column("resource", Integer, nullable=False),  # sample_resources.code
    Column("project", Integer, nullable=False),  # sample_projects.code; 0: no project
    Column("batch", Integer, nullable=False),  # sample_batches.code: where the sample came from
    Column("meter", SmallInteger, nullable=False),  # sample_meters.code
    Column("day", SmallInteger, nullable=False),  # UTC day of ts, days since 2000-01-01
    Index("uq_sample_rows_message_day", "message", "day", unique=True),
    postgresql_partition_by="RANGE (day)",
)

sample_meters = Table(
    "sample_meters", metadata,
    Column("code", SmallInteger, primary_key=True, autoincrement=False),
    Column("name", String(128), nullable=False, unique=True),
)  # fmt: skip
sample_resources = Table(
    "sample_resources", metadata,
    Column("code", Integer, primary_key=True, autoincrement=False),
    Column("resource_id", String(255), nullable=False, unique=True),
)  # fmt: skip
sample_projects = Table(
    "sample_projects", metadata,
    Column("code", Integer, primary_key=True, autoincrement=False),  # 0 is reserved: no project
    Column("project_id", String(255), nullable=False, unique=True),
)  # fmt: skip
sample_batches = Table(
    "sample_batches", metadata,
    Column("code", Integer, primary_key=True, autoincrement=False),
    Column("origin", String(512), nullable=False),  # file path, Kafka topic
    Column("first_location", String(255), nullable=False),  # "line 1", "partition 3 offset 991"
    Column("last_location", String(255), nullable=False),
    Column("samples", BigInteger, nullable=False),
    Column("received_at", DateTime, nullable=False),
)  # fmt: skip

CONTENT: Final = ("meter", "resource", "project", "ts", "volume")  # what makes two samples the same


# ---------------------------------------------------------------- keys and days


def message_key(message_id: str) -> uuid.UUID:
    """The fixed-width dedupe key of a message id (module docstring)."""
    try:
        return uuid.UUID(message_id)
    except ValueError:
        digest = bytearray(hashlib.blake2b(message_id.encode("utf-8", "surrogatepass"), digest_size=16).digest())
        digest[6] = (digest[6] & 0x0F) | 0x80  # version 8: "custom"
        digest[8] = (digest[8] & 0x3F) | 0x80  # RFC variant
        return uuid.UUID(bytes=bytes(digest))


def message_keys(message_ids: Iterable[str]) -> np.ndarray:
    """Keys of many message ids, as 16-byte items (`V16`, what binary copy sends)."""
    data = b"".join(message_key(message_id).bytes for message_id in message_ids)
    return np.frombuffer(data, dtype="V16").copy()


def day_of(ts_ns: np.ndarray) -> np.ndarray:
    """UTC day of each time (int64 ns since 1970) as days since 2000-01-01 (int16: until 2089)."""
    days = np.floor_divide(np.asarray(ts_ns, dtype=np.int64), DAY_NS) - EPOCH_2000_DAYS
    if len(days) and (days.min() < 0 or days.max() > np.iinfo(np.int16).max):
        raise StoreError("sample time outside 2000-2089 cannot be stored (ingest dead-letters it first)")
    return days.astype(np.int16)


def partition_name(day: int) -> str:
    start = np.datetime64("2000-01-01") + np.timedelta64(int(day), "D")
    return f"{sample_rows.name}_{str(start).replace('-', '')}"


# ---------------------------------------------------------------- partitions (PostgreSQL)


def ensure_day_partitions(engine: Engine, days: Iterable[int]) -> list[int]:
    """Create the day partitions of `days` that do not exist yet; returns the days created.
    Each in its own short transaction, so it never waits for, or holds up, a batch's."""
    created = []
    quote = postgresql.dialect().identifier_preparer.quote
    parent = quote(sample_rows.name)
    for day in sorted({int(d) for d in days}):
        name = partition_name(day)
        with engine.begin() as conn:
            if _attached(conn, name):
                continue
            conn.execute(select(func.pg_advisory_xact_lock(_LOCK_SPACE, day)))
            if _attached(conn, name):  # another consumer created it while we waited
                continue
            # Identifiers from our own table metadata and a day number; bounds are integers we made.
            conn.execute(text(f"CREATE TABLE IF NOT EXISTS {quote(name)} (LIKE {parent} INCLUDING ALL)"))
            conn.execute(text(f"ALTER TABLE {parent} ATTACH PARTITION {quote(name)} "
                              f"FOR VALUES FROM ({int(day)}) TO ({int(day) + 1})"))  # fmt: skip
            created.append(day)
    return created


def detach_day_partition(engine: Engine, day: int) -> bool:
    """Drop one day's raw samples (retention): detach concurrently (no lock held on the parent
    that would stop ingest or rating), then drop. Returns whether the day existed."""
    quote = postgresql.dialect().identifier_preparer.quote
    name = partition_name(day)
    with engine.connect() as conn:
        if not _attached(conn, name):
            return False
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"ALTER TABLE {quote(sample_rows.name)} DETACH PARTITION {quote(name)} CONCURRENTLY"))
        conn.execute(text(f"DROP TABLE {quote(name)}"))
    return True


def _attached(conn: Connection, name: str) -> bool:
    query = text(
        "SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE c.relname = :name AND c.relkind = 'r'"
    )
    return conn.execute(query, {"name": name}).first() is not None


# ---------------------------------------------------------------- writing a batch


@dataclass(frozen=True)
class Stored:
    """What `store_rows` did with a batch: the rows it inserted (a mask over the batch), and the
    skipped ones: identical to a stored sample (duplicates) or not (conflicts)."""

    inserted: np.ndarray  # bool per row of the batch
    duplicates: int
    conflicts: list[tuple[bytes, int, int]]  # (message key, stored batch, new batch)


_STAGE: Final = "sample_rows_stage"


def store_rows(conn: Connection, rows: Mapping[str, np.ndarray]) -> Stored:
    """Insert a batch of compact rows (every `sample_rows` column, as arrays), each (message,
    day) once, inside the caller's transaction; the days' partitions must exist. Rows repeated
    within the batch count like rows stored already: the first one written wins.

    Optimistic, as most batches are new: one binary COPY straight into the table. A unique
    violation rolls it back to a savepoint and the batch goes the staged way (a temporary table,
    INSERT … ON CONFLICT, a comparison with the stored rows: several times dearer), which tells
    duplicates from conflicts."""
    try:
        with conn.begin_nested():
            copy_in(conn, sample_rows, {column.name: rows[column.name] for column in sample_rows.columns})
    except exc.IntegrityError:
        return _store_staged(conn, rows)
    return Stored(np.ones(len(rows["message"]), dtype=bool), 0, [])


def _store_staged(conn: Connection, rows: Mapping[str, np.ndarray]) -> Stored:
    quote = postgresql.dialect().identifier_preparer.quote
    names = [column.name for column in sample_rows.columns]
    size = len(rows["message"])
    staged = {**{name: rows[name] for name in names}, "position": np.arange(size, dtype=np.int64)}
    columns = ", ".join(quote(name) for name in names)
    conn.execute(text(f"CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGE} (LIKE {quote(sample_rows.name)}, "
                      "position int8 NOT NULL) ON COMMIT DELETE ROWS"))  # fmt: skip
    conn.execute(text(f"TRUNCATE {_STAGE}"))
    copy_in(conn, _stage_table(), staged)
    # The first row of each (message, day) in batch order is written; RETURNING says which keys.
    positions = conn.execute(text(
        f"WITH written AS (INSERT INTO {quote(sample_rows.name)} ({columns}) "  # noqa: S608
        f"SELECT {columns} FROM {_STAGE} ORDER BY position ON CONFLICT DO NOTHING RETURNING message, day) "
        f"SELECT min(s.position) FROM {_STAGE} s JOIN written w ON w.message = s.message AND w.day = s.day "
        "GROUP BY s.message, s.day"
    )).scalars().all()  # fmt: skip
    inserted = np.zeros(size, dtype=bool)
    inserted[np.asarray(positions, dtype=np.int64)] = True
    differ = " OR ".join(f"s.{quote(c)} IS DISTINCT FROM t.{quote(c)}" for c in CONTENT)
    found = conn.execute(text(
        f"SELECT s.position, s.message, t.batch, s.batch FROM {_STAGE} s JOIN {quote(sample_rows.name)} t "  # noqa: S608
        f"ON t.message = s.message AND t.day = s.day WHERE ({differ}) ORDER BY s.position"
    )).all()  # fmt: skip
    conflicts = [(m.bytes, int(stored), int(new)) for position, m, stored, new in found if not inserted[position]]
    skipped = int(size - inserted.sum())
    return Stored(inserted, skipped - len(conflicts), conflicts)


def _stage_table() -> Table:
    columns = [Column(c.name, c.type, nullable=False) for c in sample_rows.columns]
    return Table(_STAGE, MetaData(), *columns, Column("position", BigInteger, nullable=False))


def create_tables(engine: Engine) -> None:
    """The prototype's tables (phase B turns them into a migration)."""
    metadata.create_all(engine)


def drop_tables(engine: Engine) -> None:
    metadata.drop_all(engine)


__all__ = ["CONTENT", "Stored", "create_tables", "day_of", "detach_day_partition", "drop_tables",
           "ensure_day_partitions", "message_key", "message_keys", "partition_name", "sample_batches",
           "sample_meters", "sample_projects", "sample_resources", "sample_rows", "store_rows"]  # fmt: skip
