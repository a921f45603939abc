"""The window an Airflow run processes: whole UTC periods (hour, day or month), naive UTC.

1. a manual run's params `start` and `end` (Trigger DAG w/ config): exactly that window;
2. else a non-empty data interval, its ends rounded down to the period: the hourly run's
   [09:00, 10:00) stays, a daily interval [D-1 02:00, D 02:00) is day D-1; if rounding leaves
   nothing, the period ending at the rounded end;
3. else (Airflow 3 gives manual runs, `dag.test()` and CronTriggerTimetable runs without an
   `interval` an empty or no data interval) the last whole period before the logical date, or
   before `run_after` when the run has no logical date.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Final

from stackledger.errors import ConfigError
from stackledger.window import Window, parse_instant

PERIODS: Final = ("hour", "day", "month")


def window_from_context(context: Mapping[str, Any], period: str) -> Window:
    dag_run = context.get("dag_run")
    return window_for(
        period,
        start=context.get("data_interval_start"),
        end=context.get("data_interval_end"),
        logical_date=context.get("logical_date"),
        run_after=getattr(dag_run, "run_after", None),
        params=context.get("params") or {},
    )


def window_for(
    period: str,
    *,
    start: dt.datetime | None,
    end: dt.datetime | None,
    logical_date: dt.datetime | None = None,
    run_after: dt.datetime | None = None,
    params: Mapping[str, Any] | None = None,
) -> Window:
    """The window a run processes (module docstring)."""
    if period not in PERIODS:
        raise ConfigError(f"period {period!r} is not one of {', '.join(PERIODS)}")
    given = {key: (params or {}).get(key) for key in ("start", "end")}
    if any(given.values()):
        if not all(given.values()):
            raise ConfigError("give both params start and end (ISO 8601, UTC), or neither", key="params")
        first, last = parse_instant(str(given["start"]), "params.start"), parse_instant(str(given["end"]), "params.end")
        return Window(first, last)
    if start is not None and end is not None and end > start:
        first, last = floor(_naive(start), period), floor(_naive(end), period)
        return Window(first, last) if first < last else Window(previous(last, period), last)
    instant = logical_date if logical_date is not None else run_after if run_after is not None else end
    if instant is None:
        raise ConfigError("the run has no data interval, logical date or run_after to take a window from")
    last = floor(_naive(instant), period)
    return Window(previous(last, period), last)


def floor(instant: dt.datetime, period: str) -> dt.datetime:
    """The start of the period `instant` falls in."""
    hour = instant.replace(minute=0, second=0, microsecond=0)
    if period == "hour":
        return hour
    day = hour.replace(hour=0)
    return day if period == "day" else day.replace(day=1)


def previous(start: dt.datetime, period: str) -> dt.datetime:
    """The start of the period before the one starting at `start`."""
    if period == "hour":
        return start - dt.timedelta(hours=1)
    if period == "day":
        return start - dt.timedelta(days=1)
    return (start - dt.timedelta(days=1)).replace(day=1)


def _naive(instant: dt.datetime) -> dt.datetime:
    """Naive UTC, as a plain datetime (Airflow gives aware pendulum DateTimes)."""
    if instant.tzinfo is not None:
        instant = instant.astimezone(dt.UTC)
    return dt.datetime(instant.year, instant.month, instant.day, instant.hour, instant.minute, instant.second,
                       instant.microsecond)  # fmt: skip


__all__ = ["PERIODS", "floor", "previous", "window_for", "window_from_context"]
