"""Data-quality reads for the reports: what was collected in a window and what was rejected.

`quality_records(conn, window)` reads, for the whole window, the hours with any usage row, the
collector checkpoints overlapping it, the reasons of the dead letters received in it and its
compute.instance usage; `reports.quality.data_quality` clips them to the hours rated.
Instants come back naive (as stored), whatever the driver hands over.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy import Connection, func, select

from stackledger.store.tables import checkpoints, dead_letters, usage
from stackledger.window import Window


class CheckpointRecord(NamedTuple):
    source: str
    window_start: dt.datetime
    window_end: dt.datetime
    rows: int


@dataclass(frozen=True)
class QualityRecords:
    usage_hours: frozenset[dt.datetime]  # hours starting in the window with any usage row
    checkpoints: tuple[CheckpointRecord, ...]  # collector windows overlapping the window
    dead_letter_reasons: tuple[str, ...]  # one per message received in the window and not used
    instance_hours: float  # compute.instance usage starting in the window


def quality_records(conn: Connection, window: Window) -> QualityRecords:
    u, c, d = usage.c, checkpoints.c, dead_letters.c
    in_window = (u.charge_period_start >= window.start, u.charge_period_start < window.end)
    hours = select(u.charge_period_start).distinct().where(*in_window)
    windows = select(c.source, c.window_start, c.window_end, c.rows).where(
        c.window_end > window.start, c.window_start < window.end
    )
    reasons = select(d.reason).where(d.received_at >= window.start, d.received_at < window.end)
    instances = select(func.sum(u.consumed_quantity)).where(u.service == "compute.instance", *in_window)
    return QualityRecords(
        usage_hours=frozenset(naive(start) for (start,) in conn.execute(hours)),
        checkpoints=tuple(
            CheckpointRecord(source, naive(start), naive(end), int(rows))
            for source, start, end, rows in conn.execute(windows)
        ),
        dead_letter_reasons=tuple(reason for (reason,) in conn.execute(reasons)),
        instance_hours=float(conn.execute(instances).scalar_one_or_none() or 0.0),
    )


def naive(value: dt.datetime | str) -> dt.datetime:
    """A stored instant as a naive datetime (SQLite may hand back its ISO text)."""
    instant = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return instant.replace(tzinfo=None)


__all__ = ["CheckpointRecord", "QualityRecords", "naive", "quality_records"]
