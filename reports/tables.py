"""`ReportData` laid out for tabular documents: one line per project and service, one cost
column per price book, so a reader compares the internal price with the public baselines
side by side. Used by the PDF (and the XLSX to come); figures stay exact `Decimal`s.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from stackledger.reports.data import ZERO, CostRow, ProjectCost, ReportData, Total
from stackledger.reports.formatting import QUANTITY_DECIMALS
from stackledger.schema import INTERNAL_BOOK


@dataclass(frozen=True, order=True)
class Column:
    price_book: str
    currency: str


@dataclass(frozen=True)
class ServiceLine:
    service: str
    consumed_unit: str
    quantities: tuple[float, ...]  # distinct quantities over the price books (normally one)
    costs: tuple[Decimal | None, ...]  # per column; None where the book has no cost line


@dataclass(frozen=True)
class ProjectTable:
    project: ProjectCost
    lines: tuple[ServiceLine, ...]
    totals: tuple[Decimal | None, ...]  # per column


@dataclass(frozen=True)
class CostTable:
    columns: tuple[Column, ...]
    projects: tuple[ProjectTable, ...]
    column_totals: tuple[Decimal, ...]  # = ReportData.price_book_totals, in column order


def column_key(column: Column) -> tuple[bool, str, str]:
    # The cloud's own rate card comes first; the baselines follow.
    return (column.price_book != INTERNAL_BOOK, column.price_book, column.currency)


def ordered_book_totals(data: ReportData) -> tuple[Total, ...]:
    """`price_book_totals`, internal first, in the cost table's column order."""
    return tuple(sorted(data.price_book_totals, key=lambda t: column_key(Column(t.label, t.currency))))


def cost_table(data: ReportData) -> CostTable:
    totals = ordered_book_totals(data)
    columns = tuple(Column(total.label, total.currency) for total in totals)
    index = {column: i for i, column in enumerate(columns)}
    projects = tuple(_project_table(project, index) for project in data.by_project())
    return CostTable(columns, projects, tuple(total.amount for total in totals))


def _project_table(project: ProjectCost, index: dict[Column, int]) -> ProjectTable:
    groups: dict[tuple[str, str], list[CostRow]] = {}
    for row in project.rows:  # rows arrive sorted by service, so lines are too
        groups.setdefault((row.service, row.consumed_unit), []).append(row)
    lines = tuple(_line(service, unit, rows, index) for (service, unit), rows in groups.items())
    totals: list[Decimal | None] = [None] * len(index)
    for total in project.totals:
        totals[index[Column(total.label, total.currency)]] = total.amount
    return ProjectTable(project, lines, tuple(totals))


def _line(service: str, unit: str, rows: list[CostRow], index: dict[Column, int]) -> ServiceLine:
    costs: list[Decimal | None] = [None] * len(index)
    for row in rows:
        slot = index[Column(row.price_book, row.currency)]
        costs[slot] = (costs[slot] or ZERO) + row.cost
    # Every price book prices the same usage, so this is normally one value; rounding hides
    # float noise from summing in a different order, a real disagreement stays visible.
    quantities = tuple(dict.fromkeys(round(row.consumed_quantity, QUANTITY_DECIMALS) for row in rows))
    return ServiceLine(service, unit, quantities, tuple(costs))
