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
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Final

from psycopg.types.json import set_json_dumps
from sqlalchemy import Connection, Table, exc, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.elements import TextClause

from stackledger.collectors.samples import SampleError
from stackledger.errors import InputError
from stackledger.pipeline.rerate import mark_rerate
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
    if _copies(store, conn):
        inserted = _pg_copy_samples(conn, list(unique.values()), now)
    else:
        records = [{**row, "ingested_at": now} for row in unique.values()]
        if store.dialect == "postgresql":
            inserted = _pg_insert_ignore(conn, tables.samples, records, returning="message_id")
        else:
            # Order is not needed (ids are looked up), and unordered RETURNING is batched, not row by row.
            inserted = store.insert_ignore(conn, tables.samples, records, returning="message_id", ordered=False)
    mark_rerate(store, conn, _days_to_rerate(unique[message_id] for message_id in inserted), now=now, marked=marked)
    return len(inserted), len(rows) - len(inserted)


def store_sample_stream(
    store: Store,
    conn: Connection,
    rows: Callable[[], Iterable[Mapping[str, Any]]],
    *,
    marked: set[dt.date] | None = None,
) -> tuple[int, int]:
    """`store_samples` for rows made one at a time, such as the Kafka consumer's, parsed from its
    records as the COPY takes them: on PostgreSQL a batch is never held whole, so each row is
    still in the CPU cache when it is written (a third less client CPU than parsing it all first).

    `rows()` starts the rows; it is called a second time, and the rows stored the conflict-proof
    way, when some of them are stored already. Unlike `store_samples` the rows are not sorted by id:
    two consumers writing the same ids at once (the old and new owner of a partition just after a
    rebalance) read them from the same partition, in the same order, so they do not deadlock."""
    if not _copies(store, conn):
        return store_samples(store, conn, list(rows()), marked=marked)
    now = _utcnow()
    try:
        with conn.begin_nested():
            inserted, duplicates, days = _copy_new_rows(conn, rows(), now)
    except exc.IntegrityError:
        log.debug("some samples of the batch are stored already: inserting them with ON CONFLICT")
        return _store_staged(store, conn, list(rows()), now, marked)
    mark_rerate(store, conn, days, now=now, marked=marked)
    return inserted, duplicates


def _copy_new_rows(
    conn: Connection, rows: Iterable[Mapping[str, Any]], now: dt.datetime
) -> tuple[int, int, set[dt.date]]:
    """COPY rows into `samples`, each `message_id` once: (written, repeats skipped, their days to
    re-rate). A unique violation (an id stored already) is raised, as `exc.IntegrityError`."""
    seen: set[str] = set()
    days: set[dt.date] = set()
    repeats = 0

    def new_rows() -> Iterator[Mapping[str, Any]]:
        nonlocal repeats
        for row in rows:
            message_id = row["message_id"]
            if message_id in seen:
                repeats += 1
                continue
            seen.add(message_id)
            _add_days(days, row)
            yield row

    _copy_rows(conn, tables.samples.name, new_rows(), now)
    return len(seen), repeats, days


def _store_staged(
    store: Store, conn: Connection, rows: Sequence[Mapping[str, Any]], now: dt.datetime, marked: set[dt.date] | None
) -> tuple[int, int]:
    unique: dict[str, Mapping[str, Any]] = {}
    for row in rows:
        unique.setdefault(row["message_id"], row)
    inserted = _pg_copy_staged(conn, sorted(unique.values(), key=_message_id), now)
    mark_rerate(store, conn, _days_to_rerate(unique[message_id] for message_id in inserted), now=now, marked=marked)
    return len(inserted), len(rows) - len(inserted)


def _copies(store: Store, conn: Connection) -> bool:
    """Whether samples go in by COPY: PostgreSQL through psycopg (3)."""
    return store.dialect == "postgresql" and conn.dialect.driver == "psycopg"


def store_dead_letters(store: Store, conn: Connection, letters: Iterable[DeadLetter]) -> int:
    """Store dead letters once each (by fingerprint). Returns how many were new."""
    now = _utcnow()
    unique = {letter.fingerprint: letter for letter in letters}
    rows = [letter.row(now) for letter in unique.values()]
    return len(store.insert_ignore(conn, tables.dead_letters, rows, returning="fingerprint", ordered=False))


def _days_to_rerate(rows: Iterable[Mapping[str, Any]]) -> set[dt.date]:
    days: set[dt.date] = set()
    for row in rows:
        _add_days(days, row)
    return days


def _add_days(days: set[dt.date], row: Mapping[str, Any]) -> None:
    """The days a new sample may change the cost of: its own; a cumulative counter's next day too."""
    day = row["timestamp"].date()
    days.add(day)
    if row["type"] == "cumulative":
        days.add(day + _DAY)


