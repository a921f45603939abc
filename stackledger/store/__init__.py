"""The store: one engine, transactions, idempotent bulk writes and frame reads.

Every write of a window happens inside `Store.transaction()`: the window is stored whole
or not at all. Inserts that may repeat (samples, dead letters) are `INSERT … ON CONFLICT
DO NOTHING`; derived rows (usage, cost lines) are replaced for their window.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, Table, create_engine, event, exc, inspect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, ExceptionContext
from sqlalchemy.sql import ColumnElement, Select

from stackledger.errors import StoreError, StoreUnavailable
from stackledger.redact import redact_text, redact_url
from stackledger.store import tables
from stackledger.store.bulk import chunks
from stackledger.store.migrate import current_revision, head_revision, upgrade

log = logging.getLogger(__name__)

# SQLite keeps NUMERIC as REAL; amounts round-trip exactly at our 6-decimal scale.
warnings.filterwarnings("ignore", message=".*does \\*not\\* support Decimal objects natively")

CHUNK = 5000  # rows per executemany; bounded so memory stays flat on large windows


class Store:
    """A database holding StackLedger's records. Cheap to create; share one per process."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.engine: Engine = _make_engine(url, echo=echo)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    # -------------------------------------------------------------- schema

    def ensure_schema(self) -> None:
        """SQLite files are upgraded on first use; other databases must be migrated explicitly."""
        if self.dialect == "sqlite":
            upgrade(self.engine)
            return
        if current_revision(self.engine) != head_revision():
            raise StoreError(f"{describe(self.engine.url)} is not at the current schema: run `stackledger db upgrade`")

    def upgrade(self) -> None:
        upgrade(self.engine)

    def revision(self) -> str | None:
        """The Alembic revision the database is at (None: not migrated at all)."""
        return current_revision(self.engine)

    def dispose(self) -> None:
        """Close this process's pooled connections (a worker's, before it exits)."""
        self.engine.dispose()

    # -------------------------------------------------------------- writes

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except exc.OperationalError as error:
            raise StoreError(f"database error: {error.orig}") from error

    def insert_ignore(
        self,
        conn: Connection,
        table: Table,
        rows: Sequence[Mapping[str, Any]],
        *,
        returning: str | None = None,
        ordered: bool = False,
    ) -> list[Any]:
        """Insert rows, skipping those whose unique key exists. Returns the `returning`
        column of the rows really inserted (so callers can count duplicates), in parameter
        order; `ordered=False` returns them in no promised order but lets the driver send
        1000-row statements instead of one statement per row (ON CONFLICT + sorted RETURNING)."""
        inserted: list[Any] = []
        for chunk in chunks(rows, CHUNK):
            stmt = self._insert(table).on_conflict_do_nothing()
            if returning is None:
                conn.execute(stmt, list(chunk))
                continue
            result = conn.execute(stmt.returning(table.c[returning], sort_by_parameter_order=ordered), list(chunk))
            inserted.extend(result.scalars().all())
        return inserted

    def insert(self, conn: Connection, table: Table, rows: Iterable[Mapping[str, Any]]) -> int:
        count = 0
        for chunk in chunks(list(rows), CHUNK):
            conn.execute(table.insert(), list(chunk))
            count += len(chunk)
        return count

    def replace(
        self, conn: Connection, table: Table, where: ColumnElement[bool], rows: Sequence[Mapping[str, Any]]
    ) -> int:
        """Delete what `where` selects, then insert `rows`: a re-run replaces, never adds."""
        conn.execute(table.delete().where(where))
        return self.insert(conn, table, rows)

    def _insert(self, table: Table) -> Any:
        if self.dialect == "postgresql":
            return postgresql.insert(table)
        if self.dialect == "sqlite":
            return sqlite.insert(table)
        raise StoreError(f"unsupported database dialect {self.dialect}")

    # -------------------------------------------------------------- reads

    def frame(self, query: Select[Any], conn: Connection | None = None) -> pd.DataFrame:
        if conn is not None:
            return _to_frame(conn, query)
        with self.engine.connect() as own:
            return _to_frame(own, query)

    def has_tables(self) -> bool:
        return "sample_rows" in inspect(self.engine).get_table_names()


def open_store(url: str, *, echo: bool = False) -> Store:
    store = Store(url, echo=echo)
    store.ensure_schema()
    return store


def _to_frame(conn: Connection, query: Select[Any]) -> pd.DataFrame:
    result = conn.execute(query)
    # Plain tuples build a frame ~3x faster than SQLAlchemy Row objects.
    return pd.DataFrame([tuple(row) for row in result.fetchall()], columns=list(result.keys()))


def _make_engine(url: str, *, echo: bool) -> Engine:
    try:
        engine = create_engine(url, echo=echo, future=True)
    except (exc.ArgumentError, ModuleNotFoundError, ValueError) as error:
        raise StoreError(f"bad database.url {redact_url(url)}: {redact_text(str(error))}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "handle_error", _unreachable)
    return engine


def _unreachable(context: ExceptionContext) -> None:
    """A failure to connect (no connection exists yet) becomes `StoreUnavailable` naming the
    database's host, port and name (or SQLite file), never its credentials. Errors on an open
    connection, and pool pre-pings (which reconnect on their own), keep SQLAlchemy's handling."""
    if context.connection is not None or context.is_pre_ping:
        return
    url = context.engine.url if context.engine is not None else None
    if url is None or not isinstance(context.original_exception, Exception):
        return
    reason = _reason(context.original_exception)
    if url.get_backend_name() == "sqlite":
        verb, advice = "open", "the folder must exist and be writable (database.url)"
    else:
        verb, advice = "connect to", "check database.url and that the server is running and reachable"
    raise StoreUnavailable(f"cannot {verb} {describe(url)}: {reason}; {advice}") from context.original_exception


def describe(url: URL) -> str:
    """A database as an error names it: `database ledger at db.example:5432 (postgresql)` or
    `SQLite database /var/lib/ledger.db` — never the user or the password."""
    if url.get_backend_name() == "sqlite":
        return f"SQLite database {url.database or ':memory:'}"
    return (
        f"database {url.database or '(default)'} at {url.host or 'localhost'}:{url.port or 'default port'} "
        f"({url.get_backend_name()})"
    )


def _reason(error: Exception) -> str:
    """The driver's reason, one line: psycopg's `connection to server at "h", port 5432 failed:
    Connection refused` → `Connection refused`."""
    text = " ".join(str(error).split())
    text = text.rsplit(" failed: ", 1)[-1] if " failed: " in text else text
    text = text.split(" Is the server running", 1)[0]
    return redact_text(text.strip().rstrip(".")) or type(error).__name__


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    # WAL lets readers (reports, Airflow tasks) run while a window is written.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


__all__ = ["Connection", "Engine", "Store", "open_store", "tables"]
