"""Rating step: usage → cost lines of every price book, stored in one transaction.

`rate_window(settings, window)` reads load → transform → save. It loads the window's samples
and inventory and computes its hourly usage (`pipeline.usage`; with `usage.source: gnocchi` it
reads the usage `stackledger collect` stored instead — rating prices one source, never both),
sums it per UTC day and prices it with each rater, then — in ONE transaction per call — replaces
the window's computed usage rows and each price book's cost lines for the rated days, and clears
those days from `rerate_days`. A re-run replaces, never adds. `rate_pending(settings)` re-rates
the days late samples marked.

Windows are widened to whole UTC days: a cost line is one day. A rater whose prices depend on
the month so far (tiers) is given the month's usage from its first day (the stored usage of the
days outside the window), and replaces its lines up to the end of the window's last month, so
later days of that month never keep a tier allocation computed from usage that has since changed.

A price book is a `Rater` (daily usage → its cost lines, and the findings of what it could not
price as usual: `transforms.findings.Priced`); `RATERS` lists the factories used by default —
the internal rate card, then the AWS and DigitalOcean list-price baselines. Another book is one
more factory: all books land in the same transaction, each book's findings beside its lines.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

import pandas as pd

from stackledger.pipeline import prices
from stackledger.pipeline import usage as usage_step
from stackledger.pipeline.base import store_for
from stackledger.progress import Progress, silent
from stackledger.ratecard import load_rate_card
from stackledger.schema import INTERNAL_BOOK
from stackledger.settings import Settings
from stackledger.store import Store, costs
from stackledger.store import findings as findings_store
from stackledger.store import usage as usage_store
from stackledger.transforms import rating
from stackledger.transforms.findings import FindingSummary, Priced, summarize
from stackledger.window import Window, merge_periods

log = logging.getLogger(__name__)

_DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class Rater:
    """One price book: turns daily usage (USAGE_COLUMNS, one UTC day per row) into its cost lines
    and findings (a bare cost frame: a book that records no findings)."""

    price_book: str
    rate: Callable[[pd.DataFrame], Priced | pd.DataFrame]
    month_to_date: bool = False  # prices depend on the month's earlier usage (tiers, monthly caps)


def internal_rater(settings: Settings) -> Rater:
    """The cloud's own rate card (`settings.rate_card`); volume type ids resolved through the
    Cinder types the store holds."""
    card = load_rate_card(settings.rate_card)
    types = prices.volume_type_resolver(settings)
    return Rater(INTERNAL_BOOK, lambda daily: rating.price(daily, card, types(daily)), month_to_date=card.has_tiers)


def aws_rater(settings: Settings) -> Rater:
    """AWS list prices for the same usage (`settings.baselines`, `stackledger.pipeline.prices`)."""
    return Rater("aws", prices.baseline_pricer(settings, "aws"), month_to_date=True)


def digitalocean_rater(settings: Settings) -> Rater:
    """DigitalOcean list prices for the same usage; droplets capped at the monthly price."""
    return Rater("digitalocean", prices.baseline_pricer(settings, "digitalocean"), month_to_date=True)


RATERS: list[Callable[[Settings], Rater]] = [internal_rater, aws_rater, digitalocean_rater]


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
    settings: Settings, window: Window, raters: Sequence[Rater] | None = None, progress: Progress | None = None
) -> RateResult:
    """Compute usage for `window` (widened to whole UTC days) and replace it and its cost lines.

    `progress(done, total, what)` is told each step as it starts: "usage", each price book,
    "saving", and `done == total` at the end."""
    days = whole_days(window)
    books = list(raters) if raters is not None else [make(settings) for make in RATERS]  # bad card: fail early
    tell = progress or silent
    steps = len(books) + 2
    tell(0, steps, "usage")
    store = store_for(settings)
    # load → transform
    computed = _computed_usage(store, settings, days)
    hourly = _hourly_usage(store, settings, days, _context(days, books), computed)
    daily = rating.daily_usage(hourly)
    produced = []
    for number, book in enumerate(books, start=1):
        tell(number, steps, book.price_book)
        span = _span(days, book)
        produced.append((book, span, _lines(book, daily, span)))
    tell(steps - 1, steps, "saving")
    # save: the usage, every book's lines and the re-rating marks of these days, together
    with store.transaction() as conn:
        if computed is not None:
            usage_store.replace_usage(store, conn, days, usage_step.SOURCE, computed)
        for book, span, priced in produced:
            costs.replace_cost_lines(store, conn, book.price_book, span, priced.lines)
            findings_store.replace_findings(store, conn, book.price_book, span, priced.findings)
        costs.clear_rerate_days(conn, days)
    usage_rows = _rows_in(hourly, days)
    result = RateResult(days, usage_rows, tuple(_book_result(book, span, priced) for book, span, priced in produced))
    log.info("rated %s: %d usage rows, %s", days.label, usage_rows,
             ", ".join(f"{b.price_book} {b.cost_lines} lines" for b in result.books))  # fmt: skip
    tell(steps, steps, "done")
    return result


def rate_pending(
    settings: Settings, raters: Sequence[Rater] | None = None, progress: Progress | None = None
) -> list[RateResult]:
    """Re-rate every day in `rerate_days` (late samples), one window per run of consecutive days
    (`progress` as in `rate_window`, once per window)."""
    runs = pending_windows(costs.rerate_days(store_for(settings)))
    if not runs:
        return []
    books = list(raters) if raters is not None else [make(settings) for make in RATERS]
    return [rate_window(settings, run, books, progress) for run in runs]


def pending_windows(days: Sequence[dt.date]) -> list[Window]:
    """Days as windows, consecutive ones merged: [3, 4, 5, 9] → [3, 6), [9, 10)."""
    return merge_periods((dt.datetime.combine(day, dt.time()) for day in days), _DAY)


def whole_days(window: Window) -> Window:
    """The window widened to midnight UTC at both ends."""
    start = dt.datetime.combine(window.start.date(), dt.time())
    end = dt.datetime.combine(window.end.date(), dt.time())
    return Window(start, end if end == window.end else end + _DAY)


# ---------------------------------------------------------------- helpers


def _computed_usage(store: Store, settings: Settings, days: Window) -> pd.DataFrame | None:
    """The days' usage computed from samples and inventory; None when rating reads a collected source."""
    if not usage_step.computes_usage(settings):
        return None
    return usage_step.ceilometer_usage(settings, usage_step.load_inputs(store, settings, days))


