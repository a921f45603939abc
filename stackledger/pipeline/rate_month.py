"""Rating's second phase: the books whose prices depend on the month so far (`Rater.month_to_date`),
priced from daily usage in units that never split what a book prices together.

A month-to-date book prices a window's days from the whole of their months: it reads the daily
usage of `context` (from the first day of the window's first month to the end of its last) and
replaces its lines of `span` (the window's first day to the end of its last month), because a
later day's lines depend on the earlier days. The context is read in units, never whole:

- **the cloud-wide unit**: every row of the services some book prices over the whole cloud's
  month (`Rater.cloud_wide`: AWS's egress tiers) — and of `compute.instance` when some instance
  row lacks its vCPUs or RAM (a baseline book then borrows them from the flavor's other rows);
- **project units**: the other rows, by project. Projects are joined into components when a
  resource has rows in both (a resource's month is priced together: DigitalOcean's cap), and
  components are packed into units of about `rate.chunk_daily_rows` rows.

Every coupling a book has is within one service, per project, per resource, or cloud-wide for
the cloud-wide services, so a book gives each unit's rows exactly the lines it gives them when
it prices the whole context at once. A shard (`rate --shard K/N`) prices the project units whose
first project hashes to it, shard 0 the cloud-wide unit too, and deletes only those units' lines
(and those of projects it owns that have no usage any more).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final

import pandas as pd

from stackledger.pipeline.collect import Shard
from stackledger.pipeline.rate_units import inside
from stackledger.pipeline.raters import Rater
from stackledger.store import Connection, costs, daily_usage
from stackledger.store import findings as findings_store
from stackledger.transforms import rating
from stackledger.transforms.findings import Priced, empty_findings
from stackledger.window import Window

log = logging.getLogger(__name__)

_DAY: Final = dt.timedelta(days=1)
UNSIZED_SERVICE: Final = "compute.instance"


@dataclass(frozen=True)
class MonthUnit:
    """Rows of the context: of `services` (the cloud-wide unit), or of `projects` outside them."""

    services: tuple[str, ...] | None = None
    projects: tuple[str | None, ...] | None = None


@dataclass
class BookWritten:
    price_book: str
    span: Window
    lines: int = 0
    totals: dict[str, Decimal] = field(default_factory=dict)
    findings: list[pd.DataFrame] = field(default_factory=list)

    def found(self) -> pd.DataFrame:
        """The book's findings written."""
        return pd.concat(self.findings, ignore_index=True) if self.findings else empty_findings()


def context_of(days: Window) -> Window:
    """The months a window's month-to-date lines are priced from."""
    return Window(_month_start(days.start), max(days.end, _next_month(days.end - _DAY)))


def span_of(days: Window) -> Window:
    """The days whose month-to-date lines a window replaces: from its first day to its last month's end."""
    return Window(days.start, max(days.end, _next_month(days.end - _DAY)))


def rate_month(
    conn: Connection,
    days: Window,
    books: Sequence[Rater],
    *,
    source: str,
    chunk_rows: int,
    shard: Shard | None = None,
    tell: Callable[[str], None] = lambda book: None,
) -> list[BookWritten]:
    """Price `days` (whole UTC days) with the month-to-date `books` (module docstring), in the
    caller's transaction; `tell(book)` as each book starts."""
    monthly = [book for book in books if book.month_to_date]
    context, span = context_of(days), span_of(days)
    wide = sorted(set().union(*(book.cloud_wide for book in monthly))) if monthly else []
    layout = daily_usage.month_layout(conn, context, source, wide)
    if layout.unsized_instances and UNSIZED_SERVICE not in wide:
        wide = sorted([*wide, UNSIZED_SERVICE])
        layout = daily_usage.month_layout(conn, context, source, wide)
    units = _units(layout, wide, chunk_rows)
    if shard is not None:
        units = [unit for unit in units if _owner(unit, shard)]
    cached: dict[MonthUnit, pd.DataFrame] = {}
    results = []
    for book in monthly:
        tell(book.price_book)
        written = BookWritten(book.price_book, span)
        _clear(conn, book, span, wide, units, shard, layout.project_rows)
        for unit in units:
            frame = cached.get(unit)
            if frame is None:
                frame = rating.daily_usage(_read(conn, context, source, unit, wide))
                if len(units) == 1:
                    cached[unit] = frame  # the whole context fits one unit: read it once for every book
            priced = Priced.of(book.rate(frame))
            lines, found = inside(priced.lines, span), inside(priced.findings, span)
            costs.append_lines(conn, lines)
            findings_store.append_findings(conn, found)
            _count(written, lines, found)
        results.append(written)
    log.info("month-to-date books %s: %d unit(s), context %s", ", ".join(b.price_book for b in monthly), len(units),
             context.label)  # fmt: skip
    return results