# ------------------------------------------------------------------ PostgreSQL bulk path

# The columns COPY writes, with the types binary COPY sends them as (varchar columns take text), in the
# order `_copy_rows` builds each row's tuple.
_COPY_COLUMNS: Final = (("message_id", "text"), ("meter", "text"), ("type", "text"), ("unit", "text"),
                        ("volume", "float8"), ("project_id", "text"), ("user_id", "text"), ("resource_id", "text"),
                        ("timestamp", "timestamp"), ("metadata", "json"), ("source", "text"),
                        ("ingested_at", "timestamp"))  # fmt: skip
_STAGE: Final = "stackledger_samples_stage"  # a temporary table: per session, emptied at commit


def _pg_copy_samples(conn: Connection, records: Sequence[Mapping[str, Any]], now: dt.datetime) -> list[str]:
    """`INSERT … ON CONFLICT DO NOTHING RETURNING message_id` for PostgreSQL, optimistically: one
    binary COPY straight into `samples`: about half the time of COPY into a staging table and
    `INSERT … SELECT … ON CONFLICT`, which writes every row twice. Returns the inserted ids.

    When some ids are stored already (a batch read again after a crash or a rebalance, a replayed
    file), the COPY fails with a unique violation: it is rolled back to a savepoint and the rows go
    the staged way, whose ON CONFLICT skips them. Rows are sorted by id, so two writers of the same
    ids take their row locks in the same order and wait for each other instead of deadlocking."""
    if not records:
        return []
    rows = sorted(records, key=_message_id)
    try:
        with conn.begin_nested():
            _copy_rows(conn, tables.samples.name, rows, now)
    except exc.IntegrityError:
        log.debug("some of %d samples are stored already: inserting them with ON CONFLICT", len(rows))
        return _pg_copy_staged(conn, rows, now)
    return [r["message_id"] for r in rows]


def _message_id(row: Mapping[str, Any]) -> str:
    return str(row["message_id"])


def _pg_copy_staged(conn: Connection, records: Sequence[Mapping[str, Any]], now: dt.datetime) -> list[str]:
    """The conflict-proof way: COPY into a session-local staging table, then `INSERT … SELECT … ON
    CONFLICT DO NOTHING RETURNING message_id`."""
    quote = postgresql.dialect().identifier_preparer.quote
    table = quote(tables.samples.name)
    columns = ", ".join(quote(name) for name, _ in _COPY_COLUMNS)
    # A temporary table lives in this session's pg_temp: no other session sees or races it.
    conn.exec_driver_sql(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGE} (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    )
    _copy_rows(conn, _STAGE, records, now)
    insert = (
        f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {_STAGE} "  # noqa: S608
        f"ON CONFLICT DO NOTHING RETURNING {quote('message_id')}"
    )
    inserted = list(conn.exec_driver_sql(insert).scalars())
    conn.exec_driver_sql(f"TRUNCATE {_STAGE}")  # a second call in the same transaction starts empty
    return inserted


def _copy_rows(conn: Connection, table: str, records: Iterable[Mapping[str, Any]], now: dt.datetime) -> None:
    """COPY sample rows into `table` in binary: no text to format here or to parse on the server.
    Raises SQLAlchemy's DBAPIError subclasses, as a statement through SQLAlchemy would."""
    quote = postgresql.dialect().identifier_preparer.quote
    columns = ", ".join(quote(name) for name, _ in _COPY_COLUMNS)
    statement = f"COPY {quote(table)} ({columns}) FROM STDIN (FORMAT BINARY)"
    driver = conn.connection.driver_connection
    assert driver is not None  # a live connection inside the caller's transaction
    try:
        with driver.cursor() as cursor:
            set_json_dumps(_metadata_encoder(), context=cursor)
            with cursor.copy(statement) as copy:
                copy.set_types([kind for _, kind in _COPY_COLUMNS])
                write = copy.write_row
                for r in records:
                    write((r["message_id"], r["meter"], r["type"], r["unit"], r["volume"], r["project_id"],
                           r["user_id"], r["resource_id"], r["timestamp"], r["metadata"], r["source"],
                           now))  # fmt: skip
    except driver.Error as error:  # psycopg's own, raised outside SQLAlchemy: wrap it as SQLAlchemy would
        raise exc.DBAPIError.instance(statement, None, error, driver.Error) from error


def _metadata_encoder() -> Callable[[Any], bytes | str]:
    """JSON of a metadata dict: msgspec's encoder when installed (4x faster), else json's. The
    parser has rejected NaN, Infinity and unstorable strings, so both write the same JSON values."""
    if msgspec is None:
        return json.JSONEncoder(separators=(",", ":")).encode
    return msgspec.json.Encoder().encode


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


__all__ = ["DeadLetter", "store_dead_letters", "store_sample_stream", "store_samples"]
