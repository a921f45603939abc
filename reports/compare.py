"""Internal cost against AWS and DigitalOcean list prices, per project and in total.

`comparison(data, mappings, fx, currency)` builds a `Comparison` from the same `ReportData`
the CSV is rendered from (so the figures agree with the CSV to the cent by construction),
plus the mapping texts (`group_mappings` of `stackledger.store.reports.baseline_mappings`)
and exchange rates stored on the baseline cost lines.
`render_table` shows cents; `render_csv` prints the exact 6-decimal sums.

A difference is `baseline − internal` and its percent is relative to internal; both are
empty when internal is zero or when the baseline's lines are in another currency (no `fx`
rate was configured when they were rated).

Findings (`reports.findings`): a baseline that could not price some usage (an instance of
unknown size, a flavor no instance type holds) leaves it out of its figure; each row carries
its findings, the table marks such a figure with `*` and lists what it leaves out under the
project and under the total, and the CSV has them in its `findings` column. So a comparison
never looks like-for-like when it is not.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from stackledger.reports.data import ZERO, ReportData
from stackledger.reports.findings import FindingLine, totals_by_book
from stackledger.reports.formatting import BOOK_TITLES, exact_cost, money, neutralise
from stackledger.schema import INTERNAL_BOOK, PRICE_BOOKS
from stackledger.window import Window

BASELINES: Final = tuple(book for book in PRICE_BOOKS if book != INTERNAL_BOOK)  # aws, digitalocean
PERCENT: Final = Decimal("0.1")
CSV_COLUMNS: Final = (
    "project_id", "project_name", "team", "currency", "internal",
    "aws", "aws_difference", "aws_percent", "digitalocean", "digitalocean_difference", "digitalocean_percent",
    "aws_mapping", "digitalocean_mapping", "fx_rates", "findings",
)  # fmt: skip
LEFT_OUT_MARK: Final = " *"  # on a table figure that leaves usage out (its findings are listed below it)


@dataclass(frozen=True)
class BookFigure:
    """One price book's cost for a project (or the total), and how it compares with internal."""

    amounts: Mapping[str, Decimal]  # currency -> exact sum
    difference: Decimal | None  # baseline − internal, in the comparison currency
    percent: Decimal | None  # difference / internal × 100, one decimal


@dataclass(frozen=True)
class ComparisonRow:
    project_id: str  # "" for the total
    project_name: str
    team: str
    internal: Decimal  # in the comparison currency
    books: Mapping[str, BookFigure]  # aws, digitalocean
    mappings: Mapping[str, tuple[str, ...]]  # book -> how the usage was matched
    findings: tuple[FindingLine, ...] = ()  # usage some book could not price as usual (the total: summed)

    def left_out(self, book: str) -> tuple[FindingLine, ...]:
        """The usage `book`'s figure leaves out (unpriced findings)."""
        return tuple(f for f in self.findings if f.price_book == book and f.unpriced)


@dataclass(frozen=True)
class Comparison:
    window: Window
    currency: str
    rows: tuple[ComparisonRow, ...]  # one per project, in report order
    total: ComparisonRow
    fx: tuple[str, ...]  # '1 USD = 0.92 EUR', every rate the baseline lines used


def group_mappings(
    found: Iterable[tuple[str | None, str, str, str]],
) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """(project id, price book, service, mapping) rows → (project id, price book) -> [(service, mapping)]."""
    out: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    for project_id, book, service, mapping in found:
        out[(project_id or "", book)].append((service, mapping))
    return out


def comparison(
    data: ReportData,
    mappings: Mapping[tuple[str, str], Iterable[tuple[str, str]]],
    fx: tuple[str, ...],
    currency: str,
) -> Comparison:
    rows = []
    grand: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))
    for project in data.by_project():
        sums: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))
        for row in project.rows:
            sums[row.price_book][row.currency] += row.cost
            grand[row.price_book][row.currency] += row.cost
        texts = {book: _ordered(mappings.get((project.project_id, book), ())) for book in BASELINES}
        found = tuple(f for f in data.findings if f.project_id == project.project_id)
        rows.append(_row(project.project_id, project.project_name, project.team, sums, currency, texts, found))
    every = {book: _ordered(m for (_, b), found in mappings.items() if b == book for m in found) for book in BASELINES}
    summed = tuple(line for lines in totals_by_book(data.findings).values() for line in lines)
    total = _row("", "TOTAL", "", grand, currency, every, summed)
    return Comparison(data.window, currency, tuple(rows), total, fx)


def _ordered(found: Iterable[tuple[str, str]]) -> tuple[str, ...]:
    """Distinct mapping texts, instances first, then by service and text."""
    unique = sorted(set(found), key=lambda item: (item[0] != "compute.instance", item[0], item[1]))
    return tuple(dict.fromkeys(text for _service, text in unique))