def _units(layout: daily_usage.MonthLayout, wide: Sequence[str], chunk_rows: int) -> list[MonthUnit]:
    units = [MonthUnit(services=tuple(wide))] if wide else []
    for projects in _packed(_components(layout), layout.project_rows, chunk_rows):
        units.append(MonthUnit(projects=projects))
    return units


def _components(layout: daily_usage.MonthLayout) -> list[list[str | None]]:
    """Projects joined by resources that have rows in several of them (union-find), each sorted."""
    parent: dict[str | None, str | None] = {project: project for project in layout.project_rows}

    def root(project: str | None) -> str | None:
        while parent[project] != project:
            parent[project] = parent[parent[project]]
            project = parent[project]
        return project

    for _resource, projects in layout.shared_resources:
        for other in projects[1:]:
            parent.setdefault(other, other)
            parent.setdefault(projects[0], projects[0])
            parent[root(other)] = root(projects[0])
    groups: dict[str | None, list[str | None]] = {}
    for project in parent:
        groups.setdefault(root(project), []).append(project)
    return sorted((sorted(group, key=_project_key) for group in groups.values()), key=lambda g: _project_key(g[0]))


def _packed(
    components: list[list[str | None]], rows: dict[str | None, int], budget: int
) -> Iterator[tuple[str | None, ...]]:
    """Components packed in order into units of at most `budget` rows (a larger component alone)."""
    unit: list[str | None] = []
    size = 0
    for component in components:
        count = sum(rows.get(project, 0) for project in component)
        if unit and size + count > budget:
            yield tuple(unit)
            unit, size = [], 0
        unit += component
        size += count
    if unit:
        yield tuple(unit)


def _owner(unit: MonthUnit, shard: Shard) -> bool:
    if unit.projects is None:
        return shard.index == 0
    return shard.owns(unit.projects[0])


def _clear(conn: Connection, book: Rater, span: Window, wide: Sequence[str], units: Sequence[MonthUnit],
           shard: Shard | None, rows: dict[str | None, int]) -> None:  # fmt: skip
    """Delete the book's lines and findings of `span` that this run replaces."""
    kinds = (
        (costs.delete_lines, costs.line_projects),
        (findings_store.delete_findings, findings_store.finding_projects),
    )
    for delete, projects_of in kinds:
        if shard is None:
            delete(conn, book.price_book, span)
            continue
        if shard.index == 0 and wide:
            delete(conn, book.price_book, span, services=list(wide))
        mine = {project for unit in units if unit.projects is not None for project in unit.projects}
        stale = {p for p in projects_of(conn, book.price_book, span) if p not in rows and shard.owns(p)}
        delete(conn, book.price_book, span, projects=sorted(mine | stale, key=_project_key),
               other_services=list(wide))  # fmt: skip


def _read(conn: Connection, context: Window, source: str, unit: MonthUnit, wide: Sequence[str]) -> pd.DataFrame:
    if unit.services is not None:
        return daily_usage.read_unit(conn, context, source, services=unit.services)
    return daily_usage.read_unit(conn, context, source, other_services=wide, projects=unit.projects)


def _count(written: BookWritten, lines: pd.DataFrame, found: pd.DataFrame) -> None:
    written.lines += len(lines)
    if len(found):
        written.findings.append(found)
    for currency, amounts in lines.groupby("currency")["cost"]:
        written.totals[str(currency)] = written.totals.get(str(currency), Decimal(0)) + sum(amounts, Decimal(0))


def _project_key(project: str | None) -> tuple[int, str]:
    return (0, "") if project is None else (1, project)


def _month_start(day: dt.datetime) -> dt.datetime:
    return dt.datetime(day.year, day.month, 1)


def _next_month(day: dt.datetime) -> dt.datetime:
    return dt.datetime(day.year + day.month // 12, day.month % 12 + 1, 1)


__all__ = ["BookWritten", "MonthUnit", "context_of", "rate_month", "span_of"]
