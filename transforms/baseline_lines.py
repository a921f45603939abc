"""Baseline lines before and after money: which usage row a price-book row prices (`BaselineLines`),
how consumed units become price units (`UNIT_DIVISORS`), and the cost frame of priced lines with
the month-to-date rounding `transforms.baselines` describes. Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

import numpy as np
import pandas as pd

from stackledger.errors import PricingError
from stackledger.model.baselines import BaselineConfig
from stackledger.model.fx import FxRate
from stackledger.schema import COST_DECIMALS, HOURS_PER_MONTH
from stackledger.transforms.codes import group_codes, sorted_codes
from stackledger.transforms.currency import convert_prices
from stackledger.transforms.money import NANO, QUANTITY_DECIMALS, as_objects, decimals_of, month_to_date, to_decimals
from stackledger.transforms.rating import LineKeys

# (consumed unit, price unit) -> consumed units in one price unit
UNIT_DIVISORS: Final = {
    ("instance-hour", "hour"): 1,
    ("IP-hour", "hour"): 1,
    ("GiB-hour", "GB-month"): HOURS_PER_MONTH,
    ("GiB-hour", "GiB-month"): HOURS_PER_MONTH,
    ("GiB", "GB"): 1,
    ("GiB", "GiB"): 1,
}


@dataclass
class BaselineLines:
    """Lines before money: usage row, price-book row, consumed nanos, mapping text."""

    row: np.ndarray
    price: np.ndarray
    nanos: np.ndarray
    mapping: np.ndarray  # object: str

    @staticmethod
    def concat(parts: Sequence[BaselineLines]) -> BaselineLines:
        if not parts:
            empty = np.array([], dtype=np.int64)
            return BaselineLines(empty, empty, empty, np.array([], dtype=object))
        names = ("row", "price", "nanos", "mapping")
        return BaselineLines(*(np.concatenate([getattr(p, name) for p in parts]) for name in names))

    def take(self, index: np.ndarray) -> BaselineLines:
        return BaselineLines(self.row[index], self.price[index], self.nanos[index], self.mapping[index])


def unit_divisor(consumed: str, unit: str, service: str, sku: str) -> int:
    try:
        return UNIT_DIVISORS[(consumed, unit)]
    except KeyError:
        message = f"{service} is used in {consumed} but {sku} is priced per {unit}"
        raise PricingError(message, service=service, sku=sku) from None


def merge_collisions(keys: LineKeys, days: np.ndarray, lines: BaselineLines) -> BaselineLines:
    """Lines sharing the store's unique key (day, project, resource, service, flavor, SKU) — a
    volume retyped mid-day between types of one SKU — become one: quantities summed before pricing."""
    codes = group_codes(days[lines.row], *keys.at(lines.row, "project", "resource", "service", "flavor"), lines.price)
    dup = np.bincount(codes)[codes] > 1
    if not dup.any():
        return lines
    members = np.flatnonzero(dup)
    group = pd.factorize(codes[members])[0]
    first = members[np.unique(group, return_index=True)[1]]
    merged = lines.take(first)
    merged.nanos = pd.Series(lines.nanos[members]).groupby(group).sum().to_numpy(dtype=np.int64)
    return BaselineLines.concat([lines.take(np.flatnonzero(~dup)), merged])


def cost_frame(
    frame: pd.DataFrame, keys: LineKeys, days: np.ndarray, lines: BaselineLines, prices: pd.DataFrame, currency: str,
    fx: Sequence[FxRate], config: BaselineConfig,
) -> pd.DataFrame:  # fmt: skip
    units = prices["unit"].to_numpy(dtype=object)[lines.price]
    sku = prices["sku"].to_numpy(dtype=object)[lines.price]
    consumed_codes, consumed_units = sorted_codes(frame["consumed_unit"])
    pair_codes = group_codes(consumed_codes[lines.row], lines.price)
    first = np.unique(pair_codes, return_index=True)[1]
    service = frame["service"].to_numpy(dtype=object)
    divisors = np.array([
        unit_divisor(str(consumed_units[consumed_codes[lines.row[i]]]), str(units[i]), str(service[lines.row[i]]),
                 str(sku[i]))
        for i in first
    ], dtype=np.int64)[pair_codes]  # fmt: skip
    line_days = days[lines.row]
    rule, rules, rate_used, source_currency, converted = convert_prices(
        prices, lines.price, line_days, currency, fx, caps=cap_prices(prices)
    )
    scale = max(decimals_of(price) for price, _cap in rules)
    price_units = np.array([int(price.scaleb(scale)) for price, _cap in rules], dtype=np.int64)[rule]
    caps = np.array([-1 if cap is None else int(cap.scaleb(COST_DECIMALS)) for _price, cap in rules], dtype=np.int64)
    group = group_codes(*keys.at(lines.row, "resource", "service"), lines.price, line_days.astype("datetime64[M]"))
    flavor = keys.flavor[lines.row]
    quantity, micros = month_to_date(group, line_days, flavor, lines.nanos, divisors, price_units, caps[rule],
                                   10 ** (scale + QUANTITY_DECIMALS - COST_DECIMALS))  # fmt: skip
    out = frame[
        ["charge_period_start", "charge_period_end", "project_id", "resource_id", "resource_type", "service",
         "flavor_name", "volume_type", "region", "consumed_unit"]
    ].take(lines.row).reset_index(drop=True)  # fmt: skip
    out["consumed_quantity"] = lines.nanos / NANO
    out["price_book"] = config.provider
    out["sku"] = as_objects(sku)
    out["list_unit_price"] = as_objects(np.array([price for price, _cap in rules], dtype=object)[rule])
    out["pricing_quantity"] = as_objects(to_decimals(quantity, -QUANTITY_DECIMALS))
    out["pricing_unit"] = as_objects(units)
    out["cost"] = as_objects(to_decimals(micros, -COST_DECIMALS))
    out["currency"] = as_objects(np.where(converted, currency, source_currency))
    out["price_as_of"] = as_objects(prices["as_of"].to_numpy(dtype=object)[lines.price])
    out["fx_rate"] = as_objects(rate_used)
    out["source_unit_price"] = as_objects(prices["price"].to_numpy(dtype=object)[lines.price])
    out["source_currency"] = as_objects(source_currency)
    out["pricing_region"] = as_objects(prices["region"].to_numpy(dtype=object)[lines.price])
    out["mapping"] = as_objects(lines.mapping)
    return out


def cap_prices(prices: pd.DataFrame) -> dict[int, Decimal]:
    """Hourly instance row index -> the same SKU's monthly price (DigitalOcean's cap)."""
    monthly = prices[(prices["kind"] == "instance") & (prices["unit"] == "month")]
    by_sku = dict(zip(zip(monthly["sku"], monthly["region"], strict=True), monthly["price"], strict=True))
    hourly = prices[(prices["kind"] == "instance") & (prices["unit"] == "hour")]
    return {
        int(index): by_sku[(sku, region)]
        for index, sku, region in zip(hourly.index, hourly["sku"], hourly["region"], strict=True)
        if (sku, region) in by_sku
    }
