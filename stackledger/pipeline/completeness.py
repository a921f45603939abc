"""Is a window's data complete? What the daily DAG waits for before rating a day, and the monthly
DAG before it renders a month.

`check_complete(settings, window, sources, rated=True)` looks at the store only:

- **collected**: every hour of the window is covered, for each of `sources`, by checkpoints of
  the source itself or of every shard of one shard count (`gnocchi#0/4` … `gnocchi#3/4`,
  `stackledger.pipeline.collect.Shard`), of any window size;
- with `rated`, also **re-rated**: no day of the window waits in `rerate_days` (late samples),
  and **rated**: every day with usage of `usage.source` (with "ceilometer": with samples) has
  cost lines of the internal price book.

A gap is reported, never raised: the caller decides whether to wait, fail or go on.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from stackledger.pipeline.base import store_for
from stackledger.pipeline.usage import computes_usage
from stackledger.schema import INTERNAL_BOOK
from stackledger.settings import Settings
from stackledger.store import Store, checkpoints, costs, sample_days
from stackledger.store import usage as usage_store
from stackledger.window import Window, merge_periods

log = logging.getLogger(__name__)

_HOUR = dt.timedelta(hours=1)


@dataclass(frozen=True)
class Completeness:
    window: Window
    missing: dict[str, tuple[Window, ...]]  # source -> spans of whole hours no checkpoint covers
    pending_rerate: tuple[dt.date, ...] = ()  # days late samples marked and nothing re-rated yet
    unrated: tuple[dt.date, ...] = ()  # days with usage (or samples) but no internal cost line

    @property
    def complete(self) -> bool:
        return not (any(self.missing.values()) or self.pending_rerate or self.unrated)

    def describe(self) -> str:
        """One line: what is missing, or that nothing is."""
        if self.complete:
            return f"{self.window.label}: complete"
        parts = [
            f"{source} not collected for {_hours(spans)} h ({', '.join(span.label for span in spans[:3])}"
            f"{', …' if len(spans) > 3 else ''})"
            for source, spans in self.missing.items()
            if spans
        ]
        if self.pending_rerate:
            parts.append(f"{len(self.pending_rerate)} day(s) wait for re-rating ({_days(self.pending_rerate)})")
        if self.unrated:
            parts.append(f"{len(self.unrated)} day(s) have usage but no cost lines ({_days(self.unrated)})")
        return f"{self.window.label}: incomplete: " + "; ".join(parts)


def check_complete(settings: Settings, window: Window, sources: Sequence[str], *, rated: bool = True) -> Completeness:
    """Whether `window` is collected (and, with `rated`, rated) completely (module docstring)."""
    store = store_for(settings)
    missing = {source: _uncovered(store, source, window) for source in sources}
    pending: tuple[dt.date, ...] = ()
    unrated: tuple[dt.date, ...] = ()
    if rated:
        pending = tuple(costs.rerate_days(store, window))
        priced = costs.rated_days(store, window.start, window.end, price_book=INTERNAL_BOOK)
        unrated = tuple(sorted(_days_with_data(store, settings, window) - priced))
    result = Completeness(window, missing, pending, unrated)
    log.info("completeness %s", result.describe())
    return result


# ---------------------------------------------------------------- checkpoints


def _uncovered(store: Store, source: str, window: Window) -> tuple[Window, ...]:
    by_key: dict[str, set[dt.datetime]] = defaultdict(set)
    for key, start, end in checkpoints.checkpoint_spans(store, source, window, shards=True):
        by_key[key].update(_hours_of(max(start, window.start), min(end, window.end)))
    covered = set(by_key.get(source, set()))
    shards: dict[int, dict[int, set[dt.datetime]]] = defaultdict(dict)
    for key, hours in by_key.items():
        shard = _shard_of(key, source)
        if shard is not None:
            shards[shard[1]][shard[0]] = hours
    for count, parts in shards.items():
        if len(parts) == count:  # every shard of that count has checkpoints: their common hours
            covered |= set.intersection(*parts.values())
    return tuple(merge_periods(set(_hours_of(window.start, window.end)) - covered, _HOUR))


def _shard_of(key: str, source: str) -> tuple[int, int] | None:
    """`gnocchi#1/4` -> (1, 4) for source gnocchi; None for anything else."""
    prefix = f"{source}#"
    if not key.startswith(prefix):
        return None
    index, _, count = key[len(prefix) :].partition("/")
    if not (index.isdigit() and count.isdigit()) or int(index) >= int(count):
        return None
    return int(index), int(count)


def _hours_of(start: dt.datetime, end: dt.datetime) -> Iterable[dt.datetime]:
    hour = start.replace(minute=0, second=0, microsecond=0)
    if hour < start:
        hour += _HOUR  # a checkpoint covers whole hours only
    while hour + _HOUR <= end:
        yield hour
        hour += _HOUR


def _days_with_data(store: Store, settings: Settings, window: Window) -> set[dt.date]:
    if computes_usage(settings):  # usage is computed while rating: look at the samples
        return sample_days.sample_days(store, window)
    return usage_store.usage_days(store, window, settings.usage.source)


def _hours(spans: Sequence[Window]) -> int:
    return int(sum(span.hours for span in spans))


def _days(days: Sequence[dt.date]) -> str:
    shown = ", ".join(day.isoformat() for day in days[:3])
    return f"{shown}, …" if len(days) > 3 else shown


__all__ = ["Completeness", "check_complete"]
