"""Units of rating work: one chunk of one window's resources (docs/dev/SCALE.md §5).

A `Unit` carries what the pure usage core needs for its resources, in codes local to the unit:
their readings (`transforms.usage.Readings`), the attribute revisions samples stated, and the
inventory's revisions. `compute(unit)` is pure and runs anywhere — in this process, or in a
worker of `rate --jobs N` — and gives back the unit's hourly usage, its daily usage and the cost
lines of the books that price row by row (`Rater.month_to_date` false): the place where each
such book's lines for a unit of work are made. The caller writes them.

`Runner` maps `compute` over units: inline, or in a pool of processes forked with the books
already built (a book is a closure over its rate card or price book: never pickled).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd

from stackledger.pipeline.base import after_fork
from stackledger.pipeline.raters import Rater
from stackledger.pipeline.readings import Codes
from stackledger.transforms import rating
from stackledger.transforms.findings import Priced
from stackledger.transforms.usage import Readings, usage_from_readings
from stackledger.transforms.usage.revisions import REVISION_COLUMNS
from stackledger.window import Window

_PER_WORKER: Final = 2  # units in flight per worker: one computing, one waiting


@dataclass(frozen=True)
class Unit:
    window: Window
    readings: Readings
    revisions: pd.DataFrame  # REVISION_COLUMNS, rcode in the readings' codes
    inventory: pd.DataFrame  # RESOURCE_COLUMNS of the unit's resources


@dataclass(frozen=True)
class UnitResult:
    hourly: pd.DataFrame  # USAGE_COLUMNS, one row per resource, service, hour (and flavor)
    daily: pd.DataFrame  # the same summed per UTC day (`rating.daily_usage`)
    lines: tuple[tuple[str, Priced], ...]  # (price book, its lines and findings) of the row-by-row books


def make_unit(
    window: Window, rows: dict[str, np.ndarray], codes: Codes, revisions: pd.DataFrame, inventory: pd.DataFrame
) -> Unit:
    """A unit of `rows` (the store's codes, `pipeline.readings`), with the revisions and inventory of
    its resources taken from the day's (`revisions` in the store's resource codes)."""
    resources, local = np.unique(rows["resource"], return_inverse=True)
    resource_ids = codes.resource_ids[resources]
    readings = Readings(
        resource=local.astype(np.int64),
        meter=codes.meter_index[rows["meter"]].astype(np.int16),
        ts=rows["ts"],
        volume=rows["volume"],
        project=rows["project"],
        resource_ids=resource_ids,
        project_ids=codes.project_ids,
    )
    mine = revisions[revisions["rcode"].isin(resources)]
    mine = mine.assign(rcode=np.searchsorted(resources, mine["rcode"].to_numpy()))[list(REVISION_COLUMNS)]
    known = inventory[inventory["resource_id"].isin(resource_ids)] if len(inventory) else inventory
    return Unit(window, readings, mine.reset_index(drop=True), known.reset_index(drop=True))


def compute(unit: Unit, books: Sequence[Rater], *, source: str, region: str | None) -> UnitResult:
    """The unit's usage and the lines of the row-by-row `books` (pure)."""
    hourly = usage_from_readings(unit.readings, unit.revisions, unit.inventory, unit.window, source=source,
                                 default_region=region)  # fmt: skip
    daily = rating.daily_usage(hourly)
    return UnitResult(hourly, daily, price_rows(books, daily, unit.window))


def price_rows(books: Sequence[Rater], daily: pd.DataFrame, days: Window) -> tuple[tuple[str, Priced], ...]:
    """Each row-by-row book's lines and findings of `daily` (rows of `days` only)."""
    mine = inside(daily, days)
    return tuple((book.price_book, Priced.of(book.rate(mine))) for book in books if not book.month_to_date)


def inside(frame: pd.DataFrame, days: Window) -> pd.DataFrame:
    """The rows of a daily frame (usage, lines, findings) that start in `days`."""
    start = frame["charge_period_start"]
    return frame[(start >= days.start) & (start < days.end)]


# ---------------------------------------------------------------- running units

_WORKER: dict[str, object] = {}  # in a forked worker: the books and settings compute needs


def _compute_in_worker(unit: Unit) -> UnitResult:
    books = _WORKER["books"]
    assert isinstance(books, tuple)
    return compute(unit, books, source=str(_WORKER["source"]), region=_WORKER["region"])  # type: ignore[arg-type]


def _worker_started(books: tuple[Rater, ...], source: str, region: str | None) -> None:
    after_fork()  # a book may read the store (volume types): never through the parent's connections
    _WORKER.update(books=books, source=source, region=region)


class Runner:
    """Computes units in this process (`jobs` 1) or in `jobs` forked workers, results in unit order."""

    def __init__(self, books: Sequence[Rater], *, source: str, region: str | None, jobs: int = 1) -> None:
        self.books, self.source, self.region = tuple(books), source, region
        self.pool: ProcessPoolExecutor | None = None
        if jobs > 1 and "fork" in multiprocessing.get_all_start_methods():
            context = multiprocessing.get_context("fork")
            self.pool = ProcessPoolExecutor(jobs, mp_context=context, initializer=_worker_started,
                                            initargs=(self.books, source, region))  # fmt: skip
            self.jobs = jobs

    def map(self, units: Iterable[Unit]) -> Iterator[UnitResult]:
        if self.pool is None:
            for unit in units:
                yield compute(unit, self.books, source=self.source, region=self.region)
            return
        pending = []
        for unit in units:
            pending.append(self.pool.submit(_compute_in_worker, unit))
            while len(pending) >= self.jobs * _PER_WORKER:
                yield pending.pop(0).result()
        for future in pending:
            yield future.result()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None


__all__ = ["Runner", "Unit", "UnitResult", "compute", "inside", "make_unit", "price_rows"]
