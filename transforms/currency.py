"""Effective-dated exchange rates (DESIGN §5: price books are USD, reports use the card's currency).

A rate (`stackledger.model.FxRate`) converts one unit of `source` into `rate` units of
`target` from 00:00 UTC on `valid_from` until the next rate of the same pair takes over.
Rates are exact decimals and are never inverted: a USD → EUR conversion needs a USD → EUR
rate (an EUR → USD rate of 1.087 does not give an exact USD → EUR one). Pure: no I/O, no clock.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Final

import numpy as np
import pandas as pd

from stackledger.errors import ConfigError
from stackledger.model.fx import FxRate
from stackledger.schema import COST_DECIMALS
from stackledger.transforms.codes import group_codes

PRICE_DECIMALS: Final = 10  # the store's PRICE scale

__all__ = ["PRICE_DECIMALS", "FxRate", "convert", "convert_prices", "pair_rates", "rates_on"]


def pair_rates(rates: Sequence[FxRate], source: str, target: str) -> list[FxRate]:
    """The rates of one pair, by `valid_from`; ConfigError on two rates for one pair and day."""
    found = sorted((r for r in rates if r.source == source and r.target == target), key=lambda r: r.valid_from)
    for before, after in itertools.pairwise(found):
        if before.valid_from == after.valid_from:
            raise ConfigError(f"two {source}→{target} rates valid from {after.valid_from}", key="fx")
    return found


def rates_on(rates: Sequence[FxRate], days: np.ndarray) -> np.ndarray:
    """Index into `rates` (one pair, sorted by valid_from) of the rate in force on each day.

    `days` is a datetime64[D] array. ConfigError names the first day no rate covers.
    """
    starts = np.array([r.valid_from for r in rates], dtype="datetime64[D]")
    index = np.searchsorted(starts, days, side="right") - 1
    if len(days) and (index < 0).any():
        first = rates[0]
        day = np.datetime_as_string(days[index < 0].min())
        raise ConfigError(
            f"no {first.source}→{first.target} exchange rate for {day}: the earliest is valid from "
            f"{first.valid_from}; add an entry with an earlier valid_from",
            key="fx",
        )
    return index


def convert(amount: Decimal, rate: FxRate, *, decimals: int) -> Decimal:
    """`amount` in the rate's source currency → target currency, rounded half-even to `decimals`."""
    return (amount * rate.rate).quantize(Decimal(1).scaleb(-decimals))


def convert_prices(
    prices: pd.DataFrame,
    price_index: np.ndarray,
    days: np.ndarray,
    currency: str,
    fx: Sequence[FxRate],
    *,
    caps: Mapping[int, Decimal],
) -> tuple[np.ndarray, list[tuple[Decimal, Decimal | None]], np.ndarray, np.ndarray, np.ndarray]:
    """Price book rows, one per line (`price_index`, on `days`), in `currency`.

    Returns per line: the index of its (converted unit price, converted monthly cap) rule in
    the returned rule list, the rate used (Decimal or None), the book's currency and whether
    the price was converted. `caps` maps a row to its monthly cap in the book's currency.
    Converted prices are rounded half-even to `PRICE_DECIMALS` decimals, caps to
    `COST_DECIMALS`. A currency with no configured rate into `currency` is left as it is."""
    book_currency = prices["currency"].to_numpy(dtype=object)[price_index]
    fx_index = np.full(len(price_index), -1, dtype=np.int64)
    table: list[FxRate] = []
    for source in pd.unique(book_currency):
        if source == currency:
            continue
        pair = pair_rates(fx, str(source), currency)
        if not pair:
            continue  # no rate configured: the lines stay in the book's currency
        mine = book_currency == source
        fx_index[mine] = rates_on(pair, days[mine]) + len(table)
        table.extend(pair)
    codes = group_codes(price_index, fx_index)
    first = np.unique(codes, return_index=True)[1]
    uniques = zip(price_index[first], fx_index[first], strict=True)
    rules = []
    book_prices = prices["price"].to_numpy(dtype=object)
    for index, rate_index in uniques:
        price: Decimal = book_prices[index]
        cap = caps.get(index)
        if rate_index >= 0:
            rate = table[rate_index].rate
            price, cap = price * rate, (cap * rate if cap is not None else None)
        price = price.quantize(Decimal(1).scaleb(-PRICE_DECIMALS)).normalize()
        rules.append((price, cap.quantize(Decimal(1).scaleb(-COST_DECIMALS)) if cap is not None else None))
    rates = np.array([None, *(r.rate for r in table)], dtype=object)[fx_index + 1]
    return codes, rules, rates, book_currency, fx_index >= 0
