"""How figures are written in reports. Display rounding happens here and nowhere else.

Exports (CSV, later XLSX/FOCUS) print costs exactly as stored; documents for people (PDF)
show cents. Any total shown is rounded from its exact `Decimal` sum, never summed from
rounded rows, so a printed total equals the export's sum rounded to cents.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Final

from stackledger.schema import COST_DECIMALS

CENT: Final = Decimal("0.01")
EXACT: Final = Decimal(1).scaleb(-COST_DECIMALS)
QUANTITY_DECIMALS: Final = 9  # the store's pricing_quantity scale; below it is float noise

MONTH_NAMES: Final = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip  # fixed English names: strftime("%B") follows the process locale


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
