"""The figures the API and the page serve, read once and shared by every request.

A month's figures are the reports' own: `MonthDocuments` holds the `ReportData`, the
`FinanceSummary` and the project reports built by `stackledger.pipeline.report.ReportRun`
— the objects the PDFs, the CSV and the alarms' forecast come from — so every figure on the
page and in the JSON equals the PDF's to the cent by construction.

Caching: every result is keyed by the store's data version (`store.serving.data_version`,
asked at most once a second) and lives at most `api.cache_seconds`; a new cost line, alarm
evaluation, dead letter, checkpoint or project makes the next request read again. Concurrent
requests for the same key wait for one computation instead of each running it. Whole answers
are kept too, per token and URL (`deps.CachedRoute`), so a caller repeating a request costs a
token check and a lookup.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Hashable
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

from stackledger.pipeline.base import store_for
from stackledger.settings import Settings
from stackledger.store import serving
from stackledger.window import Window, utcnow

if TYPE_CHECKING:
    from stackledger.reports.data import ReportData
    from stackledger.reports.project import ProjectReport
    from stackledger.reports.summary import FinanceSummary

log = logging.getLogger(__name__)

T = TypeVar("T")
VERSION_SECONDS: Final = 1.0  # the data version is asked at most this often
CACHE_ENTRIES: Final = 2048


@dataclass(frozen=True)
class MonthDocuments:
    """A calendar month's report objects (exactly what `stackledger report` renders)."""

    data: ReportData
    summary: FinanceSummary
    projects: dict[str, ProjectReport]  # project id -> its report (projects with cost lines)
    organisation: str

    @property
    def window(self) -> Window:
        return self.data.window

    @cached_property
    def lines(self) -> dict[str, Any]:
        """project id -> its `ProjectLine` in the summary."""
        return {line.project_id: line for line in self.summary.projects}


