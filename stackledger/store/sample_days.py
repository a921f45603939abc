"""Days of raw samples: day numbers, PostgreSQL's day partitions, what a window holds, retention.

A sample's day is its UTC day as days since 2000-01-01 (`sample_rows.day`, an int2: 2000-01-01
to 2089-09-18). On PostgreSQL `sample_rows` is partitioned by day, one partition per day:

- `ensure_day_partitions(engine, days)` creates the missing ones *before* a batch's transaction,
  each in its own short one (a transaction-level advisory lock per day, re-check, `CREATE TABLE …
  (LIKE sample_rows INCLUDING ALL)`, `ATTACH PARTITION`): ATTACH takes a SHARE UPDATE EXCLUSIVE
  lock on the parent, so ingest and rating of other days go on, where `CREATE TABLE … PARTITION
  OF` would stop every consumer. Race-free between consumers; a partition a failed batch created
  stays, empty and harmless. There is no DEFAULT partition: a day is always created first.
- `drop_day(engine, day)`: retention. The partition is detached CONCURRENTLY (no lock that stops
  ingest) and dropped; on SQLite the day's rows are deleted.

SQLite keeps the same columns in one table keyed (day, message).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

import numpy as np
from sqlalchemy import Connection, Engine, and_, cast, func, literal, select, text
from sqlalchemy.dialects import postgresql

from stackledger.errors import StoreError
from stackledger.store import tables
from stackledger.store.frames import as_date, reading
from stackledger.window import Window

EPOCH: Final = dt.date(2000, 1, 1)
DAY_NS: Final = 86_400 * 10**9
EPOCH_DAYS: Final = 10_957  # 2000-01-01 in days since 1970
LAST_DAY: Final = int(np.iinfo(np.int16).max)  # 2089-09-18
_LOCK_SPACE: Final = 0x5A4D  # advisory locks of partition creation: (space, day)

if TYPE_CHECKING:
    from stackledger.store import Store


def day_number(day: dt.date) -> int:
    """A date as days since 2000-01-01."""
    return (day - EPOCH).days


def day_date(number: int) -> dt.date:
    return EPOCH + dt.timedelta(days=int(number))


def days_of(ts_ns: np.ndarray) -> np.ndarray:
    """UTC day of each time (int64 ns since 1970) as days since 2000-01-01, int64 (may be out of range)."""
    return np.floor_divide(np.asarray(ts_ns, dtype=np.int64), DAY_NS) - EPOCH_DAYS


def storable(days: np.ndarray) -> np.ndarray:
    """Which days `sample_rows.day` can hold."""
    return (days >= 0) & (days <= LAST_DAY)


def partition_name(day: int) -> str:
    return f"{tables.sample_rows.name}_{day_date(day):%Y%m%d}"


def window_days(window: Window) -> range:
    """The day numbers a window touches."""
    last = window.end - dt.timedelta(microseconds=1)
    return range(day_number(window.start.date()), day_number(last.date()) + 1)


# ---------------------------------------------------------------- partitions (PostgreSQL)


def ensure_day_partitions(engine: Engine, days: Iterable[int], known: set[int] | None = None) -> list[int]:
    """Create the day partitions of `days` that do not exist yet (PostgreSQL; nothing elsewhere);
    returns the days created. `known`, when given, is a cache of days known to exist: they are
    not asked about, and the days checked or created are added to it."""
    wanted = sorted({int(d) for d in days} - (known or set()))
    if engine.dialect.name != "postgresql" or not wanted:
        return []
    created = []
    for day in wanted:
        with engine.begin() as conn:
            if not _attached(conn, partition_name(day)):
                conn.execute(select(func.pg_advisory_xact_lock(_LOCK_SPACE, day)))
                if not _attached(conn, partition_name(day)):  # another writer created it while we waited
                    _create(conn, day)
                    created.append(day)
        if known is not None:
            known.add(day)
    return created


def create_day_partitions(conn: Connection, days: Iterable[int]) -> None:
    """Create missing day partitions inside the caller's transaction (a migration, which runs alone)."""
    if conn.dialect.name != "postgresql":
        return
    for day in sorted({int(d) for d in days}):
        if not _attached(conn, partition_name(day)):
            _create(conn, day)


