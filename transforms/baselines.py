"""Public baselines: the same daily usage priced at AWS or DigitalOcean list prices (DESIGN §5).

`rate_baseline(usage_daily, book, config, currency=..., fx=..., volume_types=...)` turns daily
usage (USAGE_COLUMNS, one UTC day per row, every day of a month from its first) into a `Priced`:
cost lines of price book `config.provider` (COST_COLUMNS + BASELINE_COLUMNS) and findings
(`transforms.findings`). Which SKU stands in for each service is `transforms.equivalents`.
A service or SKU the book has no price for raises `PricingError` naming the service and SKU —
never a silent zero: that is configuration. An instance whose size is unknown, or that no
instance type of the allowed families holds, gets no line and a finding (`size unknown`, `no
equivalent`) with its instance-hours; the other rows are priced all the same. Volume type ids
are resolved to names (`volume_types`: Cinder type id -> name) before `volume_types` SKUs are
matched; an id nothing resolves is priced at the service's SKU and is a finding. Pure: no I/O,
no clock.

Money uses `transforms.money`'s exact integer arithmetic (quantities in billionths, half-even
rounding), with one difference: a line is rounded on the **month-to-date** sums of its
(resource, service, SKU, calendar month): its pricing quantity is the growth of round(consumed
so far ÷ divisor, 9 decimals) and its cost the growth of round(price × that, 6 decimals). A
month's lines therefore add up to exactly the month's quantity × price — 730 hours of 100 GiB at
0.0836 USD/GB-month is 8.36, not 31 roundings of it — and each line stays within a millionth of
`list_unit_price × pricing_quantity` (what FOCUS's ListCost check allows). Beyond that:

- **Units.** Instances, IPs: per hour. Storage: per GB-/GiB-month of 730 hours (consumed
  GiB-hours ÷ 730). Transfer: per GB/GiB. AWS's "GB" is a binary gigabyte (= GiB of usage).
- **Tiers** (AWS egress, S3) are graduated over the whole cloud's quantity in the calendar
  month — one AWS Organization with consolidated billing — in day, project, resource order;
  a line that crosses a boundary becomes one line per tier (SKU = the tier's row). Usage
  beyond the last tier a book has is a `PricingError`.
- **DigitalOcean monthly cap.** A droplet bills hourly up to the size's monthly price per
  calendar month: the month-to-date cost above is min(cap, hourly × hours so far), so the
  month's lines sum to exactly min(cap, hourly × hours); `list_unit_price × pricing_quantity`
  stays the uncapped (list) cost and `cost` is the capped one.
- **Currency.** A book price in another currency than `currency` is converted with the `fx`
  rate of the pair in force on the line's day; `list_unit_price` is the converted price
  (rounded half-even to 10 decimals) and `fx_rate`, `source_unit_price`, `source_currency`
  keep what was converted. When `fx` has no rate at all for the pair the lines stay in the
  book's currency (`fx_rate` empty) and reports show them apart; when it has rates but none
  for a day, that is a ConfigError.

Extra columns (`BASELINE_COLUMNS`): `fx_rate`, `source_unit_price`, `source_currency`,
`pricing_region` (the provider region of the price, `all` for DigitalOcean) and `mapping`
(how the line was matched, e.g. 'm1.large 4 vCPU 8 GiB → m6i.xlarge 0.204 USD/h,
eu-north-1, as of 2022-11-22').
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

import numpy as np
import pandas as pd

from stackledger.errors import PricingError, SchemaError
from stackledger.model.baselines import ALL_REGIONS, BaselineConfig
from stackledger.model.fx import FxRate
from stackledger.schema import COST_COLUMNS, COST_DECIMALS, HOURS_PER_MONTH, USAGE_COLUMNS, empty_frame, validate_frame
from stackledger.transforms.codes import group_codes, sorted_codes, sorted_order
from stackledger.transforms.currency import convert_prices
from stackledger.transforms.equivalents import (
    INCLUDED,
    MATCHED,
    Flavor,
    Unmatched,
    describe_price,
    instance_candidates,
    match_flavor,
    sku_for,
)
from stackledger.transforms.findings import (
    UNPRICED,
    Priced,
    concat_findings,
    empty_findings,
    findings_for,
    resolve_volume_types,
    type_findings,
    unresolved_type_rows,
)
from stackledger.transforms.money import (
    NANO,
    QUANTITY_DECIMALS,
    as_objects,
    decimals_of,
    month_to_date,
    to_decimals,
    to_nanos,
)
from stackledger.transforms.rating import DAY, LineKeys

BASELINE_COLUMNS: Final = {
    "fx_rate": "object",  # Decimal or None
    "source_unit_price": "object",  # Decimal, in source_currency
    "source_currency": "object",
    "pricing_region": "object",
    "mapping": "object",
}

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
class _Lines:
    """Lines before money: usage row, price-book row, consumed nanos, mapping text."""

    row: np.ndarray
    price: np.ndarray
    nanos: np.ndarray
    mapping: np.ndarray  # object: str

    @staticmethod
    def concat(parts: Sequence[_Lines]) -> _Lines:
        if not parts:
            empty = np.array([], dtype=np.int64)
            return _Lines(empty, empty, empty, np.array([], dtype=object))
        names = ("row", "price", "nanos", "mapping")
        return _Lines(*(np.concatenate([getattr(p, name) for p in parts]) for name in names))

    def take(self, index: np.ndarray) -> _Lines:
        return _Lines(self.row[index], self.price[index], self.nanos[index], self.mapping[index])


def rate_baseline(
    usage_daily: pd.DataFrame,
    book: pd.DataFrame,
    config: BaselineConfig,
    *,
    currency: str,
    fx: Sequence[FxRate] = (),
    volume_types: Mapping[str, str] | None = None,
) -> Priced:
    """Daily usage → cost lines and findings of price book `config.provider` (module docstring)."""
    frame = validate_frame(usage_daily, USAGE_COLUMNS, stage=f"rate {config.provider}").reset_index(drop=True)
    columns = {**COST_COLUMNS, **BASELINE_COLUMNS}
    if frame.empty:
        return Priced(empty_frame(columns), empty_findings())
    frame = resolve_volume_types(frame, volume_types or {})
    starts = frame["charge_period_start"]
    if not ((starts == starts.dt.floor("D")) & (frame["charge_period_end"] == starts + DAY)).all():
        raise SchemaError(f"rate {config.provider}: usage lines must each cover one UTC day (use daily_usage)")
    prices = book[(book["provider"] == config.provider) & book["region"].isin([config.region, ALL_REGIONS])]
    prices = prices.reset_index(drop=True)
    target = _targets(frame, config)
    nanos = to_nanos(frame["consumed_quantity"], stage=f"rate {config.provider}")
    days = starts.to_numpy().astype("datetime64[D]")
    matched, unmatched = _matched_lines(frame, np.flatnonzero(target == MATCHED), nanos, book, prices, config)
    lines = _Lines.concat([matched, *_sku_lines(frame, target, nanos, prices, days, config)])
    findings = concat_findings([unmatched, _type_findings(frame, target, config)])
    keys = LineKeys.of(frame)
    lines = _merge_collisions(keys, days, lines)
    if not len(lines.row):
        return Priced(empty_frame(columns), findings)
    # Lines in output order first, so the frame is built once (a take of 24 columns costs).
    lines = lines.take(sorted_order(days[lines.row], *keys.at(lines.row, "project", "resource", "service"),
                                    sorted_codes(prices["sku"])[0][lines.price]))  # fmt: skip
    out = _cost_frame(frame, keys, days, lines, prices, currency, fx, config)
    validate_frame(out, columns, stage=f"rate {config.provider}")
    return Priced(out[list(columns)], findings)


# ---------------------------------------------------------------- which SKU


def _targets(frame: pd.DataFrame, config: BaselineConfig) -> np.ndarray:
    """Per usage row: MATCHED, INCLUDED, or a SKU / tier group name."""
    codes, services = sorted_codes(frame["service"])
    target = np.array([sku_for(config, str(s)) for s in services], dtype=object)[codes]
    if config.volume_types:
        volume_type = frame["volume_type"].to_numpy(dtype=object)
        for name, sku in config.volume_types.items():
            target[(frame["service"].to_numpy(dtype=object) == "block.volume") & (volume_type == name)] = sku
    return target


def _type_findings(frame: pd.DataFrame, target: np.ndarray, config: BaselineConfig) -> pd.DataFrame:
    """Volumes whose type is an id nothing resolved, when the book picks volume SKUs by type name."""
    if not config.volume_types:
        return empty_findings()
    rows = unresolved_type_rows(frame, ["block.volume"])
    fallback = [f"{target[row]} (the block.volume SKU; baselines.{config.provider}.volume_types matches names)"
                for row in rows]  # fmt: skip
    return type_findings(frame, rows, book=config.provider, fallback=fallback)


def _matched_lines(
    frame: pd.DataFrame, rows: np.ndarray, nanos: np.ndarray, book: pd.DataFrame, prices: pd.DataFrame,
    config: BaselineConfig,
) -> tuple[_Lines, pd.DataFrame]:  # fmt: skip
    """Instance rows priced at the equivalent instance type's hourly price; the rows no type
    stands in for (size unknown, no equivalent) as findings."""
    if not len(rows):
        return _Lines.concat([]), empty_findings()
    sub = frame.iloc[rows]
    name = sub["flavor_name"].fillna("").astype(str)
    vcpus, ram = sub["vcpus"], sub["ram_mib"]
    if vcpus.isna().any() or ram.isna().any():  # a row without sizes borrows them from its flavor's other rows
        vcpus = vcpus.fillna(sub.groupby(name)["vcpus"].transform("max"))
        ram = ram.fillna(sub.groupby(name)["ram_mib"].transform("max"))
    codes = group_codes(name.to_numpy(dtype=object), vcpus.to_numpy(), ram.to_numpy())
    first = np.unique(codes, return_index=True)[1]
    uniques = zip(name.to_numpy(dtype=object)[first], vcpus.to_numpy()[first], ram.to_numpy()[first], strict=True)
    candidates = instance_candidates(prices, config)
    price_of, mapping_of, unmatched = [], [], {}
    for code, (flavor_name, flavor_vcpus, flavor_ram) in enumerate(uniques):
        flavor = Flavor(str(flavor_name), float(flavor_vcpus), float(flavor_ram))
        sku = match_flavor(flavor, candidates, prices, config)
        if isinstance(sku, Unmatched):
            unmatched[code] = (flavor, sku)
            price_of.append(-1)
            mapping_of.append("")
            continue
        index = _find(prices, sku=sku, unit="hour", service="compute.instance")
        monthly = _rows(prices, sku=sku, unit="month")
        row = prices.iloc[index]
        chosen = " (configured)" if flavor.name in config.flavors else ""
        capped: Decimal | None = monthly["price"].to_numpy(dtype=object)[0] if not monthly.empty else None
        price_of.append(index)
        mapping_of.append(f"{flavor.describe()} → {describe_price(row, cap=capped)}{chosen}")
    price = np.array(price_of, dtype=np.int64)[codes]
    lines = _Lines(rows, price, nanos[rows], np.array(mapping_of, dtype=object)[codes])
    parts = []
    for code, (flavor, why) in unmatched.items():
        mine = rows[codes == code]
        parts.append(findings_for(
            frame, mine, book=config.provider, kind=why.kind, effect=UNPRICED, subject=[flavor.describe()] * len(mine),
            reason=[why.reason] * len(mine),
        ))  # fmt: skip
    return lines.take(np.flatnonzero(price >= 0)), concat_findings(parts)


def _sku_lines(
    frame: pd.DataFrame, target: np.ndarray, nanos: np.ndarray, prices: pd.DataFrame, days: np.ndarray,
    config: BaselineConfig,
) -> list[_Lines]:  # fmt: skip
    """Rows priced at one SKU, or split over a tier group's SKUs."""
    parts = []
    services = frame["service"].to_numpy(dtype=object)
    volume_types = frame["volume_type"].to_numpy(dtype=object)
    priced = (target != MATCHED) & (target != INCLUDED)
    for sku in pd.unique(target[priced]):
        rows = np.flatnonzero(target == sku)
        tiers = prices[prices["tier_group"] == sku]
        if not tiers.empty:
            parts.append(_tier_lines(frame, rows, nanos, tiers, days, str(sku), config))
            continue
        for service in pd.unique(services[rows]):
            mine = rows[services[rows] == service]
            unit = str(frame["consumed_unit"].iat[mine[0]])
            index = _find(prices, sku=str(sku), consumed_unit=unit, service=str(service))
            text = describe_price(prices.iloc[index])
            kinds, named = pd.factorize(volume_types[mine], use_na_sentinel=False)
            labels = np.array([f"{service} {vt} → {text}" if isinstance(vt, str) and vt else f"{service} → {text}"
                               for vt in named], dtype=object)[kinds]  # fmt: skip
            parts.append(_Lines(mine, np.full(len(mine), index), nanos[mine], labels))
    return parts


