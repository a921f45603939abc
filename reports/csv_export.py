"""The monthly CSV: one row per project, service and price book, costs exactly as stored.

UTF-8 without a byte-order mark, `\\n` line ends, rows in `ReportData.rows` order, so the same
data gives the same bytes. Summing the `cost` column of the `internal` rows as Decimal gives the
report's grand total; the other price books' rows give the comparison totals.

Text cells that a spreadsheet would run as a formula (`=…`, `+…`, `-…`, `@…`) are prefixed with
a single quote (`reports.formatting.neutralise`); numbers are written as they are.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from stackledger.reports.data import CostRow, ReportData
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
)


def csv_rows(data: ReportData) -> Iterator[tuple[str, ...]]:
    """The header, then one tuple of strings per row."""
    yield CSV_COLUMNS
    for row in data.rows:
        yield _fields(row)


def render_csv(data: ReportData) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows(csv_rows(data))
    return buffer.getvalue()


def write_csv(data: ReportData, path: Path) -> Path:
    path.write_text(render_csv(data), encoding="utf-8", newline="")
    return path


def _fields(row: CostRow) -> tuple[str, ...]:
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
    )