def _hourly_usage(
    store: Store, settings: Settings, days: Window, context: Window, computed: pd.DataFrame | None
) -> pd.DataFrame:
    """The hourly usage of `context` that rating reads: the days' computed usage and the stored
    usage of the days around them — or, for a collected source, all of it stored."""
    source = settings.usage.source  # one description of the cloud, never two added up
    if computed is None:
        return usage_store.read_usage(store, context, source)
    before = [Window(context.start, days.start)] if context.start < days.start else []
    after = [Window(days.end, context.end)] if days.end < context.end else []
    parts = [
        *(usage_store.read_usage(store, span, source) for span in before),
        computed,
        *(usage_store.read_usage(store, span, source) for span in after),
    ]
    return pd.concat([part for part in parts if len(part)] or [computed], ignore_index=True)


def _rows_in(hourly: pd.DataFrame, days: Window) -> int:
    start = hourly["charge_period_start"]
    return int(((start >= days.start) & (start < days.end)).sum())


def _month_start(day: dt.datetime) -> dt.datetime:
    return dt.datetime(day.year, day.month, 1)


def _next_month(day: dt.datetime) -> dt.datetime:
    return dt.datetime(day.year + day.month // 12, day.month % 12 + 1, 1)


def _span(days: Window, book: Rater) -> Window:
    """The days whose lines `book` replaces: the window, or for month-to-date books up to month end."""
    if not book.month_to_date:
        return days
    return Window(days.start, max(days.end, _next_month(days.end - _DAY)))


def _context(days: Window, books: Sequence[Rater]) -> Window:
    """The usage to load: the window, from the first of its month if any book needs month-to-date."""
    monthly = [book for book in books if book.month_to_date]
    if not monthly:
        return days
    return Window(_month_start(days.start), max(_span(days, book).end for book in books))


def _lines(book: Rater, daily: pd.DataFrame, span: Window) -> Priced:
    """Rate what the book needs to see, keep the lines and findings inside its span."""
    start = daily["charge_period_start"]
    if not book.month_to_date:
        daily = daily[(start >= span.start) & (start < span.end)]
    priced = Priced.of(book.rate(daily))
    return Priced(*(_inside(frame, span) for frame in (priced.lines, priced.findings)))


def _inside(frame: pd.DataFrame, span: Window) -> pd.DataFrame:
    start = frame["charge_period_start"]
    return frame[(start >= span.start) & (start < span.end)]


def _book_result(book: Rater, span: Window, priced: Priced) -> BookResult:
    totals: dict[str, Decimal] = {}
    for currency, amounts in priced.lines.groupby("currency")["cost"]:
        totals[str(currency)] = sum(amounts, Decimal(0))
    return BookResult(book.price_book, span, len(priced.lines), totals, summarize(priced.findings))


__all__ = [
    "RATERS", "BookResult", "RateResult", "Rater", "aws_rater", "digitalocean_rater", "internal_rater",
    "pending_windows", "rate_pending", "rate_window", "whole_days",
]  # fmt: skip
