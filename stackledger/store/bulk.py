"""Appending many rows of a frame to a table: PostgreSQL's COPY through psycopg, an executemany
elsewhere. What rating writes a day at a time (hourly usage, daily usage, cost lines) goes
through here, inside the caller's transaction.

Values cross as Python objects: missing values (None, NaN, NaT) are NULL, a text column's ''
stays '' (`usage.flavor_name` is part of a unique key), Decimals stay exact.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Table, exc
from sqlalchemy.dialects import postgresql

_ROWS_PER_STATEMENT: Final = 5_000  # executemany chunks (SQLite)


def append_frame(conn: Connection, table: Table, frame: pd.DataFrame, columns: Sequence[str]) -> int:
    """Insert `frame`'s `columns` as rows of `table`; returns the row count."""
    if frame.empty:
        return 0
    values = [_python_values(frame[name]) for name in columns]
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        _copy(conn, table, columns, zip(*values, strict=True))
    else:
        rows = [dict(zip(columns, row, strict=True)) for row in zip(*values, strict=True)]
        for start in range(0, len(rows), _ROWS_PER_STATEMENT):
            conn.execute(table.insert(), rows[start : start + _ROWS_PER_STATEMENT])
    return len(frame)


def append_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert plain rows (dicts with the same keys)."""
    if not rows:
        return 0
    columns = list(rows[0])
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        _copy(conn, table, columns, (tuple(row[name] for name in columns) for row in rows))
    else:
        for start in range(0, len(rows), _ROWS_PER_STATEMENT):
            conn.execute(table.insert(), list(rows[start : start + _ROWS_PER_STATEMENT]))
    return len(rows)


def _copy(conn: Connection, table: Table, columns: Sequence[str], rows: Iterator[tuple[Any, ...]]) -> None:
    quote = postgresql.dialect().identifier_preparer.quote
    statement = f"COPY {quote(table.name)} ({', '.join(quote(name) for name in columns)}) FROM STDIN"
    driver = conn.connection.driver_connection
    assert driver is not None  # a live connection inside the caller's transaction
    try:
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            write = copy.write_row
            for row in rows:
                write(row)
    except driver.Error as error:  # psycopg's own, raised outside SQLAlchemy: wrap it as SQLAlchemy would
        raise exc.DBAPIError.instance(statement, None, error, driver.Error) from error


def _python_values(column: pd.Series) -> list[Any]:
    """A column as Python values, None for every kind of missing."""
    if pd.api.types.is_datetime64_any_dtype(column):
        stamps = column.to_numpy(dtype="datetime64[us]")
        out: list[Any] = stamps.tolist()
        if np.isnat(stamps).any():
            out = [None if value is None else value for value in out]
        return out
    if column.dtype.kind == "f":
        values = column.to_numpy(dtype=float)
        listed: list[Any] = values.tolist()
        if np.isnan(values).any():
            listed = [None if v != v else v for v in listed]
        return listed
    if column.dtype.kind in "iub":
        return column.to_numpy().tolist()
    return [None if _missing(v) else v for v in column.to_numpy(dtype=object).tolist()]


def _missing(value: Any) -> bool:
    return value is None or value is pd.NaT or (isinstance(value, float) and value != value)


__all__ = ["append_frame", "append_rows"]
