"""What migration 0009 reads of the store it upgrades: the old `samples` table (one row per
sample, its metadata as JSON) a chunk at a time, and the span of stored hourly usage per source.
`pipeline.sample_migration` moves them; the SQL is here."""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy import Connection

OLD_COLUMNS: Final = ("message_id", "meter", "type", "volume", "project_id", "resource_id", "timestamp", "metadata")
_OLD = sa.table(
    "samples",
    sa.column("message_id", sa.String), sa.column("meter", sa.String), sa.column("type", sa.String),
    sa.column("volume", sa.Float), sa.column("project_id", sa.String), sa.column("resource_id", sa.String),
    sa.column("timestamp", sa.DateTime), sa.column("metadata", sa.JSON),
)  # fmt: skip
_USAGE = sa.table("usage", sa.column("charge_period_start", sa.DateTime), sa.column("source", sa.String))


def old_meters(conn: Connection) -> set[str]:
    """The meters of the old samples."""
    return set(conn.execute(sa.select(_OLD.c.meter).distinct()).scalars())


def old_samples(conn: Connection, after: tuple[Any, Any] | None, limit: int) -> list[tuple[Any, ...]]:
    """The next `limit` old samples (OLD_COLUMNS) in (timestamp, message_id) order, after `after`
    (keyset pagination: the last row's (timestamp, message_id))."""
    query = sa.select(*(_OLD.c[name] for name in OLD_COLUMNS)).order_by(_OLD.c.timestamp, _OLD.c.message_id)
    if after is not None:
        query = query.where(sa.tuple_(_OLD.c.timestamp, _OLD.c.message_id) > sa.tuple_(*after))
    return [tuple(row) for row in conn.execute(query.limit(limit))]


def usage_spans(conn: Connection) -> list[tuple[str, dt.datetime, dt.datetime]]:
    """(source, first hour, last hour) of the stored hourly usage, per source."""
    query = sa.select(_USAGE.c.source, sa.func.min(_USAGE.c.charge_period_start),
                      sa.func.max(_USAGE.c.charge_period_start)).group_by(_USAGE.c.source)  # fmt: skip
    return [(source, first, last) for source, first, last in conn.execute(query)]


__all__ = ["OLD_COLUMNS", "old_meters", "old_samples", "usage_spans"]
