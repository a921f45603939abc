"""The monthly CSV: one row per project, service and price book, costs exactly as stored.

UTF-8 without a byte-order mark, `\\n` line ends, rows in `ReportData.rows` order, so the same
data gives the same bytes. Summing the `cost` column of the `internal` rows as Decimal gives the
report's grand total; the other price books' rows give the comparison totals.

Usage without a project is the row(s) with an empty `project_id` and the project name
`Unallocated (no project)`. Findings (`reports.findings`): `unpriced_quantity` is the usage of the
row's project, service and unit that the row's price book could not price (left out of its cost),
and `findings` says what each finding of the row is, with its quantity (also usage priced at a
base price). A book that could price none of a project's usage of a service still gets a row:
`consumed_quantity` 0, `cost` 0.000000, the whole usage in `unpriced_quantity`.

Text cells that a spreadsheet would run as a formula (`=…`, `+…`, `-…`, `@…`) are prefixed with
a single quote (`reports.formatting.neutralise`); numbers are written as they are.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from stackledger.reports.data import ZERO, CostRow, ReportData, sort_key
from stackledger.reports.findings import FindingLine
from stackledger.reports.formatting import exact_cost, neutralise, quantity

CSV_COLUMNS: Final = (
    "project_id",
    "project_name",
    "team",
    "service",
    "price_book",
    "consumed_quantity",
    "consumed_unit",
    "cost",
    "currency",
    "fx_rate",  # the exchange rate(s) the row's list prices were converted with; empty when none
    "unpriced_quantity",  # in consumed_unit: usage this price book left out of `cost` (findings)
    "findings",  # what the price book could not price as usual, with quantities; empty when nothing
)


def csv_rows(data: ReportData) -> Iterator[tuple[str, ...]]:
    """The header, then one tuple of strings per row (findings-only rows where no cost row is)."""
    yield CSV_COLUMNS
    for row, findings in rows_with_findings(data):
        yield _fields(row, findings)


def rows_with_findings(data: ReportData) -> list[tuple[CostRow, list[FindingLine]]]:
    """Every cost row with the findings of its project, service, book and unit, plus a row of
    nothing for findings no cost row carries; in report order."""
    found: dict[tuple[str, str, str, str], list[FindingLine]] = defaultdict(list)
    for finding in data.findings:
        found[(finding.project_id, finding.service, finding.price_book, finding.consumed_unit)].append(finding)
    rows = [(row, found.pop((row.project_id, row.service, row.price_book, row.consumed_unit), [])) for row in data.rows]
    if not found:
        return rows
    rows += [(_unpriced_row(lines, data), lines) for lines in found.values()]
    return sorted(rows, key=lambda item: sort_key(item[0]))  # data.rows are in this order already


def unpriced_quantity(findings: list[FindingLine]) -> float:
    """The quantity of `findings` their book left out of its cost."""
    return sum(f.quantity for f in findings if f.unpriced)


def findings_text(findings: list[FindingLine]) -> str:
    return "; ".join(f.text() for f in findings)


def render_csv(data: ReportData) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows(csv_rows(data))
    return buffer.getvalue()


def write_csv(data: ReportData, path: Path) -> Path:
    path.write_text(render_csv(data), encoding="utf-8", newline="")
    return path


def _unpriced_row(findings: list[FindingLine], data: ReportData) -> CostRow:
    """A cost row of nothing, for usage a book could not price at all (its findings say how much)."""
    first = findings[0]
    known = next((row for row in data.rows if row.project_id == first.project_id), None)
    currency = next((row.currency for row in data.rows if row.price_book == first.price_book), "")
    return CostRow(
        project_id=first.project_id, project_name=first.project_name, team=known.team if known else "",
        service=first.service, price_book=first.price_book, consumed_quantity=0.0, consumed_unit=first.consumed_unit,
        cost=ZERO, currency=currency, known_project=known.known_project if known else False,
    )  # fmt: skip


def _fields(row: CostRow, findings: list[FindingLine]) -> tuple[str, ...]:
    unpriced = unpriced_quantity(findings)
    return (
        neutralise(row.project_id),
        neutralise(row.project_name),
        neutralise(row.team),
        neutralise(row.service),
        row.price_book,
        quantity(row.consumed_quantity),
        neutralise(row.consumed_unit),
        exact_cost(row.cost),
        row.currency,
        row.fx_rates,
        quantity(unpriced) if unpriced else "",
        neutralise(findings_text(findings)),
    )
