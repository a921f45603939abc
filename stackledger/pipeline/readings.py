"""Rating's reader: a window's compact sample rows, read in one pass per day and bucketed by
resource, so usage is computed a chunk of resources at a time in bounded memory
(docs/dev/SCALE.md §5).

- `read_buckets(conn, window, …)` reads the rated meters' rows of the window's days
  (`store.sample_reads.scan_day`, one pass per day partition), keeps the resources a shard owns,
  and appends each row to bucket `resource % K`. Buckets stay in memory up to `spill_rows` rows
  in all; beyond that every bucket's rows go to `.npy` files in a temporary directory, so the
  reader's memory is bounded too. A cumulative counter's previous reading (the last before the
  window within `usage.cumulative_lookback_hours`, today's predecessor rule) is read from the
  days before, reduced to one reading per (resource, meter), and added to its bucket.
- `Buckets.take(k)` gives bucket k's rows; `Codes` the store's dictionaries as arrays.

Rows carry the store's codes: resource and project codes (`sample_resources`, `sample_projects`;
project 0: none) and meter codes, which `Codes.meter_index` maps to `transforms.usage.codes.METER_NAMES`.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np

from stackledger.store import Connection
from stackledger.store.sample_codes import names_by_code
from stackledger.store.sample_days import window_days
from stackledger.store.sample_reads import READ_COLUMNS, scan_day
from stackledger.transforms.usage.codes import METER_NAMES
from stackledger.window import Window

_DAY: Final = dt.timedelta(days=1)


@dataclass(frozen=True)
class Codes:
    """The store's dictionaries: code -> resource id, project id (None at 0), meter index."""

    resource_ids: np.ndarray  # object, by resource code ("" where no resource has the code)
    project_ids: np.ndarray  # object, by project code; None at 0 ("no project")
    meter_index: np.ndarray  # int64, by meter code: index into METER_NAMES, -1 for a meter not rated

    @classmethod
    def read(cls, conn: Connection) -> Codes:
        meters = names_by_code(conn, "meter")
        index = np.array([METER_NAMES.index(m) if m in METER_NAMES else -1 for m in meters], dtype=np.int64)
        return cls(names_by_code(conn, "resource", missing=""), names_by_code(conn, "project"), index)

    def meter_codes(self, names: Sequence[str]) -> list[int]:
        """The store's codes of the meters `names` (those it has)."""
        return [code for code, index in enumerate(self.meter_index) if index >= 0 and METER_NAMES[index] in names]


@dataclass
class Buckets:
    """Rows bucketed by `resource % count`, in memory up to `spill_rows` rows, then on disk."""

    count: int
    spill_rows: int
    parts: list[list[dict[str, np.ndarray]]] = field(default_factory=list)
    files: list[list[Path]] = field(default_factory=list)
    held: int = 0
    rows: int = 0
    _folder: tempfile.TemporaryDirectory[str] | None = None

    def __post_init__(self) -> None:
        self.parts = [[] for _ in range(self.count)]
        self.files = [[] for _ in range(self.count)]

    def add(self, chunk: dict[str, np.ndarray]) -> None:
        if not len(chunk["resource"]):
            return
        bucket = chunk["resource"] % self.count
        order = np.argsort(bucket, kind="stable")
        bounds = np.searchsorted(bucket[order], np.arange(self.count + 1))
        for k in range(self.count):
            if bounds[k] < bounds[k + 1]:
                picked = order[bounds[k] : bounds[k + 1]]
                self.parts[k].append({name: values[picked] for name, values in chunk.items()})
        self.held += len(bucket)
        self.rows += len(bucket)
        if self.held > self.spill_rows:
            self._spill()

    def take(self, k: int) -> dict[str, np.ndarray]:
        """Bucket k's rows (and forget them)."""
        pieces = [_load(path) for path in self.files[k]] + self.parts[k]
        self.parts[k], self.files[k] = [], []
        if not pieces:
            return {name: np.zeros(0, dtype=np.float64 if name == "volume" else np.int64) for name in READ_COLUMNS}
        return {name: np.concatenate([piece[name] for piece in pieces]) for name in READ_COLUMNS}

    def close(self) -> None:
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None

    def _spill(self) -> None:
        if self._folder is None:
            self._folder = tempfile.TemporaryDirectory(prefix="stackledger-rate-")
        for k, pieces in enumerate(self.parts):
            if pieces:
                path = Path(self._folder.name) / f"bucket{k}-{len(self.files[k])}.npz"
                arrays: dict[str, Any] = {name: np.concatenate([p[name] for p in pieces]) for name in READ_COLUMNS}
                np.savez(path, **arrays)
                self.files[k].append(path)
        self.parts = [[] for _ in range(self.count)]
        self.held = 0


def read_buckets(
    conn: Connection,
    window: Window,
    *,
    meters: Sequence[int],
    lookback: dt.timedelta,
    lookback_meters: Sequence[int],
    count: int,
    spill_rows: int,
    owned: Callable[[np.ndarray], np.ndarray] | None = None,
) -> Buckets:
    """The window's rows of `meters` (store codes) and each (resource, counter)'s previous reading,
    bucketed by resource (module docstring). `owned(resource codes) -> mask` keeps a shard's."""
    buckets = Buckets(count, spill_rows)
    try:
        for day in window_days(window):
            since, until = _clip(window, day)
            for chunk in scan_day(conn, day, meters=meters, since=since, until=until):
                buckets.add(_owned(chunk, owned))
        buckets.add(_owned(_previous_readings(conn, window, lookback, lookback_meters), owned))
    except BaseException:
        buckets.close()
        raise
    return buckets


def _clip(window: Window, day: int) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The time bounds to filter a day's rows by: none for a day the window covers whole."""
    start = dt.datetime(2000, 1, 1) + dt.timedelta(days=day)
    since = window.start if window.start > start else None
    until = window.end if window.end < start + _DAY else None
    return since, until


def _previous_readings(
    conn: Connection, window: Window, lookback: dt.timedelta, meters: Sequence[int]
) -> dict[str, np.ndarray]:
    """The last reading of each (resource, meter) in [start − lookback, start): the predecessor of
    the window's first reading of a counter (the largest volume of the last instant, as usage
    reads a counter's repeated instant)."""
    span = Window(window.start - lookback, window.start)
    chunks = [
        chunk
        for day in window_days(span)
        for chunk in scan_day(conn, day, meters=meters, since=span.start, until=span.end)
    ]
    if not chunks or not any(len(c["resource"]) for c in chunks):
        return {name: np.zeros(0, dtype=np.float64 if name == "volume" else np.int64) for name in READ_COLUMNS}
    rows = {name: np.concatenate([c[name] for c in chunks]) for name in READ_COLUMNS}
    order = np.lexsort((rows["volume"], rows["ts"], rows["meter"], rows["resource"]))
    resource, meter = rows["resource"][order], rows["meter"][order]
    last = np.ones(len(order), dtype=bool)
    last[:-1] = (resource[1:] != resource[:-1]) | (meter[1:] != meter[:-1])
    return {name: values[order][last] for name, values in rows.items()}


def _owned(chunk: dict[str, np.ndarray], owned: Callable[[np.ndarray], np.ndarray] | None) -> dict[str, np.ndarray]:
    if owned is None or not len(chunk["resource"]):
        return chunk
    keep = owned(chunk["resource"])
    return {name: values[keep] for name, values in chunk.items()}


def _load(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {name: data[name] for name in READ_COLUMNS}


__all__ = ["Buckets", "Codes", "read_buckets"]