def _find(prices: pd.DataFrame, *, sku: str, service: str, unit: str | None = None,
          consumed_unit: str | None = None) -> int:  # fmt: skip
    """Index of the price row of `sku` (the exact region before `all`), by price unit or by the
    units the consumed unit converts to; PricingError naming service and SKU when missing."""
    rows = _rows(prices, sku=sku, unit=unit, consumed_unit=consumed_unit)
    if rows.empty:
        provider = str(prices["provider"].iat[0]) if len(prices) else "the"
        region = str(prices["region"].iat[0]) if len(prices) else "the configured region"
        raise PricingError(
            f"no {provider} price for {service} at SKU {sku} in region {region} — add a row to the file in "
            f"baselines.price_overrides or map {service} to another SKU",
            service=service,
            sku=sku,
        )
    return int(rows.index[0])


def _rows(prices: pd.DataFrame, *, sku: str, unit: str | None = None, consumed_unit: str | None = None) -> pd.DataFrame:
    """The untiered price rows of `sku`, those of the exact region first."""
    rows = prices[(prices["sku"] == sku) & (prices["tier_group"] == "")]
    if unit is not None:
        rows = rows[rows["unit"] == unit]
    if consumed_unit is not None:
        rows = rows[np.array([(consumed_unit, u) in UNIT_DIVISORS for u in rows["unit"]], dtype=bool)]
    return rows.iloc[np.argsort((rows["region"] == ALL_REGIONS).to_numpy(), kind="stable")]