def existing_partitions(conn: Connection) -> dict[int, str]:
    """day -> partition name of every attached day partition (PostgreSQL)."""
    query = text("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                 "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = :parent AND c.relkind = 'r'")  # fmt: skip
    prefix = f"{tables.sample_rows.name}_"
    found = {}
    for name in conn.execute(query, {"parent": tables.sample_rows.name}).scalars():
        stamp = dt.datetime.strptime(name.removeprefix(prefix), "%Y%m%d").date()
        found[day_number(stamp)] = name
    return found


def _create(conn: Connection, day: int) -> None:
    if not 0 <= day <= LAST_DAY:
        raise StoreError(f"no day partition for {day_date(day)}: samples are kept for 2000-01-01 to 2089-09-18")
    quote = postgresql.dialect().identifier_preparer.quote
    parent, name = quote(tables.sample_rows.name), quote(partition_name(day))
    # Identifiers from our own table metadata and a day number; the bounds are integers we made.
    conn.execute(text(f"CREATE TABLE IF NOT EXISTS {name} (LIKE {parent} INCLUDING ALL)"))
    conn.execute(text(f"ALTER TABLE {parent} ATTACH PARTITION {name} FOR VALUES FROM ({day}) TO ({day + 1})"))


def _attached(conn: Connection, name: str) -> bool:
    query = text("SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                 "WHERE c.relname = :name AND c.relkind = 'r'")  # fmt: skip
    return conn.execute(query, {"name": name}).first() is not None


# ---------------------------------------------------------------- what a window holds


def sample_days(target: Store | Connection, window: Window) -> set[dt.date]:
    """The UTC days with at least one sample in `window` (one cheap probe per day)."""
    rows = tables.sample_rows.c
    found = set()
    with reading(target) as conn:
        for day in window_days(window):
            probe = select(rows.day).where(rows.day == day, rows.ts >= window.start, rows.ts < window.end).limit(1)
            if conn.execute(probe).first() is not None:
                found.add(day_date(day))
    return found


def count_samples(target: Store | Connection, window: Window) -> int:
    """Samples whose time is in `window`."""
    rows = tables.sample_rows.c
    days = window_days(window)
    query = select(func.count()).where(rows.day >= days.start, rows.day < days.stop, rows.ts >= window.start,
                                       rows.ts < window.end)  # fmt: skip
    with reading(target) as conn:
        return int(conn.execute(query).scalar_one())


def day_row_estimate(conn: Connection, day: int) -> int:
    """About how many rows a day holds: PostgreSQL from the partition's size (compact rows are
    ~107 to a page), SQLite by counting."""
    if conn.dialect.name == "postgresql":
        name = existing_partitions_name(conn, day)
        if name is None:
            return 0
        size = func.pg_relation_size(cast(literal(name), postgresql.REGCLASS))
        pages = conn.execute(select(size / 8192)).scalar_one()
        return int(pages) * 107
    rows = tables.sample_rows.c
    return int(conn.execute(select(func.count()).where(rows.day == day)).scalar_one())


def existing_partitions_name(conn: Connection, day: int) -> str | None:
    name = partition_name(day)
    return name if _attached(conn, name) else None


# ---------------------------------------------------------------- retention


def retired(target: Store | Connection, days: Iterable[dt.date] | None = None) -> set[dt.date]:
    """The retired days (among `days`, when given)."""
    column = tables.retired_days.c.day
    query = select(column)
    wanted = sorted(set(days)) if days is not None else None
    if wanted is not None:
        if not wanted:
            return set()
        query = query.where(column >= wanted[0], column <= wanted[-1])
    with reading(target) as conn:
        found = {as_date(value) for value in conn.execute(query).scalars()}
    return found if wanted is None else found & set(wanted)


def retire(conn: Connection, day: dt.date, now: dt.datetime) -> None:
    """Record that `day`'s raw samples are dropped (inside the caller's transaction)."""
    table = tables.retired_days
    if conn.execute(select(table.c.day).where(table.c.day == day)).first() is None:
        conn.execute(table.insert().values(day=day, retired_at=now))


def drop_day(engine: Engine, day: dt.date) -> int:
    """Drop one day's raw samples; returns how many rows it held (PostgreSQL: about)."""
    number = day_number(day)
    if engine.dialect.name != "postgresql":
        rows = tables.sample_rows
        with engine.begin() as conn:
            return int(conn.execute(rows.delete().where(rows.c.day == number)).rowcount or 0)
    quote = postgresql.dialect().identifier_preparer.quote
    with engine.connect() as conn:
        name = existing_partitions_name(conn, number)
        if name is None:
            return 0
        held = day_row_estimate(conn, number)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        parent = quote(tables.sample_rows.name)
        conn.execute(text(f"ALTER TABLE {parent} DETACH PARTITION {quote(name)} CONCURRENTLY"))
        conn.execute(text(f"DROP TABLE {quote(name)}"))
    return held


def days_with_rows(target: Store | Connection, before: dt.date) -> list[dt.date]:
    """The days before `before` that still hold raw samples (PostgreSQL: their partitions)."""
    limit = day_number(before)
    with reading(target) as conn:
        if conn.dialect.name == "postgresql":
            return sorted(day_date(d) for d in existing_partitions(conn) if d < limit)
        rows = tables.sample_rows.c
        query = select(rows.day).where(and_(rows.day < limit)).distinct()
        return sorted(day_date(d) for d in conn.execute(query).scalars())


__all__ = [
    "DAY_NS", "EPOCH", "EPOCH_DAYS", "LAST_DAY", "count_samples", "create_day_partitions", "day_date", "day_number",
    "day_row_estimate", "days_of", "days_with_rows", "drop_day", "ensure_day_partitions", "existing_partitions",
    "partition_name", "retire", "retired", "sample_days", "storable", "window_days",
]  # fmt: skip
