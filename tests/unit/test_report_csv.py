"""The report's CSV and display rules on tiny hand-made data (no database)."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from stackledger.reports.csv_export import CSV_COLUMNS, render_csv
from stackledger.reports.data import CostRow, ReportData, Total
from stackledger.reports.formatting import money, quantity
from stackledger.reports.pdf import render_html, render_pdf
from stackledger.reports.tables import cost_table
from stackledger.window import Window

WINDOW = Window.month("2026-10")


def row(project: str, service: str, book: str, cost: str, **extra: object) -> CostRow:
    values: dict[str, object] = {
        "project_id": project, "project_name": f"name {project}", "team": "t", "service": service,
        "price_book": book, "consumed_quantity": 1.5, "consumed_unit": "GiB-hour", "cost": Decimal(cost),
        "currency": "EUR", "known_project": True,
    }  # fmt: skip
    values.update(extra)
    return CostRow(**values)  # type: ignore[arg-type]


def data(*rows: CostRow, synthetic: bool = False) -> ReportData:
    return ReportData(window=WINDOW, rows=rows, synthetic=synthetic)


def test_csv_columns_in_order() -> None:
    assert CSV_COLUMNS == (
        "project_id", "project_name", "team", "service", "price_book",
        "consumed_quantity", "consumed_unit", "cost", "currency", "fx_rate", "unpriced_quantity", "findings",
    )  # fmt: skip
    assert render_csv(data()).splitlines() == [",".join(CSV_COLUMNS)]


def test_csv_prints_costs_as_stored_and_quotes_names() -> None:
    text = render_csv(data(
        row("p1", "compute.vcpu", "internal", "12.345678", project_name='a, "b" Ærø', consumed_quantity=0.1 + 0.2),
        row("p1", "compute.vcpu", "aws", "0.000001", consumed_quantity=1e-7, currency="USD", fx_rates="0.92"),
        row("p2", "block.volume", "internal", "-3.500000", consumed_quantity=720.0),
    ))  # fmt: skip
    assert text.endswith("\n") and "\r" not in text
    rows = list(csv.reader(io.StringIO(text)))[1:]
    assert rows[0] == ["p1", 'a, "b" Ærø', "t", "compute.vcpu", "internal", "0.3", "GiB-hour", "12.345678", "EUR", "",
                       "", ""]  # fmt: skip
    assert rows[1][5:] == ["0.0000001", "GiB-hour", "0.000001", "USD", "0.92", "", ""]
    assert rows[2][5] == "720" and rows[2][7] == "-3.500000"


def test_totals_are_exact_sums_and_display_rounds_half_up_once() -> None:
    report = data(*(row(f"p{i}", "compute.vcpu", "internal", "0.004000") for i in range(3)),
                  row("p0", "compute.vcpu", "aws", "9.000000", currency="USD"))  # fmt: skip
    assert report.internal_totals == (Total("internal", "EUR", Decimal("0.012000")),)  # baselines never added in
    assert report.book_totals("aws") == (Total("aws", "USD", Decimal("9.000000")),)
    assert money(report.internal_totals[0].amount) == "0.01"  # rounded rows would give 0.00
    assert money(Decimal("2.675")) == "2.68" and money(Decimal("1234567.005")) == "1,234,567.01"
    assert money(Decimal("-0.005")) == "-0.01"


def test_quantity_is_positional_with_trailing_zeros_dropped() -> None:
    assert [quantity(v) for v in (0.0, -0.0, 2.0, 1e-9, 1e-12, 123456789.125)] == [
        "0", "0", "2", "0.000000001", "0", "123456789.125",
    ]  # fmt: skip


def test_cost_table_puts_price_books_side_by_side_internal_first() -> None:
    table = cost_table(data(
        row("p1", "compute.vcpu", "aws", "2.000000", currency="USD"),
        row("p1", "compute.vcpu", "internal", "1.000000"),
        row("p1", "network.egress", "internal", "0.500000", consumed_unit="GiB"),
    ))  # fmt: skip
    assert [(c.price_book, c.currency) for c in table.columns] == [("internal", "EUR"), ("aws", "USD")]
    (project,) = table.projects
    assert [(line.service, line.costs) for line in project.lines] == [
        ("compute.vcpu", (Decimal("1.000000"), Decimal("2.000000"))),
        ("network.egress", (Decimal("0.500000"), None)),
    ]
    assert project.totals == (Decimal("1.500000"), Decimal("2.000000"))


def test_html_escapes_names_and_shows_the_synthetic_banner() -> None:
    html = render_html(data(row("p1", "compute.vcpu", "internal", "1", project_name="<b>x</b>"), synthetic=True),
                       organisation="A & B")  # fmt: skip
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>x</b>" not in html
    assert "A &amp; B" in html and "SYNTHETIC DEMO DATA" in html
    plain = render_html(data(row("p1", "compute.vcpu", "internal", "1")), organisation="A")
    assert "SYNTHETIC DEMO DATA" not in plain


def test_an_empty_month_still_renders() -> None:
    empty = data()
    assert empty.internal_totals == () and not empty.synthetic
    assert render_pdf(empty, organisation="A").startswith(b"%PDF-")
    assert "No cost lines in this period." in render_html(empty, organisation="A")
