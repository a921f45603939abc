"""Rating step: usage → cost lines of every price book, in bounded memory (docs/dev/SCALE.md §5).

`rate_window(settings, window)` widens the window to whole UTC days and, in ONE transaction
(the window is stored whole or not at all; a re-run replaces, never adds):

1. computes each day's usage a chunk of resources at a time (`pipeline.rate_days`): the day's
   sample rows read in one pass, bucketed by resource, each chunk's hourly usage, daily usage and
   the lines of the books that price row by row written as they are made. With `usage.source`
   a collected source (Gnocchi, synthetic) the stored hourly usage is summed instead;
2. prices the books whose prices depend on the month so far (tiers, monthly caps) from the
   months' daily usage, in project units (`pipeline.rate_month`), replacing their lines from the
   window's first day to the end of its last month;
3. clears the window's days from `rerate_days` — those marked before the run began: a sample
   stored meanwhile keeps its day's mark.

Memory depends on `rate.chunk_samples`, not on the cloud or the window: `rate --month` of any
cloud goes the same way. `jobs` > 1 computes chunks in that many forked processes; the
transaction stays this process's. `shard=Shard(k, n)` with `stage="usage"` does step 1 for the
resources hashing to k, `stage="month"` step 2 for the projects hashing to k (run after every
shard's usage stage) — each in a transaction of its own, marks left for `finish_sharded`: the
daily Airflow DAG maps them over `airflow.shards`.

`rate_pending(settings)` re-rates the days late samples marked, one window per run of
consecutive days: only those days' usage is computed again.

A price book is a `Rater` (`pipeline.raters`: daily usage → its cost lines, and the findings of
what it could not price as usual: `transforms.findings.Priced`). Each book's findings are saved
beside its lines, unit by unit, in the same transaction, and replaced with them.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Final, Literal

from stackledger.pipeline.base import store_for
from stackledger.pipeline.collect import Shard
from stackledger.pipeline.rate_days import DaysWritten, rate_days
from stackledger.pipeline.rate_month import BookWritten, rate_month, span_of
from stackledger.pipeline.rate_units import Runner
from stackledger.pipeline.raters import RATERS, Rater, aws_rater, digitalocean_rater, internal_rater
from stackledger.progress import Progress, silent
from stackledger.schema import INTERNAL_BOOK
from stackledger.settings import Settings
from stackledger.store import costs
from stackledger.transforms.findings import FindingSummary, summarize
from stackledger.window import Window, merge_periods, utcnow

log = logging.getLogger(__name__)

_DAY: Final = dt.timedelta(days=1)
Stage = Literal["usage", "month"]


@dataclass(frozen=True)
class BookResult:
    price_book: str
    days: Window  # the days whose lines of this book were replaced
    cost_lines: int
    totals: dict[str, Decimal]  # currency -> sum of the lines' cost (exact; nothing rounded again)
    findings: tuple[FindingSummary, ...] = ()  # what the book could not price as usual, summed


@dataclass(frozen=True)
class RateResult:
    window: Window  # whole UTC days: usage computed, rated, cleared from rerate_days
    usage_rows: int  # hourly usage rows of `usage.source` in the window (computed now if "ceilometer")
    books: tuple[BookResult, ...]

    @property
    def cost_lines(self) -> int:
        return sum(book.cost_lines for book in self.books)

    @property
    def totals(self) -> dict[str, Decimal]:
        """Currency -> total of the internal price book's lines written by this run."""
        return next((book.totals for book in self.books if book.price_book == INTERNAL_BOOK), {})