def _tier_lines(
    frame: pd.DataFrame, rows: np.ndarray, nanos: np.ndarray, tiers: pd.DataFrame, days: np.ndarray, group: str,
    config: BaselineConfig,
) -> _Lines:  # fmt: skip
    """Split rows over a tier group by the cloud's month-to-date quantity (day, project, resource order)."""
    tiers = tiers.sort_values("tier_start")  # Decimals
    service = str(frame["service"].iat[rows[0]])
    unit = str(frame["consumed_unit"].iat[rows[0]])
    divisor = _divisor(unit, str(tiers["unit"].iat[0]), service, group)
    order = np.lexsort([
        frame["resource_id"].to_numpy(dtype=object, na_value="")[rows].astype(str),
        frame["project_id"].to_numpy(dtype=object, na_value="")[rows].astype(str),
        days[rows],
    ])  # fmt: skip
    rows = rows[order]
    months = days[rows].astype("datetime64[M]")
    amounts = nanos[rows]
    after = np.cumsum(amounts)
    first = np.r_[True, months[1:] != months[:-1]]
    after -= np.maximum.accumulate(np.where(first, after - amounts, 0))
    before = after - amounts
    out_row, out_price, out_nanos, out_map = [], [], [], []
    low_expected = 0
    for index, tier in tiers.iterrows():
        low = int(tier["tier_start"] * divisor * NANO)
        if low != low_expected:
            raise PricingError(f"tier group {group} has a gap before {tier['sku']}", service=service, sku=group)
        high = np.iinfo(np.int64).max if tier["tier_end"] is None else int(Decimal(tier["tier_end"]) * divisor * NANO)
        portion = np.minimum(after, high) - np.maximum(before, low)
        hit = (portion > 0) | ((amounts == 0) & (before >= low) & (before < high))
        if hit.any():
            out_row.append(rows[hit])
            out_price.append(np.full(int(hit.sum()), index))
            out_nanos.append(portion[hit])
            out_map.append(np.full(int(hit.sum()), f"{service} → {describe_price(tier)}", dtype=object))
        low_expected = high
    if int(after.max(initial=0)) > low_expected:
        raise PricingError(
            f"{service} exceeds the last tier of {group} in {config.region} (the {config.provider} price book ends "
            f"at {tiers['tier_end'].iat[-1]} {tiers['unit'].iat[-1]} a month); add the next tier in "
            "baselines.price_overrides",
            service=service,
            sku=group,
        )
    return _Lines(*(np.concatenate(part) for part in (out_row, out_price, out_nanos, out_map)))


