"""Report data: the queries behind every report format, kept apart from rendering.

`month_report_data` reads the cost lines of a window once and returns a `ReportData`;
the CSV, the PDF (and later XLSX and FOCUS) are all rendered from that one object, so
every format shows the same figures.

Money rules (DESIGN §3): costs are `Decimal`, summed from the stored 6-decimal cost lines
and never re-rounded here. Rounding to cents is a display concern of each renderer.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import BigInteger, ColumnElement, RowMapping, Select, and_, cast, func, select

from stackledger.schema import COST_DECIMALS
from stackledger.store import Store
from stackledger.store.tables import cost_lines, projects
from stackledger.window import Window

log = logging.getLogger(__name__)

SYNTHETIC_SOURCE: Final = "synthetic"  # projects.source written by `stackledger demo`
INTERNAL_BOOK: Final = "internal"  # the cloud's own rate card: the price book that is billed
ZERO: Final = Decimal(0).scaleb(-COST_DECIMALS)  # 0.000000: sums keep the cost-line scale

# Costs are summed in the database as integer millionths. PostgreSQL's NUMERIC would sum
# exactly on its own, but SQLite keeps NUMERIC as REAL and a float SUM drifts; round(cost ×
# 10^6) recovers each stored 6-decimal value exactly, and an integer SUM is exact on both.
_SCALE: Final = 10**COST_DECIMALS


@dataclass(frozen=True)
class CostRow:
    """Cost of one project, service and price book over the window.

    `consumed_quantity` is in `consumed_unit` (float, a measurement); `cost` is the exact
    sum of the window's cost lines, in `currency`, with COST_DECIMALS decimals.
    """

    project_id: str  # "" for cost lines without a project
    project_name: str  # the project id when the project is unknown
    team: str  # "" when unknown
    service: str
    price_book: str
    consumed_quantity: float
    consumed_unit: str
    cost: Decimal
    currency: str
    known_project: bool  # False: the project id is not in the projects table
    fx_rates: str = ""  # exchange rate(s) its lines were converted with, ';'-joined ("0.92"); "" = none


@dataclass(frozen=True)
class Total:
    """A sum of `CostRow.cost` for one currency; `label` names what was summed."""

    label: str
    currency: str
    amount: Decimal


@dataclass(frozen=True)
class ProjectCost:
    """One project's rows and its totals per (price book, currency)."""

    project_id: str
    project_name: str
    team: str
    known: bool  # the project is in the projects table (else its name is its id)
    rows: tuple[CostRow, ...]
    totals: tuple[Total, ...]  # label = price book


@dataclass(frozen=True)
class ReportData:
    window: Window
    rows: tuple[CostRow, ...]  # sorted: project name, project id, service, price book, currency, unit
    synthetic: bool  # every project in the report came from the synthetic demo cloud
    fx: tuple[str, ...] = ()  # every exchange rate used, e.g. "1 USD = 0.92 EUR" (public baselines)
    synthetic_ids: frozenset[str] = frozenset()  # the projects that came from the synthetic demo cloud

    @property
    def project_count(self) -> int:
        return len({row.project_id for row in self.rows})

    @property
    def some_synthetic(self) -> bool:
        """Synthetic and real projects side by side: the report must say it contains synthetic data."""
        return bool(self.synthetic_ids) and not self.synthetic

    @property
    def currencies(self) -> tuple[str, ...]:
        return tuple(sorted({row.currency for row in self.rows}))

    @property
    def price_book_totals(self) -> tuple[Total, ...]:
        """Total per (price book, currency), sorted by price book then currency."""
        return _totals(self.rows, key=lambda row: row.price_book)

    @property
    def internal_totals(self) -> tuple[Total, ...]:
        """The grand total: the internal price book (what the cloud charges), per currency.

        The public baselines price the same usage again; they are comparisons, never added in.
        """
        return self.book_totals(INTERNAL_BOOK)

    def book_totals(self, book: str) -> tuple[Total, ...]:
        """One price book's total per currency, sorted by currency."""
        return tuple(total for total in self.price_book_totals if total.label == book)

    def by_project(self) -> tuple[ProjectCost, ...]:
        """Rows grouped by project, in row order, each with its per-price-book totals."""
        groups: dict[str, list[CostRow]] = {}
        for row in self.rows:
            groups.setdefault(row.project_id, []).append(row)
        return tuple(
            ProjectCost(
                project_id=key,
                project_name=rows[0].project_name,
                team=rows[0].team,
                known=rows[0].known_project,
                rows=tuple(rows),
                totals=_totals(rows, key=lambda row: row.price_book),
            )
            for key, rows in groups.items()
        )