def _row(
    project_id: str, name: str, team: str, sums: Mapping[str, Mapping[str, Decimal]], currency: str,
    mappings: Mapping[str, tuple[str, ...]], findings: tuple[FindingLine, ...] = (),
) -> ComparisonRow:  # fmt: skip
    internal_sums = sums.get(INTERNAL_BOOK, {})
    internal = sum((amount for cur, amount in internal_sums.items() if cur == currency), ZERO)
    foreign_internal = any(cur != currency for cur in internal_sums)
    books = {}
    for book in BASELINES:
        amounts = dict(sums.get(book, {}))
        comparable = not foreign_internal and set(amounts) <= {currency}
        value = amounts.get(currency, ZERO)
        difference = value - internal if comparable else None
        percent = None
        if difference is not None and internal != 0:
            percent = (difference / internal * 100).quantize(PERCENT)
        books[book] = BookFigure(amounts, difference, percent)
    return ComparisonRow(project_id, name, team, internal, books, mappings, findings)


# ---------------------------------------------------------------- rendering


def render_table(result: Comparison) -> str:
    """A plain-text table for people: cents, signed differences, mappings under each project."""
    header = ["project", f"internal {result.currency}"]
    for book in BASELINES:
        title = BOOK_TITLES[book]
        header += [title, f"{title} − internal", "%"]
    body = [_cells(row, result.currency) for row in (*result.rows, result.total)]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    out = [f"Cost comparison {result.window.label} ({result.currency})"]
    out.append(_fx_line(result))
    out.append("")

    def line(cells: list[str]) -> str:
        padded = (c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))
        return "  ".join(padded)

    out.append(line(header))
    out.append("  ".join("-" * w for w in widths))
    for row, cells in zip((*result.rows, result.total), body, strict=True):
        if row is result.total:
            out.append("  ".join("-" * w for w in widths))
        out.append(line(cells))
        if row is not result.total:
            out.extend(f"    {BOOK_TITLES[b]}: {text}" for b in BASELINES for text in row.mappings.get(b, ()))
            out.extend(f"    {_finding_text(found)}" for found in row.findings)
    if result.total.findings:
        out.append("")
        out.append(f"{LEFT_OUT_MARK.strip()} Usage not priced as usual (stored findings; the totals above leave out "
                   "what is 'left unpriced'):")  # fmt: skip
        out.extend(f"    {_finding_text(found)}" for found in result.total.findings)
    return "\n".join(out) + "\n"


def _finding_text(found: FindingLine) -> str:
    return f"{BOOK_TITLES.get(found.price_book, found.price_book)}: {found.text()}"


def _fx_line(result: Comparison) -> str:
    if result.fx:
        return "Exchange rates used for the list prices: " + "; ".join(result.fx)
    return "Exchange rates: none used (the list prices are in the comparison currency or shown apart)"


def _cells(row: ComparisonRow, currency: str) -> list[str]:
    label = row.project_name
    if row.project_id and row.project_name != row.project_id:
        label = f"{row.project_name} ({row.project_id})"
    cells = [label, money(row.internal)]
    for book in BASELINES:
        figure = row.books[book]
        mark = LEFT_OUT_MARK if row.left_out(book) else ""
        cells += [_amounts(figure.amounts, currency, money) + mark, _signed(figure.difference),
                  _percent(figure.percent)]  # fmt: skip
    return cells


def _amounts(amounts: Mapping[str, Decimal], currency: str, fmt: Any) -> str:
    if not amounts:
        return fmt(ZERO)
    if set(amounts) == {currency}:
        return str(fmt(amounts[currency]))
    return " + ".join(f"{fmt(amount)} {cur}" for cur, amount in sorted(amounts.items()))


def _signed(value: Decimal | None) -> str:
    return "n/a" if value is None else ("+" if value >= 0 else "-") + money(abs(value))


def _percent(value: Decimal | None) -> str:
    return "n/a" if value is None else f"{value:+.1f}%"


def render_csv(result: Comparison) -> str:
    """One row per project and a TOTAL row; exact sums (6 decimals), as the report CSV prints them."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in (*result.rows, result.total):
        names = [neutralise(row.project_id), neutralise(row.project_name), neutralise(row.team)]
        fields = [*names, result.currency, exact_cost(row.internal)]
        for book in BASELINES:
            figure = row.books[book]
            fields += [
                _amounts(figure.amounts, result.currency, exact_cost),
                "" if figure.difference is None else exact_cost(figure.difference),
                "" if figure.percent is None else f"{figure.percent:.1f}",
            ]
        fields += [" | ".join(row.mappings.get(book, ())) for book in BASELINES]
        findings = "; ".join(f"{found.price_book}: {found.text()}" for found in row.findings)
        writer.writerow([*fields, "; ".join(result.fx), neutralise(findings)])
    return buffer.getvalue()