def _divisor(consumed: str, unit: str, service: str, sku: str) -> int:
    try:
        return UNIT_DIVISORS[(consumed, unit)]
    except KeyError:
        message = f"{service} is used in {consumed} but {sku} is priced per {unit}"
        raise PricingError(message, service=service, sku=sku) from None


def _merge_collisions(keys: LineKeys, days: np.ndarray, lines: _Lines) -> _Lines:
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
    return _Lines.concat([lines.take(np.flatnonzero(~dup)), merged])


# ---------------------------------------------------------------- money


def _cost_frame(
    frame: pd.DataFrame, keys: LineKeys, days: np.ndarray, lines: _Lines, prices: pd.DataFrame, currency: str,
    fx: Sequence[FxRate], config: BaselineConfig,
) -> pd.DataFrame:  # fmt: skip
    units = prices["unit"].to_numpy(dtype=object)[lines.price]
    sku = prices["sku"].to_numpy(dtype=object)[lines.price]
    consumed_codes, consumed_units = sorted_codes(frame["consumed_unit"])
    pair_codes = group_codes(consumed_codes[lines.row], lines.price)
    first = np.unique(pair_codes, return_index=True)[1]
    service = frame["service"].to_numpy(dtype=object)
    divisors = np.array([
        _divisor(str(consumed_units[consumed_codes[lines.row[i]]]), str(units[i]), str(service[lines.row[i]]),
                 str(sku[i]))
        for i in first
    ], dtype=np.int64)[pair_codes]  # fmt: skip
    line_days = days[lines.row]
    rule, rules, rate_used, source_currency, converted = convert_prices(
        prices, lines.price, line_days, currency, fx, caps=_cap_prices(prices)
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


def _cap_prices(prices: pd.DataFrame) -> dict[int, Decimal]:
    """Hourly instance row index -> the same SKU's monthly price (DigitalOcean's cap)."""
    monthly = prices[(prices["kind"] == "instance") & (prices["unit"] == "month")]
    by_sku = dict(zip(zip(monthly["sku"], monthly["region"], strict=True), monthly["price"], strict=True))
    hourly = prices[(prices["kind"] == "instance") & (prices["unit"] == "hour")]
    return {
        int(index): by_sku[(sku, region)]
        for index, sku, region in zip(hourly.index, hourly["sku"], hourly["region"], strict=True)
        if (sku, region) in by_sku
    }