def month_report_data(store: Store, window: Window) -> ReportData:
    """Cost of every project, service and price book whose cost lines start in `window`."""
    with store.engine.connect() as conn:
        records = conn.execute(_cost_query(window)).mappings().all()
    rates, fx = _fx_rates(store, window)
    rows = sorted((_with_fx(_row(record), rates) for record in records), key=_sort_key)
    sources = {record["project_id"] or "": record["source"] for record in records}
    synthetic_ids = frozenset(pid for pid, source in sources.items() if source == SYNTHETIC_SOURCE)
    synthetic = bool(sources) and len(synthetic_ids) == len(sources)
    log.debug("report data %s: %d rows, %d projects", window.label, len(rows), len(sources))
    return ReportData(window=window, rows=tuple(rows), synthetic=synthetic, fx=fx, synthetic_ids=synthetic_ids)


def _fx_rates(store: Store, window: Window) -> tuple[dict[tuple[str, ...], str], tuple[str, ...]]:
    """Exchange rates on the window's converted cost lines: per report row key, and as statements."""
    line = cost_lines.c
    keys = (line.project_id, line.service, line.price_book, line.consumed_unit, line.currency, line.source_currency)
    query = (
        select(*keys, line.fx_rate)
        .distinct()
        .where(line.charge_period_start >= window.start, line.charge_period_start < window.end)
        .where(line.fx_rate.is_not(None))
    )
    found: dict[tuple[str, ...], set[str]] = defaultdict(set)
    statements = set()
    with store.engine.connect() as conn:
        for project_id, service, book, unit, currency, source, rate in conn.execute(query):
            text = format(Decimal(str(rate)).normalize(), "f")
            found[(project_id or "", service, book, unit, currency)].add(text)
            statements.add((source or "", currency, Decimal(text), f"1 {source} = {text} {currency}"))
    rates = {key: ";".join(sorted(values, key=Decimal)) for key, values in found.items()}
    return rates, tuple(statement for *_, statement in sorted(statements))


def _with_fx(row: CostRow, rates: dict[tuple[str, ...], str]) -> CostRow:
    key = (row.project_id, row.service, row.price_book, row.consumed_unit, row.currency)
    return replace(row, fx_rates=rates[key]) if key in rates else row


def cost_units_sum() -> ColumnElement[Any]:
    """SUM of cost_lines.cost as exact integer millionths; `from_units` turns it back into a Decimal."""
    return func.sum(cast(func.round(cost_lines.c.cost * _SCALE), BigInteger))


def from_units(units: Any) -> Decimal:
    return Decimal(int(units or 0)).scaleb(-COST_DECIMALS)


def in_window(window: Window) -> ColumnElement[bool]:
    """Cost lines whose charge period starts in `window` (the rule every report query uses)."""
    return and_(cost_lines.c.charge_period_start >= window.start, cost_lines.c.charge_period_start < window.end)


def _cost_query(window: Window) -> Select[Any]:
    line = cost_lines.c
    cost_units = cost_units_sum()
    keys = (
        line.project_id,
        projects.c.name,
        projects.c.team,
        projects.c.source,
        projects.c.project_id.label("known_project_id"),
        line.service,
        line.price_book,
        line.consumed_unit,
        line.currency,
    )
    return (
        select(
            *keys,
            func.sum(line.consumed_quantity).label("consumed_quantity"),
            cost_units.label("cost_units"),
        )
        .select_from(cost_lines.outerjoin(projects, projects.c.project_id == line.project_id))
        .where(in_window(window))
        .group_by(*keys)
    )


def _row(record: RowMapping) -> CostRow:
    project_id = record["project_id"] or ""
    return CostRow(
        project_id=project_id,
        project_name=record["name"] or project_id or "(no project)",
        team=record["team"] or "",
        service=record["service"],
        price_book=record["price_book"],
        consumed_quantity=float(record["consumed_quantity"] or 0.0),
        consumed_unit=record["consumed_unit"],
        cost=from_units(record["cost_units"]),
        currency=record["currency"],
        known_project=record["known_project_id"] is not None,
    )


def _sort_key(row: CostRow) -> tuple[str, ...]:
    # Sorted in Python, not SQL: collations differ between SQLite and PostgreSQL.
    return (
        row.project_name.casefold(),
        row.project_name,
        row.project_id,
        row.service,
        row.price_book,
        row.currency,
        row.consumed_unit,
    )


def _totals(rows: Iterable[CostRow], *, key: Callable[[CostRow], str]) -> tuple[Total, ...]:
    sums: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    for row in rows:
        sums[(key(row), row.currency)] += row.cost
    return tuple(Total(label, currency, amount) for (label, currency), amount in sorted(sums.items()))
