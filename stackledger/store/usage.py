"""Hourly usage rows (`usage`), one set per source: "ceilometer" (computed from samples) and each
collector that measures usage itself ("gnocchi", "synthetic").

A window's rows of one source are replaced whole (`replace_usage`), or — for a project shard —
only those of the projects the shard owns (`replace_project_usage`): a re-run replaces, never adds.
Reads come back as canonical frames (`schema.USAGE_COLUMNS`) or plain rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any, Final

import pandas as pd
from sqlalchemy import ColumnElement, Connection, and_, func, select

from stackledger.schema import USAGE_COLUMNS
from stackledger.store import Store, tables
from stackledger.store.bulk import append_frame, chunks, delete_owned
from stackledger.store.frames import as_date, canonical_frame, frame_rows, read_frame, reading
from stackledger.window import Window

# ------------------------------------------------------------------ writes


def replace_usage(store: Store, conn: Connection, window: Window, source: str, usage: pd.DataFrame) -> int:
    """Replace `source`'s rows whose hour starts in `window` with `usage`; returns the rows written."""
    return store.replace(conn, tables.usage, _rows_of(window, source), _usage_rows(usage))


def replace_project_usage(
    store: Store,
    conn: Connection,
    window: Window,
    source: str,
    usage: pd.DataFrame,
    owns: Callable[[str | None], bool],
) -> int:
    """`replace_usage` for the projects `owns` accepts only: their stored rows of the window go,
    `usage` (which must hold only such projects) comes in; other projects' rows stay."""
    table = tables.usage
    where = _rows_of(window, source)
    rows = _usage_rows(usage)
    stored = set(conn.execute(select(table.c.project_id).where(where).distinct()).scalars())
    delete_owned(conn, table, [where], projects=[p for p in stored | {row["project_id"] for row in rows} if owns(p)])
    return store.insert(conn, table, rows)


def delete_usage(conn: Connection, window: Window, source: str, owns: Callable[[str], bool] | None = None) -> int:
    """Delete `source`'s rows whose hour starts in `window` — only those of the resources `owns`
    accepts, when given (a rating shard's)."""
    return delete_owned(conn, tables.usage, [_rows_of(window, source)], owns=owns)


def append_usage(conn: Connection, usage: pd.DataFrame) -> int:
    """Add usage rows (USAGE_COLUMNS) by bulk copy; `flavor_name` '' when unknown (it is in the key)."""
    rows = usage.assign(flavor_name=usage["flavor_name"].where(usage["flavor_name"].notna(), ""))
    return append_frame(conn, tables.usage, rows, tuple(USAGE_COLUMNS))


def _usage_rows(usage: pd.DataFrame) -> list[dict[str, Any]]:
    return frame_rows(usage, USAGE_COLUMNS) if len(usage) else []


# ------------------------------------------------------------------ reads


def read_usage(target: Store | Connection, window: Window, source: str | None = None) -> pd.DataFrame:
    """Rows whose hour starts in `window` (of `source`, or of every source), ordered by hour,
    resource, service and flavor."""
    usage = tables.usage
    query = (
        select(*(usage.c[name] for name in USAGE_COLUMNS))
        .where(_rows_of(window, source))
        .order_by(usage.c.charge_period_start, usage.c.resource_id, usage.c.service, usage.c.flavor_name)
    )
    with reading(target) as conn:
        frame = read_frame(conn, query)
    return canonical_frame(frame, USAGE_COLUMNS, stage="stored usage")


def usage_days(target: Store | Connection, window: Window, source: str) -> set[dt.date]:
    """The UTC days with `source` rows whose hour starts in `window`."""
    start = tables.usage.c.charge_period_start
    query = select(func.date(start)).where(_rows_of(window, source)).distinct()
    with reading(target) as conn:
        return {as_date(value) for value in conn.execute(query).scalars()}


def usage_totals(target: Store | Connection, window: Window, source: str, services: Sequence[str]) -> pd.DataFrame:
    """resource_id, project_id, service, quantity: each resource's summed `services` in the window."""
    usage = tables.usage
    quantity = func.sum(usage.c.consumed_quantity).label("quantity")
    query = (
        select(usage.c.resource_id, usage.c.project_id, usage.c.service, quantity)
        .where(_rows_of(window, source), usage.c.service.in_(list(services)))
        .group_by(usage.c.resource_id, usage.c.project_id, usage.c.service)
    )
    with reading(target) as conn:
        frame = read_frame(conn, query)
    if frame.empty:
        return pd.DataFrame(columns=["resource_id", "project_id", "service", "quantity"])
    return frame.astype({"quantity": float})


HOURLY_COLUMNS: Final = (
    "resource_id", "service", "charge_period_start", "charge_period_end", "flavor_name", "consumed_quantity",
)  # fmt: skip


def resource_hours(
    target: Store | Connection, window: Window, source: str, services: Sequence[str], resource_ids: Sequence[str]
) -> pd.DataFrame:
    """The hourly rows (HOURLY_COLUMNS) of `resource_ids` for `services` in the window."""
    usage = tables.usage
    chosen = select(*(usage.c[name] for name in HOURLY_COLUMNS)).where(
        _rows_of(window, source), usage.c.service.in_(list(services))
    )
    with reading(target) as conn:
        frames = [read_frame(conn, chosen.where(usage.c.resource_id.in_(chunk))) for chunk in chunks(resource_ids)]
    frames = [frame for frame in frames if not frame.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(HOURLY_COLUMNS))


def _rows_of(window: Window, source: str | None) -> ColumnElement[bool]:
    """The rows of `window` (by the hour they start), of one source or all."""
    usage = tables.usage
    clauses = [usage.c.charge_period_start >= window.start, usage.c.charge_period_start < window.end]
    if source is not None:
        clauses.append(usage.c.source == source)
    return and_(*clauses)


__all__ = [
    "HOURLY_COLUMNS", "append_usage", "delete_usage", "read_usage", "replace_project_usage", "replace_usage",
    "resource_hours", "usage_days", "usage_totals",
]  # fmt: skip
