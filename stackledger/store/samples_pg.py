"""PostgreSQL's bulk path for samples (`stackledger.store.samples` decides when it is taken).

- `copy_rows`: one binary COPY of sample rows into a table: no text to format here or to parse on
  the server.
- `copy_samples`: `INSERT … ON CONFLICT DO NOTHING RETURNING message_id`, optimistically: one COPY
  straight into `samples`, each row written once. When some ids are stored already (a batch read
  again after a crash or a rebalance, a replayed file) the COPY fails with a unique violation: it
  is rolled back to a savepoint and the rows go the staged way.
- `copy_staged`: the conflict-proof way: COPY into a session-local staging table, then
  `INSERT … SELECT … ON CONFLICT DO NOTHING RETURNING message_id`.
- `insert_ignore_json`: `Store.insert_ignore(..., ordered=False)` for a driver without COPY: each
  chunk travels as one JSON document expanded by json_populate_recordset, instead of multi-row
  VALUES whose placeholders the driver re-parses for every batch.

Figures for each choice: `benchmarks/bench_ingest.py` and `benchmarks/bench_kafka_ingest.py`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cache
from typing import Any, Final

from psycopg.types.json import set_json_dumps
from sqlalchemy import Connection, Table, exc, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.elements import TextClause

from stackledger.store import tables

try:
    import msgspec
except ImportError:  # pragma: no cover - an optional accelerator
    msgspec = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

# The columns COPY writes, with the types binary COPY sends them as (varchar columns take text), in the
# order `copy_rows` builds each row's tuple.
_COPY_COLUMNS: Final = (("message_id", "text"), ("meter", "text"), ("type", "text"), ("unit", "text"),
                        ("volume", "float8"), ("project_id", "text"), ("user_id", "text"), ("resource_id", "text"),
                        ("timestamp", "timestamp"), ("metadata", "json"), ("source", "text"),
                        ("ingested_at", "timestamp"))  # fmt: skip
_STAGE: Final = "stackledger_samples_stage"  # a temporary table: per session, emptied at commit
_JSON_CHUNK: Final = 5_000  # rows per json_populate_recordset statement


def copies(conn: Connection) -> bool:
    """Whether samples go in by COPY on this connection: PostgreSQL through psycopg (3)."""
    return conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg"


def copy_samples(conn: Connection, records: Sequence[Mapping[str, Any]], now: dt.datetime) -> list[str]:
    """Insert sample rows (ids unique among them), skipping stored ids; returns the inserted ids.
    Rows are sorted by id, so two writers of the same ids take their row locks in the same order
    and wait for each other instead of deadlocking."""
    if not records:
        return []
    rows = sorted(records, key=message_id)
    try:
        with conn.begin_nested():
            copy_rows(conn, tables.samples.name, rows, now)
    except exc.IntegrityError:
        log.debug("some of %d samples are stored already: inserting them with ON CONFLICT", len(rows))
        return copy_staged(conn, rows, now)
    return [r["message_id"] for r in rows]


def message_id(row: Mapping[str, Any]) -> str:
    return str(row["message_id"])


def copy_staged(conn: Connection, records: Sequence[Mapping[str, Any]], now: dt.datetime) -> list[str]:
    """Insert sample rows through the staging table, skipping stored ids; returns the inserted ids."""
    quote = postgresql.dialect().identifier_preparer.quote
    table = quote(tables.samples.name)
    columns = ", ".join(quote(name) for name, _ in _COPY_COLUMNS)
    # A temporary table lives in this session's pg_temp: no other session sees or races it.
    conn.exec_driver_sql(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGE} (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    )
    copy_rows(conn, _STAGE, records, now)
    insert = (
        f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {_STAGE} "  # noqa: S608
        f"ON CONFLICT DO NOTHING RETURNING {quote('message_id')}"
    )
    inserted = list(conn.exec_driver_sql(insert).scalars())
    conn.exec_driver_sql(f"TRUNCATE {_STAGE}")  # a second call in the same transaction starts empty
    return inserted


def copy_rows(conn: Connection, table: str, records: Iterable[Mapping[str, Any]], now: dt.datetime) -> None:
    """COPY sample rows into `table` in binary, `ingested_at` = `now`. Raises SQLAlchemy's DBAPIError
    subclasses (a unique violation as `exc.IntegrityError`), as a statement through SQLAlchemy would."""
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
    """JSON of a metadata dict: msgspec's encoder when installed, else json's. The parser has
    rejected NaN, Infinity and unstorable strings, so both write the same JSON values."""
    if msgspec is None:
        return json.JSONEncoder(separators=(",", ":")).encode
    return msgspec.json.Encoder().encode


def insert_ignore_json(
    conn: Connection, table: Table, records: Sequence[Mapping[str, Any]], *, returning: str
) -> list[Any]:
    """Insert rows skipping those whose key exists; returns the `returning` column of the inserted ones."""
    if not records:
        return []
    statement = _recordset_statement(table, tuple(records[0]), returning)
    inserted: list[Any] = []
    for start in range(0, len(records), _JSON_CHUNK):
        document = json.dumps(records[start : start + _JSON_CHUNK], default=_iso, separators=(",", ":"))
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


__all__ = ["copies", "copy_rows", "copy_samples", "copy_staged", "insert_ignore_json", "message_id"]
