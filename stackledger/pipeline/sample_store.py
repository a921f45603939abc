"""Storing parsed samples and dead letters: the half of ingestion the file reader and the Kafka
consumer share. Callers own the transaction (`with store.transaction() as conn:`), so a batch of
samples, its dead letters and its re-rating marks commit together or not at all.

- Samples dedupe on `message_id` (in the table and within the batch); the counts say how many
  were new, so a replayed file or a per_meter_topic copy reports duplicates, not errors.
- Dead letters dedupe on sha256(origin, location, payload): replaying the same bad line stores it once.
- A new sample whose UTC day already has cost lines (any price book) marks that day in
  `rerate_days`; a cumulative counter marks the next day too, since a late reading changes the
  delta of the reading after it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Final

from sqlalchemy import Connection, Table, exc, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.elements import TextClause

from collectors.samples import SampleError
from stackledger.errors import InputError
from stackledger.store import Store, tables

try:
    import msgspec
except ImportError:  # pragma: no cover - an optional accelerator
    msgspec = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

PAYLOAD_MAX: Final = 16_384  # characters of a bad message kept in dead_letters.payload
REASON_MAX: Final = 2_000
_ORIGIN_MAX: Final = 512  # dead_letters.origin width
_LOCATION_MAX: Final = 255
_DAY: Final = dt.timedelta(days=1)
_PG_CHUNK: Final = 5_000  # rows per json_populate_recordset statement


@dataclass(frozen=True)
class DeadLetter:
    """A message we could not use, kept with the reason so it can be fixed and replayed."""

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

    @classmethod
    def for_error(cls, origin: str, location: str, error: InputError, message: bytes | str) -> DeadLetter:
        """The dead letter for a parse error at `location` ("line 12", "partition 0 offset 7")."""
        if isinstance(error, SampleError):  # one bad sample of a notification: keep just that sample
            location = f"{location} sample {error.index}"
            payload = json.dumps(error.sample, sort_keys=True, default=str)
        else:
            payload = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
        return cls(origin, location, error.reason, payload.rstrip("\r\n"))


def store_samples(
    store: Store, conn: Connection, rows: Sequence[Mapping[str, Any]], *, marked: set[dt.date] | None = None
) -> tuple[int, int]:
    """Insert rows from `collectors.samples.parse_message`, skipping known `message_id`s.

    Returns (inserted, duplicates), duplicates counting repeats within `rows` too. Rated days that
    received a new sample are added to `rerate_days` (and to `marked`, when given).
    """
    unique: dict[str, Mapping[str, Any]] = {}
    for row in rows:
        unique.setdefault(row["message_id"], row)
    now = _utcnow()
    records = [{**row, "ingested_at": now} for row in unique.values()]
    if store.dialect == "postgresql" and conn.dialect.driver == "psycopg":
        inserted = _pg_copy_samples(conn, records)
    elif store.dialect == "postgresql":
        inserted = _pg_insert_ignore(conn, tables.samples, records, returning="message_id")
    else:
        # Order is not needed (ids are looked up), and unordered RETURNING is batched, not row by row.
        inserted = store.insert_ignore(conn, tables.samples, records, returning="message_id", ordered=False)
    days = _mark_rerate(store, conn, (unique[message_id] for message_id in inserted), now)
    if marked is not None:
        marked.update(days)
    return len(inserted), len(rows) - len(inserted)


def store_dead_letters(store: Store, conn: Connection, letters: Iterable[DeadLetter]) -> int:
    """Store dead letters once each (by fingerprint). Returns how many were new."""
    now = _utcnow()
    unique = {letter.fingerprint: letter for letter in letters}
    rows = [letter.row(now) for letter in unique.values()]
    return len(store.insert_ignore(conn, tables.dead_letters, rows, returning="fingerprint", ordered=False))


def _mark_rerate(store: Store, conn: Connection, rows: Iterable[Mapping[str, Any]], now: dt.datetime) -> set[dt.date]:
    days: set[dt.date] = set()
    for row in rows:
        day = row["timestamp"].date()
        days.add(day)
        if row["type"] == "cumulative":
            days.add(day + _DAY)
    if not days:
        return set()
    period = tables.cost_lines.c.charge_period_start
    start = dt.datetime.combine(min(days), dt.time())
    end = dt.datetime.combine(max(days), dt.time()) + _DAY
    query = select(period).distinct().where(period >= start, period < end)
    rated = {stamp.date() for stamp in conn.execute(query).scalars()} & days
    if rated:
        store.insert_ignore(conn, tables.rerate_days, [{"day": day, "marked_at": now} for day in sorted(rated)])
        log.info("marked %d rated day(s) for re-rating: %s", len(rated), ", ".join(map(str, sorted(rated))))
    return rated


# ------------------------------------------------------------------ PostgreSQL bulk path

# The columns COPY writes, in the order `_pg_copy_samples` builds each row's tuple.
_COPY_COLUMNS: Final = ("message_id", "meter", "type", "unit", "volume", "project_id", "user_id", "resource_id",
                        "timestamp", "metadata", "source", "ingested_at")  # fmt: skip
_STAGE: Final = "stackledger_samples_stage"  # a temporary table: per session, emptied at commit


def _pg_copy_samples(conn: Connection, records: Sequence[Mapping[str, Any]]) -> list[str]:
    """`INSERT … ON CONFLICT DO NOTHING RETURNING message_id` for PostgreSQL through psycopg's COPY
    into a session-local staging table: half the server CPU of `_pg_insert_ignore` (no JSON document
    to parse, no tuplestore spilling to disk) and less client CPU. Returns the inserted ids."""
    if not records:
        return []
    quote = postgresql.dialect().identifier_preparer.quote
    columns = ", ".join(quote(name) for name in _COPY_COLUMNS)
    table = quote(tables.samples.name)
    # A temporary table lives in this session's pg_temp: no other session sees or races it.
    conn.exec_driver_sql(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGE} (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    )
    statement = f"COPY {_STAGE} ({columns}) FROM STDIN"
    dumps = _metadata_encoder()
    driver = conn.connection.driver_connection
    assert driver is not None  # a live connection inside the caller's transaction
    try:
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            write = copy.write_row
            for r in records:
                metadata = r["metadata"]
                write((r["message_id"], r["meter"], r["type"], r["unit"], r["volume"], r["project_id"],
                       r["user_id"], r["resource_id"], r["timestamp"],
                       None if metadata is None else dumps(metadata), r["source"], r["ingested_at"]))  # fmt: skip
    except driver.Error as error:  # psycopg's own, raised outside SQLAlchemy: wrap it as SQLAlchemy would
        raise exc.DBAPIError.instance(statement, None, error, driver.Error) from error
    inserted = conn.exec_driver_sql(
        f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {_STAGE} "  # noqa: S608
        f"ON CONFLICT DO NOTHING RETURNING {quote('message_id')}"
    ).scalars().all()
    conn.exec_driver_sql(f"TRUNCATE {_STAGE}")  # a second call in the same transaction starts empty
    return list(inserted)


def _metadata_encoder() -> Callable[[Any], str]:
    """JSON text of a metadata dict: msgspec's encoder when installed (4x faster), else json's. The
    parser has rejected NaN, Infinity and unstorable strings, so both write the same JSON values."""
    if msgspec is None:
        return json.JSONEncoder(separators=(",", ":")).encode
    encode = msgspec.json.Encoder().encode
    return lambda value: encode(value).decode("utf-8")


def _pg_insert_ignore(
    conn: Connection, table: Table, records: Sequence[Mapping[str, Any]], *, returning: str
) -> list[Any]:
    """`Store.insert_ignore(..., ordered=False)` for PostgreSQL, 4× faster: each chunk travels as one
    JSON document expanded by json_populate_recordset. Multi-row VALUES statements carry 12,000
    placeholders that psycopg re-parses in Python for every batch; arrays need per-element escaping."""
    if not records:
        return []
    statement = _recordset_statement(table, tuple(records[0]), returning)
    inserted: list[Any] = []
    for start in range(0, len(records), _PG_CHUNK):
        document = json.dumps(records[start : start + _PG_CHUNK], default=_iso, separators=(",", ":"))
        inserted.extend(conn.execute(statement, {"rows": document}).scalars())
    return inserted


@cache
def _recordset_statement(table: Table, names: tuple[str, ...], returning: str) -> TextClause:
    quote = postgresql.dialect().identifier_preparer.quote
    columns = ", ".join(quote(name) for name in names)
    # Only identifiers from our own table metadata, quoted; the rows are one bound parameter.
    return text(
        f"INSERT INTO {quote(table.name)} ({columns}) SELECT {columns} "  # noqa: S608
        f"FROM json_populate_recordset(NULL::{quote(table.name)}, CAST(:rows AS json)) "
        f"ON CONFLICT DO NOTHING RETURNING {quote(returning)}"
    )


def _iso(value: object) -> str:
    if isinstance(value, dt.date):  # datetimes too: naive UTC, read back as `timestamp`
        return value.isoformat()
    raise TypeError(f"cannot store {type(value).__name__} as JSON")


def _storable(value: str) -> str:
    """Text a database column accepts: no NUL, no lone surrogates."""
    if "\x00" in value:
        value = value.replace("\x00", "\\u0000")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


__all__ = ["DeadLetter", "store_dead_letters", "store_samples"]
