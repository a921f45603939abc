"""Exact integer money, shared by internal rating and the public baselines (DESIGN §3).

Quantities are integer billionths (`NANO`, the store's QUANTITY scale), prices integers of
their own decimal scale, costs integer micros (`COST_DECIMALS` = 6): products and quotients
are exact, and every rounding is half-even (banker's rounding: no upward drift over millions
of lines). Pure: arrays in, arrays out.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

import numpy as np
import pandas as pd

from stackledger.errors import SchemaError

QUANTITY_DECIMALS: Final = 9
NANO: Final = 10**QUANTITY_DECIMALS
_INT64_MAX: Final = np.iinfo(np.int64).max
_EXACT_NANOS: Final = 2**62  # quantities in NANO stay below this: their products with prices fit exact arithmetic
MAX_EXACT_QUANTITY: Final = _EXACT_NANOS // NANO  # 4,611,686,018: the largest quantity rated exactly


def to_nanos(quantity: pd.Series, *, stage: str) -> np.ndarray:
    """Float quantities → integer billionths, rounded half-even (the store's QUANTITY scale)."""
    values = quantity.to_numpy(dtype="float64", na_value=np.nan)
    if not np.isfinite(values).all() or (values < 0).any():
        raise SchemaError(f"{stage}: consumed_quantity must be finite and non-negative")
    scaled = values * NANO
    if (scaled >= float(_EXACT_NANOS)).any():
        raise SchemaError(f"{stage}: a consumed_quantity above {MAX_EXACT_QUANTITY} cannot be rated exactly")
    return np.rint(scaled).astype(np.int64)


def decimals_of(value: Decimal) -> int:
    """Decimal places `value` needs (0.0210 → 3)."""
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def div_half_even(numerator: np.ndarray, divisor: np.ndarray) -> np.ndarray:
    """round_half_even(numerator / divisor), element-wise, for int64 or Python-int arrays."""
    quotient = numerator // divisor  # // and - rather than np.divmod: also works on Python-int arrays
    remainder = numerator - quotient * divisor
    up = (2 * remainder > divisor) | ((2 * remainder == divisor) & (quotient % 2 == 1))
    return quotient + up


def mul_div_half_even(a: np.ndarray, b: np.ndarray, divisor: int) -> np.ndarray:
    """round_half_even(a × b / divisor), exactly: int64 when it cannot overflow, else Python ints."""
    if len(a) and int(a.max()) * int(b.max()) > _INT64_MAX // 2:
        a, b = a.astype(object), b.astype(object)
    return div_half_even(a * b, np.full(len(a), divisor, dtype=a.dtype))


def to_decimals(units: np.ndarray, exponent: int) -> np.ndarray:
    """Integers of 10**exponent → exact Decimals; one Decimal per distinct value."""
    codes, uniques = pd.factorize(units)
    made = np.array([Decimal(int(u)).scaleb(exponent) for u in uniques], dtype=object)
    return made[codes]


def as_objects(values: np.ndarray) -> pd.Series:
    """A column of Python objects kept as such: assigning a bare object array of strings makes
    pandas infer its string dtype row by row, which cost rating a tenth of its time."""
    return pd.Series(values, dtype=object, copy=False)


def month_to_date(
    group: np.ndarray, days: np.ndarray, flavor: np.ndarray, nanos: np.ndarray, divisors: np.ndarray,
    price_units: np.ndarray, caps: np.ndarray, scale: int,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Pricing quantities (billionths) and costs (micros) of lines, rounded on the month-to-date
    sums of their `group` (e.g. resource, service, SKU, month), in day order: a line is the
    growth of round(consumed so far ÷ divisor) and of min(cap, round(price × that / `scale`)),
    a negative cap meaning none. A month's lines so add up to exactly the month's quantity ×
    price (or the cap), not to 31 roundings; each line stays within a millionth of its own
    price × quantity. Returned in the input order."""
    order = np.lexsort([flavor, days, group])
    g = group[order]
    amounts = nanos[order]
    after = np.cumsum(amounts)
    first = np.r_[True, g[1:] != g[:-1]]
    after -= np.maximum.accumulate(np.where(first, after - amounts, 0))
    before = after - amounts
    divisor = divisors[order]
    q_after, q_before = div_half_even(after, divisor), div_half_even(before, divisor)
    price, cap = price_units[order], caps[order]
    c_after = mul_div_half_even(price, q_after, scale)
    c_before = mul_div_half_even(price, q_before, scale)
    capped = cap >= 0
    if capped.any():
        c_after = np.where(capped, np.minimum(c_after, cap), c_after)
        c_before = np.where(capped, np.minimum(c_before, cap), c_before)
    quantity = np.empty(len(order), dtype=np.int64)
    micros = np.empty(len(order), dtype=np.int64)
    quantity[order] = q_after - q_before
    micros[order] = (c_after - c_before).astype(np.int64)
    return quantity, micros
