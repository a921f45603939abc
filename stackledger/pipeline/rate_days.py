"""Rating's first phase: the usage of each day of a window, a chunk of resources at a time.

For each UTC day, inside the caller's transaction (`with store.transaction() as conn:`):

1. the day's stored rows of the shard's resources (all, unsharded) go: hourly "ceilometer" usage,
   daily usage and the lines of the row-by-row books;
2. with `usage.source: ceilometer`, the day's sample rows are read in one pass and bucketed by
   resource (`pipeline.readings`; K buckets of about `rate.chunk_samples` readings), each bucket
   becomes a unit with its revisions and inventory (`pipeline.rate_units`), and each unit's
   hourly usage, daily usage and row-by-row lines are written as soon as computed. Memory
   depends on the chunk, not on the cloud or the window;
3. with a collected source (Gnocchi, the synthetic collector) the day's stored hourly usage is
   summed per day instead, and priced the same way.

A shard (`Shard(index, count)`, `rate --shard K/N`) does all this for the resources whose id
hashes to it; each resource's usage lives in one shard, so shards never overlap.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final

import numpy as np
import pandas as pd

from stackledger.pipeline.collect import Shard
from stackledger.pipeline.rate_units import Runner, UnitResult, make_unit
from stackledger.pipeline.raters import Rater
from stackledger.pipeline.readings import Codes, read_buckets
from stackledger.pipeline.usage import LOOKBACK_METERS, SOURCE, load_inventory
from stackledger.schema import METERS
from stackledger.settings import Settings
from stackledger.store import Connection, costs, daily_usage
from stackledger.store import findings as findings_store
from stackledger.store import usage as usage_store
from stackledger.store.revisions import read_revisions
from stackledger.store.sample_days import day_row_estimate, window_days
from stackledger.transforms import rating
from stackledger.transforms.findings import Priced, empty_findings
from stackledger.transforms.usage.revisions import REVISION_COLUMNS, typed
from stackledger.window import Window

log = logging.getLogger(__name__)

_DAY: Final = dt.timedelta(days=1)
SPILL_BUDGETS: Final = 4  # a day's reader holds up to this many chunks' readings before spilling to disk


@dataclass
class DaysWritten:
    """What the first phase wrote: hourly usage rows, and per row-by-row book its lines, totals
    and findings."""

    usage_rows: int = 0
    lines: dict[str, int] = field(default_factory=dict)
    totals: dict[str, dict[str, Decimal]] = field(default_factory=dict)
    findings: dict[str, list[pd.DataFrame]] = field(default_factory=dict)

    def add(self, conn: Connection, book: str, priced: Priced) -> None:
        """Save a unit's lines and findings of `book`, and count them."""
        costs.append_lines(conn, priced.lines)
        findings_store.append_findings(conn, priced.findings)
        if len(priced.findings):
            self.findings.setdefault(book, []).append(priced.findings)
        lines = priced.lines
        self.lines[book] = self.lines.get(book, 0) + len(lines)
        sums = self.totals.setdefault(book, {})
        for currency, amounts in lines.groupby("currency")["cost"]:
            sums[str(currency)] = sums.get(str(currency), Decimal(0)) + sum(amounts, Decimal(0))

    def found(self, book: str) -> pd.DataFrame:
        """`book`'s findings written."""
        frames = self.findings.get(book, [])
        return pd.concat(frames, ignore_index=True) if frames else empty_findings()


def rate_days(
    conn: Connection,
    settings: Settings,
    days: Window,
    books: Sequence[Rater],
    runner: Runner,
    shard: Shard | None = None,
) -> DaysWritten:
    """Steps 1-3 of the module docstring for every day of `days` (whole UTC days)."""
    written = DaysWritten()
    for book in books:
        if not book.month_to_date:
            written.lines.setdefault(book.price_book, 0)
            written.totals.setdefault(book.price_book, {})
    computes = settings.usage.source == SOURCE
    codes = Codes.read(conn) if computes else None
    owns = shard.owns if shard is not None else None
    for start in _each_day(days):
        day = Window(start, start + _DAY)
        _clear(conn, settings, day, books, owns)
        if codes is not None:
            _compute_day(conn, settings, day, codes, runner, written, shard)
        else:
            _price_collected_day(conn, settings, day, books, written, owns)
    return written


def _each_day(days: Window) -> list[dt.datetime]:
    count = int((days.end - days.start) / _DAY)
    return [days.start + n * _DAY for n in range(count)]


def _clear(conn: Connection, settings: Settings, day: Window, books: Sequence[Rater],
           owns: Callable[[str], bool] | None) -> None:  # fmt: skip
    if settings.usage.source == SOURCE:
        usage_store.delete_usage(conn, day, SOURCE, owns)
    daily_usage.delete_rows(conn, day, settings.usage.source, owns)
    for book in books:
        if not book.month_to_date:
            costs.delete_lines(conn, book.price_book, day, owns=owns)
            findings_store.delete_findings(conn, book.price_book, day, owns=owns)


def _compute_day(conn: Connection, settings: Settings, day: Window, codes: Codes, runner: Runner,
                 written: DaysWritten, shard: Shard | None) -> None:  # fmt: skip
    lookback = dt.timedelta(hours=settings.usage.cumulative_lookback_hours)
    budget = settings.rate.chunk_samples
    estimate = sum(day_row_estimate(conn, number) for number in window_days(day))
    count = max(1, math.ceil(estimate / budget))
    owned = None
    if shard is not None:
        mask = np.array([shard.owns(str(rid)) for rid in codes.resource_ids], dtype=bool)
        owned = lambda resources: mask[resources]  # noqa: E731
    buckets = read_buckets(conn, day, meters=codes.meter_codes(list(METERS)), lookback=lookback,
                           lookback_meters=codes.meter_codes(LOOKBACK_METERS), count=count,
                           spill_rows=SPILL_BUDGETS * budget, owned=owned)  # fmt: skip
    try:
        stored = read_revisions(conn, window=day)
        revisions = typed({name: stored[name].to_numpy() for name in REVISION_COLUMNS})
        inventory = load_inventory(conn, day, lookback)
        units = (make_unit(day, buckets.take(k), codes, revisions, inventory) for k in range(count))
        for result in runner.map(units):
            _write(conn, result, written)
    finally:
        buckets.close()
    log.info("usage %s: %d readings in %d chunk(s)", day.label, buckets.rows, count)


def _write(conn: Connection, result: UnitResult, written: DaysWritten) -> None:
    written.usage_rows += usage_store.append_usage(conn, result.hourly)
    daily_usage.append(conn, result.daily)
    for book, priced in result.lines:
        written.add(conn, book, priced)


def _price_collected_day(conn: Connection, settings: Settings, day: Window, books: Sequence[Rater],
                         written: DaysWritten, owns: Callable[[str], bool] | None) -> None:  # fmt: skip
    """A collected source's stored hourly usage of the day, summed and priced."""
    hourly = usage_store.read_usage(conn, day, settings.usage.source)
    if owns is not None and len(hourly):
        hourly = hourly[hourly["resource_id"].map(owns).astype(bool)].reset_index(drop=True)
    written.usage_rows += len(hourly)
    daily = rating.daily_usage(hourly)
    daily_usage.append(conn, daily)
    for book in books:
        if not book.month_to_date:
            written.add(conn, book.price_book, Priced.of(book.rate(daily)))


__all__ = ["DaysWritten", "rate_days"]
