"""Effective-dated exchange rates (DESIGN §5: price books are USD, reports use the card's currency)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class FxRate:
    """1 `source` = `rate` `target`, from 00:00 UTC on `valid_from` until the pair's next rate.

    Rates are exact, positive decimals and are never inverted: converting USD → EUR needs a
    USD → EUR rate. Built from the settings' `fx` entries (`from`, `to`, `rate`, `valid_from`).
    """

    source: str  # ISO 4217, e.g. USD
    target: str  # ISO 4217, e.g. EUR
    rate: Decimal  # target units per source unit
    valid_from: dt.date

    def describe(self) -> str:
        return f"1 {self.source} = {format(self.rate.normalize(), 'f')} {self.target} from {self.valid_from}"
