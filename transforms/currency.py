"""Effective-dated exchange rates (DESIGN §5: price books are USD, reports use the card's currency).

A rate converts one unit of `source` into `rate` units of `target` from 00:00 UTC on
`valid_from` until the next rate of the same pair takes over. Rates are exact decimals and
are never inverted: a USD → EUR conversion needs a USD → EUR rate (an EUR → USD rate of
1.087 does not give an exact USD → EUR one). Pure: no I/O, no clock.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from stackledger.errors import ConfigError


@dataclass(frozen=True)
class FxRate:
    source: str  # ISO 4217, e.g. USD
    target: str  # ISO 4217, e.g. EUR
    rate: Decimal  # target units per source unit
    valid_from: dt.date

    def describe(self) -> str:
        return f"1 {self.source} = {format(self.rate.normalize(), 'f')} {self.target} from {self.valid_from}"


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