def rate_window(
    settings: Settings,
    window: Window,
    raters: Sequence[Rater] | None = None,
    progress: Progress | None = None,
    *,
    jobs: int = 1,
    shard: Shard | None = None,
    stage: Stage | None = None,
) -> RateResult:
    """Compute usage for `window` (widened to whole UTC days) and replace it and its cost lines
    (module docstring). `progress(done, total, what)` is told each step as it starts: "usage",
    each price book, "saving", and `done == total` at the end."""
    days = whole_days(window)
    books = list(raters) if raters is not None else [make(settings) for make in RATERS]  # bad card: fail early
    if shard is not None and stage is None:
        raise ValueError("a shard rates one stage: 'usage' or 'month'")
    tell = progress or silent
    steps = len(books) + 2
    tell(0, steps, "usage")
    store = store_for(settings)
    began = utcnow()
    runner = Runner(books, source=settings.usage.source, region=settings.usage.region, jobs=jobs)
    produced: DaysWritten | None = None
    monthly: list[BookWritten] = []
    told: set[str] = set()

    def book_starts(name: str) -> None:
        told.add(name)
        tell(next(n for n, book in enumerate(books, start=1) if book.price_book == name), steps, name)

    try:
        with store.transaction() as conn:
            if stage in (None, "usage"):
                produced = rate_days(conn, settings, days, books, runner, shard)
                for book in books:  # priced with the usage: the row-by-row books that lead the list
                    if book.month_to_date:
                        break
                    book_starts(book.price_book)
            if stage in (None, "month"):
                chunk = settings.rate.chunk_daily_rows
                monthly = rate_month(conn, days, books, source=settings.usage.source, chunk_rows=chunk, shard=shard,
                                     tell=book_starts)  # fmt: skip
            for book in books:
                if book.price_book not in told:
                    book_starts(book.price_book)
            tell(steps - 1, steps, "saving")
            if shard is None:
                costs.clear_rerate_days(conn, days, marked_before=began)
    finally:
        runner.close()
    result = _result(days, books, produced, monthly)
    log.info("rated %s%s: %d usage rows, %s", days.label, _shard_label(shard, stage), result.usage_rows,
             ", ".join(f"{b.price_book} {b.cost_lines} lines" for b in result.books))  # fmt: skip
    tell(steps, steps, "done")
    return result


def finish_sharded(settings: Settings, window: Window, began: dt.datetime) -> None:
    """After every shard of a window was rated: clear its days' re-rating marks set before `began`."""
    with store_for(settings).transaction() as conn:
        costs.clear_rerate_days(conn, whole_days(window), marked_before=began)


def rate_pending(
    settings: Settings, raters: Sequence[Rater] | None = None, progress: Progress | None = None, *, jobs: int = 1
) -> list[RateResult]:
    """Re-rate every day in `rerate_days` (late samples), one window per run of consecutive days
    (`progress` as in `rate_window`, once per window)."""
    runs = pending_windows(costs.rerate_days(store_for(settings)))
    if not runs:
        return []
    books = list(raters) if raters is not None else [make(settings) for make in RATERS]
    return [rate_window(settings, run, books, progress, jobs=jobs) for run in runs]


def pending_windows(days: Sequence[dt.date]) -> list[Window]:
    """Days as windows, consecutive ones merged: [3, 4, 5, 9] → [3, 6), [9, 10)."""
    return merge_periods((dt.datetime.combine(day, dt.time()) for day in days), _DAY)


def whole_days(window: Window) -> Window:
    """The window widened to midnight UTC at both ends."""
    start = dt.datetime.combine(window.start.date(), dt.time())
    end = dt.datetime.combine(window.end.date(), dt.time())
    return Window(start, end if end == window.end else end + _DAY)


# ---------------------------------------------------------------- helpers


def _result(
    days: Window, books: Sequence[Rater], produced: DaysWritten | None, monthly: list[BookWritten]
) -> RateResult:
    by_book = {written.price_book: written for written in monthly}
    results = []
    for book in books:
        if book.month_to_date:
            written = by_book.get(book.price_book)
            if written is not None:
                results.append(BookResult(book.price_book, written.span, written.lines, written.totals,
                                          summarize(written.found())))  # fmt: skip
        elif produced is not None:
            results.append(BookResult(book.price_book, days, produced.lines.get(book.price_book, 0),
                                      produced.totals.get(book.price_book, {}),
                                      summarize(produced.found(book.price_book))))  # fmt: skip
    return RateResult(days, produced.usage_rows if produced is not None else 0, tuple(results))


def _shard_label(shard: Shard | None, stage: Stage | None) -> str:
    return f" (shard {shard.index}/{shard.count}, {stage})" if shard is not None else ""


__all__ = [
    "RATERS", "BookResult", "RateResult", "Rater", "aws_rater", "digitalocean_rater", "finish_sharded",
    "internal_rater", "pending_windows", "rate_pending", "rate_window", "span_of", "whole_days",
]  # fmt: skip
