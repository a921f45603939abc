"""Retention: raw samples are dropped a day at a time once the day is old and rated (docs/dev/SCALE.md §4).

`apply_retention(settings)` (`stackledger db retention`, the daily DAG after rating) drops the raw
samples of every day older than `retention.raw_days` that has cost lines and no re-rating mark
waiting: the day is first recorded in `retired_days` (committed: from then on ingest refuses
samples for it as dead letters — storing them would re-rate the day from a handful of samples),
then its partition is detached and dropped (PostgreSQL; the day's rows deleted on SQLite). A
failure between the two leaves a retired day with rows: the next run drops them. Usage, daily
usage, cost lines and attribute revisions are kept. With `retention.usage_hours_days`, hourly
usage computed from samples older than that is deleted too. Re-running changes nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from stackledger.pipeline.base import store_for
from stackledger.pipeline.usage import SOURCE
from stackledger.settings import Settings
from stackledger.store import costs, sample_days
from stackledger.store import usage as usage_store
from stackledger.window import Window, utcnow

log = logging.getLogger(__name__)


@dataclass
class RetentionResult:
    dropped: dict[dt.date, int] = field(default_factory=dict)  # day -> sample rows it held (PostgreSQL: about)
    kept: list[dt.date] = field(default_factory=list)  # old days kept: not rated, or waiting for re-rating
    usage_rows: int = 0  # hourly usage rows deleted


def apply_retention(settings: Settings, now: dt.datetime | None = None) -> RetentionResult:
    """Drop the raw samples of the old, rated days (module docstring)."""
    at = now or utcnow()
    store = store_for(settings)
    limit = at.date() - dt.timedelta(days=settings.retention.raw_days)
    result = RetentionResult()
    old = sample_days.days_with_rows(store, before=limit)
    waiting = set(costs.rerate_days(store))
    with store.engine.connect() as conn:
        rated = costs.days_rated(conn, old)
    for day in old:
        if day not in rated or day in waiting:
            result.kept.append(day)
            continue
        with store.transaction() as conn:
            sample_days.retire(conn, day, at)
        result.dropped[day] = sample_days.drop_day(store.engine, day)
        log.info("retention: raw samples of %s dropped (%d rows)", day, result.dropped[day])
    if settings.retention.usage_hours_days is not None:
        end = dt.datetime.combine(at.date() - dt.timedelta(days=settings.retention.usage_hours_days), dt.time())
        with store.transaction() as conn:
            result.usage_rows = usage_store.delete_usage(conn, Window(dt.datetime(2000, 1, 1), end), SOURCE)
    return result


__all__ = ["RetentionResult", "apply_retention"]
