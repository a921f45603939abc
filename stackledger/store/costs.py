"""Cost lines (`cost_lines`) and the days waiting to be rated again (`rerate_days`).

A cost line is one UTC day of one price book; a day is "rated" when it has cost lines of any
book. Lines are replaced per price book and span of days, so a re-run replaces, never adds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from typing import Final

import pandas as pd
from sqlalchemy import Connection, Table, and_, select
from sqlalchemy.dialects import postgresql, sqlite

from stackledger.store import Store, tables
from stackledger.store.bulk import append_frame, delete_owned
from stackledger.store.frames import as_date, naive_utc, reading
from stackledger.window import Window

_DAY: Final = dt.timedelta(days=1)


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


def days_rated(conn: Connection, days: Iterable[dt.date]) -> set[dt.date]:
    """Those of `days` with cost lines of any book (one indexed probe per day)."""
    c = tables.cost_lines.c
    found = set()
    for day in sorted(set(days)):
        start = dt.datetime.combine(day, dt.time())
        probe = select(c.id).where(c.charge_period_start >= start, c.charge_period_start < start + _DAY).limit(1)
        if conn.execute(probe).first() is not None:
            found.add(day)
    return found


def replace_cost_lines(store: Store, conn: Connection, price_book: str, span: Window, lines: pd.DataFrame) -> int:
    """Replace `price_book`'s lines of the days in `span` with `lines` (a cost frame); returns their count."""
    column = tables.cost_lines.c
    where = and_(
        column.price_book == price_book, column.charge_period_start >= span.start, column.charge_period_start < span.end
    )
    return store.replace(conn, tables.cost_lines, where, _records(lines))


def delete_lines(
    conn: Connection,
    price_book: str,
    span: Window,
    *,
    owns: Callable[[str], bool] | None = None,
    projects: Sequence[str | None] | None = None,
    services: Sequence[str] | None = None,
    other_services: Sequence[str] = (),
    table: Table = tables.cost_lines,
) -> int:
    """Delete `price_book`'s lines of the days in `span`: all of them, or those of the resources
    `owns` accepts, or those of `projects` (None: lines without a project); of `services` only,
    or only of the services not in `other_services`. Returns how many went. `table`: another
    table of per-book daily rows with the same columns (`findings`)."""
    c = table.c
    where = [c.price_book == price_book, c.charge_period_start >= span.start, c.charge_period_start < span.end]
    if services is not None:
        where.append(c.service.in_(list(services)))
    elif other_services:
        where.append(c.service.not_in(list(other_services)))
    return delete_owned(conn, table, where, owns=owns, projects=projects)


def line_projects(conn: Connection, price_book: str, span: Window, table: Table = tables.cost_lines) -> set[str | None]:
    """The projects with `price_book` lines (rows of `table`) in `span`."""
    c = table.c
    query = (
        select(c.project_id)
        .distinct()
        .where(c.price_book == price_book, c.charge_period_start >= span.start, c.charge_period_start < span.end)
    )
    return set(conn.execute(query).scalars())


def append_lines(conn: Connection, lines: pd.DataFrame) -> int:
    """Add cost lines (a cost frame, with the baseline columns where the book has them) by bulk copy."""
    if lines.empty:
        return 0
    frame = lines.assign(flavor_name=lines["flavor_name"].where(lines["flavor_name"].notna(), ""))
    columns = [c.name for c in tables.cost_lines.columns if c.name in frame.columns]
    return append_frame(conn, tables.cost_lines, frame, columns)


def _records(lines: pd.DataFrame) -> list[dict[str, object]]:
    """Rows for the table: missing values as None, `flavor_name` '' (part of the unique key)."""
    frame = lines.astype(object).where(lines.notna(), None)
    frame["flavor_name"] = frame["flavor_name"].where(frame["flavor_name"].notna(), "")
    frame["charge_period_start"] = lines["charge_period_start"].dt.to_pydatetime()
    frame["charge_period_end"] = lines["charge_period_end"].dt.to_pydatetime()
    return frame.to_dict("records")  # type: ignore[return-value]


# ------------------------------------------------------------------ rerate_days


def mark_rerate_days(conn: Connection, days: Iterable[dt.date], *, now: dt.datetime) -> None:
    """Add `days` to `rerate_days`, or move the mark of a day marked already to `now`: a rating
    that began before `now` keeps the mark (`clear_rerate_days(marked_before=…)`)."""
    rows = [{"day": day, "marked_at": now} for day in sorted(set(days))]
    if not rows:
        return
    insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(tables.rerate_days)
    conn.execute(insert.on_conflict_do_update(index_elements=["day"], set_={"marked_at": insert.excluded.marked_at}),
                 rows)  # fmt: skip


def rerate_days(target: Store | Connection, window: Window | None = None) -> list[dt.date]:
    """The days waiting in `rerate_days` (those touching `window`, when given), in order."""
    day = tables.rerate_days.c.day
    query = select(day)
    if window is not None:
        query = query.where(day >= window.start.date(), day < _end_day(window))
    with reading(target) as conn:
        return sorted(as_date(value) for value in conn.execute(query).scalars())


def clear_rerate_days(conn: Connection, days: Window, *, marked_before: dt.datetime | None = None) -> None:
    """Remove from `rerate_days` the days that start in `days` (whole UTC days) — those marked
    before `marked_before` only, when given (a sample stored while the days were being rated
    keeps its day's mark)."""
    table = tables.rerate_days
    where = [table.c.day >= days.start.date(), table.c.day < days.end.date()]
    if marked_before is not None:
        where.append(table.c.marked_at < marked_before)
    conn.execute(table.delete().where(*where))


def _end_day(window: Window) -> dt.date:
    """The first day not (even partly) in the window."""
    last = window.end - dt.timedelta(microseconds=1)
    return last.date() + dt.timedelta(days=1)


__all__ = [
    "append_lines", "clear_rerate_days", "days_rated", "delete_lines", "line_projects", "mark_rerate_days",
    "rated_days", "replace_cost_lines", "rerate_days",
]  # fmt: skip
