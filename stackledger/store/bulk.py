"""Writing and deleting many rows, inside the caller's transaction.

`append_frame` / `append_rows` append many rows to a table: PostgreSQL's COPY through psycopg
(a frame's rows formatted a column at a time, `store.copy_text`), an executemany elsewhere.
What rating writes a day at a time (hourly usage, daily usage, cost lines) goes through here.
`delete_owned` deletes the rows one unit of work replaces (all of a window, or only a shard's
resources or projects); `chunks` cuts long `IN (...)` lists and statement batches.

Values cross as Python objects: missing values (None, NaN, NaT) are NULL, a text column's ''
stays '' (`usage.flavor_name` is part of a unique key), Decimals stay exact.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Final, TypeVar

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Table, exc, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql import ColumnElement

from stackledger.store.copy_text import copy_text

_ROWS_PER_STATEMENT: Final = 5_000  # executemany chunks (SQLite)
_COPY_PIECE: Final = 1 << 22  # characters of COPY text handed to psycopg at a time
IN_LIST_SIZE: Final = 500  # values per `IN (...)`: well under every driver's parameter limit

T = TypeVar("T")


def chunks(items: Sequence[T], size: int = IN_LIST_SIZE) -> Iterator[Sequence[T]]:
    """`items` in consecutive slices of at most `size` (the last one may be shorter; none when
    `items` is empty): the values of one `IN (...)` list, or the rows of one statement."""
    if size < 1:
        raise ValueError(f"chunk size must be at least 1, got {size}")
    for start in range(0, len(items), size):
        yield items[start : start + size]


def delete_owned(
    conn: Connection,
    table: Table,
    where: Sequence[ColumnElement[bool]],
    *,
    owns: Callable[[str], bool] | None = None,
    projects: Iterable[str | None] | None = None,
) -> int:
    """Delete the rows of `table` that `where` selects (a unit of work's window, source or book,
    services) and that the unit owns: all of them; or, with `owns`, those whose `resource_id` it
    accepts (a rating shard's resources); or, with `projects`, those whose `project_id` is one
    of them (None: the rows without a project). Returns how many rows went. `table` must have
    the `resource_id` / `project_id` column the chosen filter uses; `owns` and `projects` exclude
    each other."""
    if owns is not None and projects is not None:
        raise ValueError("delete_owned: give `owns` (resources) or `projects`, not both")
    delete, c = table.delete(), table.c
    if owns is None and projects is None:
        return _deleted(conn, delete.where(*where))
    deleted = 0
    if owns is not None:
        stored = conn.execute(select(c.resource_id).where(*where).distinct()).scalars()
        for chunk in chunks(sorted(r for r in stored if owns(r))):
            deleted += _deleted(conn, delete.where(*where, c.resource_id.in_(chunk)))
        return deleted
    assert projects is not None
    wanted = set(projects)
    for chunk in chunks(sorted(p for p in wanted if p is not None)):
        deleted += _deleted(conn, delete.where(*where, c.project_id.in_(chunk)))
    if None in wanted:
        deleted += _deleted(conn, delete.where(*where, c.project_id.is_(None)))
    return deleted


def _deleted(conn: Connection, statement: Any) -> int:
    return int(conn.execute(statement).rowcount or 0)


def append_frame(conn: Connection, table: Table, frame: pd.DataFrame, columns: Sequence[str]) -> int:
    """Insert `frame`'s `columns` as rows of `table`; returns the row count."""
    if frame.empty:
        return 0
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        text = copy_text(frame, columns)
        if text is not None:
            _copy(conn, table, columns, text=text)
        else:
            _copy(conn, table, columns, zip(*(_python_values(frame[name]) for name in columns), strict=True))
    else:
        values = [_python_values(frame[name]) for name in columns]
        rows = [dict(zip(columns, row, strict=True)) for row in zip(*values, strict=True)]
        for chunk in chunks(rows, _ROWS_PER_STATEMENT):
            conn.execute(table.insert(), chunk)
    return len(frame)


def append_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert plain rows (dicts with the same keys)."""
    if not rows:
        return 0
    columns = list(rows[0])
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        _copy(conn, table, columns, (tuple(row[name] for name in columns) for row in rows))
    else:
        for chunk in chunks(rows, _ROWS_PER_STATEMENT):
            conn.execute(table.insert(), list(chunk))
    return len(rows)


def _copy(conn: Connection, table: Table, columns: Sequence[str], rows: Iterable[tuple[Any, ...]] = (), *,
          text: str | None = None) -> None:  # fmt: skip
    """COPY `rows` (formatted by psycopg), or `text` (rows already in COPY's text format), into `table`."""
    quote = postgresql.dialect().identifier_preparer.quote
    statement = f"COPY {quote(table.name)} ({', '.join(quote(name) for name in columns)}) FROM STDIN"
    driver = conn.connection.driver_connection
    assert driver is not None  # a live connection inside the caller's transaction
    try:
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            if text is not None:
                for start in range(0, len(text), _COPY_PIECE):
                    copy.write(text[start : start + _COPY_PIECE])
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


__all__ = ["IN_LIST_SIZE", "append_frame", "append_rows", "chunks", "delete_owned"]