@dataclass
class Figures:
    settings: Settings
    demo: bool = False
    clock: Callable[[], float] = time.monotonic
    _cache: OrderedDict[Hashable, tuple[float, Any]] = field(default_factory=OrderedDict)
    _version: tuple[float, tuple[Any, ...]] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _flights: dict[Hashable, threading.Lock] = field(default_factory=dict)

    @cached_property
    def report_settings(self) -> Settings:
        """The settings reports render with (the demo's say the figures are synthetic)."""
        if self.demo:
            from stackledger.pipeline.demo import labelled

            return labelled(self.settings)
        return self.settings

    @property
    def store(self) -> Any:
        return store_for(self.settings)

    # ------------------------------------------------------------ cache

    def version(self) -> tuple[Any, ...]:
        now = self.clock()
        with self._lock:
            if self._version is not None and now - self._version[0] < VERSION_SECONDS:
                return self._version[1]
        current = serving.data_version(self.store)
        with self._lock:
            self._version = (now, current)
        return current

    def cached(self, key: Hashable, compute: Callable[[], T]) -> T:
        full = (self.version(), key)
        found = self._get(full)
        if found is not None:
            return found[0]
        with self._lock:
            flight = self._flights.setdefault(full, threading.Lock())
        with flight:  # one computation per key; the others wait for it
            found = self._get(full)
            if found is not None:
                return found[0]
            value = compute()
            with self._lock:
                self._cache[full] = (self.clock() + self.settings.api.cache_seconds, value)
                while len(self._cache) > CACHE_ENTRIES:
                    self._cache.popitem(last=False)
                self._flights.pop(full, None)
        return value

    def peek(self, key: Hashable) -> Any:
        """The value cached for `key` at the current data version, or None."""
        found = self._get((self.version(), key))
        return None if found is None else found[0]

    def peek_nowait(self, key: Hashable) -> Any:
        """`peek` without asking the store: None unless the data version is less than a second old."""
        with self._lock:
            known = self._version
        if known is None or self.clock() - known[0] >= VERSION_SECONDS:
            return None
        found = self._get((known[1], key))
        return None if found is None else found[0]

    def keep(self, key: Hashable, value: Any) -> None:
        full = (self.version(), key)  # outside the lock: version() takes it
        with self._lock:
            self._cache[full] = (self.clock() + self.settings.api.cache_seconds, value)
            while len(self._cache) > CACHE_ENTRIES:
                self._cache.popitem(last=False)

    def _get(self, key: Hashable) -> tuple[Any] | None:
        with self._lock:
            found = self._cache.get(key)
            if found is None or found[0] <= self.clock():
                return None
            self._cache.move_to_end(key)
            return (found[1],)

    # ------------------------------------------------------------ what the store has

    def months(self) -> list[str]:
        """Every calendar month from the first cost line to the last, oldest first."""

        def compute() -> list[str]:
            span = serving.cost_span(self.store)
            if span is None:
                return []
            out, month = [], Window.month(span[0].strftime("%Y-%m"))
            while month.start <= span[1]:
                out.append(month.label)
                month = Window.month(month.end.strftime("%Y-%m"))
            return out

        return self.cached("months", compute)

    def default_month(self) -> str:
        months = self.months()
        return months[-1] if months else utcnow().strftime("%Y-%m")

    def projects(self) -> dict[str, serving.ProjectRecord]:
        return self.cached("projects", lambda: {p.project_id: p for p in serving.project_records(self.store)})

    def team_of(self, project_id: str) -> str:
        found = self.projects().get(project_id)
        return found.team if found else ""

    # ------------------------------------------------------------ figures

    def month(self, label: str) -> MonthDocuments:
        return self.cached(("month", label), lambda: self._month(Window.month(label)))

    def _month(self, window: Window) -> MonthDocuments:
        from stackledger.pipeline.report import ReportRun

        settings = self.report_settings
        run = ReportRun(settings, window, settings.report.out_dir, self._report_data(window))
        started = time.perf_counter()
        documents = MonthDocuments(run.data, run.summary, {r.project_id: r for r in run.projects}, run.organisation)
        log.info(
            "serve: figures of %s read (%d rows, %.2fs)",
            window.label,
            len(run.data.rows),
            time.perf_counter() - started,
        )
        return documents

    def _report_data(self, window: Window) -> ReportData:
        """The window's cost rows, read exactly as `stackledger report` reads them."""
        from stackledger.reports.data import report_data
        from stackledger.store.reports import cost_records

        records = cost_records(self.store, window)
        return report_data(window, records.sums, records.fx)

    def costs(self, window: Window, dimensions: Collection[str], books: Collection[str]) -> list[serving.CostGroup]:
        """Cost lines summed per `dimensions` (always per project and price book too)."""
        key = ("costs", window, tuple(sorted(set(dimensions) | {"project", "price_book"})), tuple(sorted(books)))
        return self.cached(key, lambda: serving.cost_groups(self.store, window, key[2], price_books=key[3]))

    def alarm_states(self) -> list[dict[str, Any]]:
        return self.cached("alarm_states", lambda: serving.alarm_state_rows(self.store))

    def resource_owners(self, resource_ids: Collection[str]) -> dict[str, str]:
        key = ("owners", frozenset(resource_ids))
        return self.cached(key, lambda: serving.resource_projects(self.store, key[1]))

    def status(self) -> serving.PipelineStatus:
        return self.cached("status", lambda: serving.pipeline_status(self.store))

    # ------------------------------------------------------------ documents

    def project_pdf(self, label: str, project_id: str) -> bytes:
        from stackledger.reports.pdf import render_project_pdf

        def compute() -> bytes:
            documents = self.month(label)
            return render_project_pdf(documents.projects[project_id], organisation=documents.organisation)

        return self.cached(("project_pdf", label, project_id), compute)

    def summary_pdf(self, label: str) -> bytes:
        from stackledger.reports.pdf import render_pdf

        def compute() -> bytes:
            documents = self.month(label)
            return render_pdf(documents.data, organisation=documents.organisation, summary=documents.summary)

        return self.cached(("summary_pdf", label), compute)

    def csv(self, label: str, keep: Callable[[str, str], bool] | None) -> str:
        """The month's CSV, only the rows whose (project id, team) `keep` accepts (None: every row,
        the very file `stackledger report --format csv` writes)."""
        from stackledger.reports.csv_export import render_csv

        data = self.month(label).data
        if keep is not None:
            data = replace(data, rows=tuple(row for row in data.rows if keep(row.project_id, row.team)))
        return render_csv(data)

    def export(self, label: str, kind: str) -> bytes:
        """The whole month as `xlsx`, `json` or `focus`, rendered by the report writers."""

        def compute() -> bytes:
            from stackledger.pipeline.report import FORMATS, ReportRun

            window = Window.month(label)
            with tempfile.TemporaryDirectory(prefix="stackledger-serve-") as folder:
                run = ReportRun(self.report_settings, window, Path(folder), self._report_data(window), (kind,))
                paths = FORMATS[kind](run)
                return paths[0].read_bytes()

        return self.cached(("export", label, kind), compute)
