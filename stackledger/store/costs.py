"""Cost lines (`cost_lines`) and the days waiting to be rated again (`rerate_days`).

A cost line is one UTC day of one price book; a day is "rated" when it has cost lines of any
book. Lines are replaced per price book and span of days, so a re-run replaces, never adds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import pandas as pd
from sqlalchemy import Connection, and_, select

from stackledger.store import Store, tables
from stackledger.store.frames import as_date, naive_utc, reading
from stackledger.window import Window


def rated_days(
    target: Store | Connection,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    *,
    price_book: str | None = None,
) -> set[dt.date]:
    """The days with cost lines (of `price_book`, or of any) starting in [start, end), unbounded where None."""
    period = tables.cost_lines.c.charge_period_start
    query = select(period).distinct()
    if price_book is not None:
        query = query.where(tables.cost_lines.c.price_book == price_book)
    if start is not None:
        query = query.where(period >= start)
    if end is not None:
        query = query.where(period < end)
    with reading(target) as conn:
        return {naive_utc(stamp).date() for stamp in conn.execute(query).scalars()}


def replace_cost_lines(store: Store, conn: Connection, price_book: str, span: Window, lines: pd.DataFrame) -> int:
    """Replace `price_book`'s lines of the days in `span` with `lines` (a cost frame); returns their count."""
    column = tables.cost_lines.c
    where = and_(
        column.price_book == price_book, column.charge_period_start >= span.start, column.charge_period_start < span.end
    )
    return store.replace(conn, tables.cost_lines, where, _records(lines))


def _records(lines: pd.DataFrame) -> list[dict[str, object]]:
    """Rows for the table: missing values as None, `flavor_name` '' (part of the unique key)."""
    frame = lines.astype(object).where(lines.notna(), None)
    frame["flavor_name"] = frame["flavor_name"].where(frame["flavor_name"].notna(), "")
    frame["charge_period_start"] = lines["charge_period_start"].dt.to_pydatetime()
    frame["charge_period_end"] = lines["charge_period_end"].dt.to_pydatetime()
    return frame.to_dict("records")  # type: ignore[return-value]


# ------------------------------------------------------------------ rerate_days


def mark_rerate_days(store: Store, conn: Connection, days: Iterable[dt.date], *, now: dt.datetime) -> None:
    """Add `days` to `rerate_days` (a day marked already stays as it was)."""
    rows = [{"day": day, "marked_at": now} for day in sorted(set(days))]
    if rows:
        store.insert_ignore(conn, tables.rerate_days, rows)


def rerate_days(target: Store | Connection, window: Window | None = None) -> list[dt.date]:
    """The days waiting in `rerate_days` (those touching `window`, when given), in order."""
    day = tables.rerate_days.c.day
    query = select(day)
    if window is not None:
        query = query.where(day >= window.start.date(), day < _end_day(window))
    with reading(target) as conn:
        return sorted(as_date(value) for value in conn.execute(query).scalars())


def clear_rerate_days(conn: Connection, days: Window) -> None:
    """Remove from `rerate_days` the days that start in `days` (whole UTC days)."""
    column = tables.rerate_days.c.day
    conn.execute(tables.rerate_days.delete().where(column >= days.start.date(), column < days.end.date()))


def _end_day(window: Window) -> dt.date:
    """The first day not (even partly) in the window."""
    last = window.end - dt.timedelta(microseconds=1)
    return last.date() + dt.timedelta(days=1)


__all__ = ["clear_rerate_days", "mark_rerate_days", "rated_days", "replace_cost_lines", "rerate_days"]
