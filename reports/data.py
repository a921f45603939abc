"""Report data: the cost rows behind every report format, kept apart from rendering.

`report_data` turns the window's cost sums (`stackledger.store.reports.cost_records`) into a
`ReportData`; the CSV, the PDF, the XLSX and the comparison are all rendered from that one
object, so every format shows the same figures.

Money rules (DESIGN §3): costs are `Decimal`, summed exactly from the stored 6-decimal cost
lines and never re-rounded here. Rounding to cents is a display concern of each renderer.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Final

from stackledger.reports.findings import FindingLine, finding_lines
from stackledger.schema import COST_DECIMALS, INTERNAL_BOOK, UNALLOCATED_NAME
from stackledger.window import Window

if TYPE_CHECKING:
    from stackledger.store.findings import FindingSum
    from stackledger.store.reports import CostSum, FxUse

log = logging.getLogger(__name__)

SYNTHETIC_SOURCE: Final = "synthetic"  # projects.source written by `stackledger demo`
ZERO: Final = Decimal(0).scaleb(-COST_DECIMALS)  # 0.000000: sums keep the cost-line scale


@dataclass(frozen=True)
class CostRow:
    """Cost of one project, service and price book over the window.

    `consumed_quantity` is in `consumed_unit` (float, a measurement); `cost` is the exact
    sum of the window's cost lines, in `currency`, with COST_DECIMALS decimals.
    """

    project_id: str  # "" for cost lines without a project (unallocated usage)
    project_name: str  # the project id when the project is unknown; UNALLOCATED_NAME for ""
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
    rows: tuple[CostRow, ...]  # sorted: project name (unallocated last), id, service, price book, currency, unit
    synthetic: bool  # every project in the report came from the synthetic demo cloud
    fx: tuple[str, ...] = ()  # every exchange rate used, e.g. "1 USD = 0.92 EUR" (public baselines)
    synthetic_ids: frozenset[str] = frozenset()  # the projects that came from the synthetic demo cloud
    # Usage a price book could not price as usual: left out of its total, or priced at a base price.
    findings: tuple[FindingLine, ...] = ()

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


def report_data(
    window: Window, sums: Iterable[CostSum], fx: Iterable[FxUse] = (), findings: Iterable[FindingSum] = ()
) -> ReportData:
    """The report rows of `window` from its cost sums, the exchange rates its lines used and its findings."""
    records = list(sums)
    rates, statements = _fx_rates(fx)
    rows = sorted((_with_fx(_row(found), rates) for found in records), key=sort_key)
    sources = {found.project_id or "": found.project_source for found in records}
    synthetic_ids = frozenset(pid for pid, source in sources.items() if source == SYNTHETIC_SOURCE)
    synthetic = bool(sources) and len(synthetic_ids) == len(sources)
    names = {row.project_id: row.project_name for row in rows}
    log.debug("report data %s: %d rows, %d projects", window.label, len(rows), len(sources))
    return ReportData(window=window, rows=tuple(rows), synthetic=synthetic, fx=statements, synthetic_ids=synthetic_ids,
                      findings=finding_lines(findings, names))  # fmt: skip


def _fx_rates(uses: Iterable[FxUse]) -> tuple[dict[tuple[str, ...], str], tuple[str, ...]]:
    """Exchange rates of converted cost lines: per report row key, and as statements."""
    found: dict[tuple[str, ...], set[str]] = defaultdict(set)
    statements = set()
    for use in uses:
        text = format(use.fx_rate.normalize(), "f")
        found[(use.project_id or "", use.service, use.price_book, use.consumed_unit, use.currency)].add(text)
        source = use.source_currency
        statements.add((source or "", use.currency, Decimal(text), f"1 {source} = {text} {use.currency}"))
    rates = {key: ";".join(sorted(values, key=Decimal)) for key, values in found.items()}
    return rates, tuple(statement for *_, statement in sorted(statements))


def _with_fx(row: CostRow, rates: dict[tuple[str, ...], str]) -> CostRow:
    key = (row.project_id, row.service, row.price_book, row.consumed_unit, row.currency)
    return replace(row, fx_rates=rates[key]) if key in rates else row


def _row(found: CostSum) -> CostRow:
    project_id = found.project_id or ""
    return CostRow(
        project_id=project_id,
        project_name=found.project_name or project_id or UNALLOCATED_NAME,
        team=found.team or "",
        service=found.service,
        price_book=found.price_book,
        consumed_quantity=found.consumed_quantity,
        consumed_unit=found.consumed_unit,
        cost=found.cost,
        currency=found.currency,
        known_project=found.known_project,
    )


def sort_key(row: CostRow) -> tuple[object, ...]:
    """Report order: projects by name (unallocated usage last), then service, book, currency, unit."""
    # Sorted in Python, not SQL: collations differ between SQLite and PostgreSQL.
    return (
        row.project_id == "",
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
