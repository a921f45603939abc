"""How figures are written in reports. Display rounding happens here and nowhere else.

Exports (CSV, later XLSX/FOCUS) print costs exactly as stored; documents for people (PDF)
show cents. Any total shown is rounded from its exact `Decimal` sum, never summed from
rounded rows, so a printed total equals the export's sum rounded to cents.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Final

from stackledger.schema import COST_DECIMALS, INTERNAL_BOOK
from stackledger.transforms.findings import quantity_text
from stackledger.window import Window

CENT: Final = Decimal("0.01")
EXACT: Final = Decimal(1).scaleb(-COST_DECIMALS)
QUANTITY_DECIMALS: Final = 9  # the store's pricing_quantity scale; below it is float noise

# How each price book (schema.PRICE_BOOKS) is named in documents, tables and chart legends.
BOOK_TITLES: Final = {INTERNAL_BOOK: "Internal", "aws": "AWS", "digitalocean": "DigitalOcean"}

MONTH_NAMES: Final = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip  # fixed English names: strftime("%B") follows the process locale


def period_name(window: Window) -> str:
    """`October 2026` for a calendar month, else the window's label."""
    if window.label == window.start.strftime("%Y-%m"):
        return f"{MONTH_NAMES[window.start.month - 1]} {window.start.year}"
    return window.label


def day_name(instant: dt.datetime | dt.date) -> str:
    """`31 October 2026`."""
    return f"{instant.day} {MONTH_NAMES[instant.month - 1]} {instant.year}"


def cents(amount: Decimal) -> Decimal:
    """Round half up to 0.01, for display only."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def money(amount: Decimal) -> str:
    """`1234.5678` → `1,234.57`."""
    return f"{cents(amount):,.2f}"


def exact_cost(amount: Decimal) -> str:
    """A cost with its stored COST_DECIMALS decimals: `1234.567891`, no grouping."""
    return f"{amount.quantize(EXACT):f}"


def quantity(value: float, decimals: int = QUANTITY_DECIMALS) -> str:
    """Positional notation, at most `decimals` decimals, trailing zeros dropped: `12.5`, `0.000001`."""
    text = f"{value:.{decimals}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def display_quantity(value: float) -> str:
    """A quantity for people: grouped thousands, three decimals."""
    return f"{value:,.3f}"


def signed(amount: Decimal | None) -> str:
    """A change: `+1,234.57`, `−0.50` (a true minus sign), `—` when not comparable."""
    if amount is None:
        return "—"
    rounded = cents(amount)
    if rounded == 0:
        return "0.00"
    return ("+" if rounded > 0 else "−") + money(abs(rounded))


def percent(value: Decimal | None, *, sign: bool = True) -> str:
    """`+4.5%`, `12.0%` (sign=False), `—` when there is nothing to compare with."""
    if value is None:
        return "—"
    text = f"{abs(value):,.1f}%"
    if not sign or value == 0:
        return text
    return ("+" if value > 0 else "−") + text


def amounts(values: Mapping[str, Decimal], currency: str) -> str:
    """Money in the report currency as `1,234.57`; other currencies named: `1.00 EUR + 2.00 USD`."""
    if not values:
        return money(Decimal(0))
    if set(values) == {currency}:
        return money(values[currency])
    return " + ".join(f"{money(amount)} {cur}" for cur, amount in sorted(values.items()))


def plain(value: Decimal | None) -> str:
    """A unit price or rate as written: `0.192`, `100` (no exponent, no trailing zeros)."""
    return "" if value is None else format(value.normalize(), "f")


def hours(value: float) -> str:
    return f"{value:,.1f}" if value % 1 else f"{value:,.0f}"


# Text a spreadsheet would run as a formula (OWASP "CSV injection"): a leading = + - @, or a tab
# or carriage return that some importers strip before looking.
_FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")


def neutralise(text: str) -> str:
    """A text cell a spreadsheet shows as text: `=HYPERLINK(…)` → `'=HYPERLINK(…)`.

    Only for text columns (names, ids, teams): numbers, which may be negative, are left alone.
    """
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def book_title(book: str) -> str:
    return BOOK_TITLES.get(book, book)


FILTERS: Final[dict[str, Callable[..., str]]] = {
    "book_title": book_title,
    "money": money,
    "quantity": display_quantity,
    "signed": signed,
    "percent": percent,
    "amounts": amounts,
    "plain": plain,
    "hours": hours,
    "quantity_text": quantity_text,
}
