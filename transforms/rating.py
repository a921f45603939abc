"""Internal rating: usage × the cloud's rate card → daily cost lines (DESIGN §3, §5).

Pure: frames and a card in, a frame out; no I/O, no clock.

- `daily_usage(hourly)` sums hourly usage per UTC day [00:00, next 00:00) and per resource,
  service and rating attributes. Each hourly quantity is fixed to 9 decimals (the store's
  quantity scale) and summed as an integer, so the day's total is exact and independent of
  row order; sources are summed together (the usage stage keeps one source per resource-hour).
- `rate(daily, card)` prices each daily line with the card period in force that day:
  the first matching override, else the service's base rate, else its tiers; a line that
  nothing prices raises `PricingError` naming the service, flavor or volume type and SKU
  (configuration: the card lacks a rate).
- `price(daily, card, volume_types)` is `rate` as a price book (`transforms.findings.Priced`):
  volume type ids are first resolved to names (`volume_types`: Cinder type id -> name), so
  `volume_type` overrides match; a volume, snapshot or backup whose type is an id nothing
  resolves is priced without it (the base rate, or another override that matches) and, when
  the card prices that service by volume type in that period, recorded as a finding.

Projects: a cost line is one project's (or unallocated: project None). Each hourly usage row
carries its own project (the sample's, else the inventory's: `transforms.usage`), and a day's
hours are summed per project, so a resource whose samples name a project in some hours and none
(Ceilometer's `project_id: null`) in others has a line for the project and an unallocated one
that day — both priced, neither dropped.

Money (one rounding, here, and never again downstream):

- `list_unit_price` is the card's price exactly as written, per `pricing_unit` (the card's
  `per`: e.g. EUR per vCPU-hour, or EUR per GiB-month).
- `pricing_quantity` is the consumed quantity in the pricing unit: the same number for an
  hourly or per-GiB price; for a per-month price the consumed hours divided by 730,
  rounded half-even to 9 decimals (quantity, not money).
- `cost = list_unit_price × pricing_quantity`, computed exactly in integers (`transforms.money`) and rounded ONCE,
  half-even (banker's rounding: no upward drift over millions of lines), to
  `COST_DECIMALS` (6). Anyone can recompute a stored line's cost from its own columns.
- Tiers are graduated over a project's calendar-month quantity of a service, in day order
  (then resource id): a daily line that crosses a tier boundary becomes one line per tier,
  SKU `internal:<service>:tier<N>`. Pass every day of the month up to the last one rated, or
  the earlier days' quantity is not counted.

SKUs: `internal:<service>` (base rate), `internal:<service>:<match values joined by ':'>`
(override, e.g. `internal:compute.instance:m1.large`), `internal:<service>:tier<N>`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import pandas as pd

from stackledger.errors import PricingError, SchemaError
from stackledger.model.ratecard import MATCH_KEYS, Period, Rate, RateCard
from stackledger.schema import COST_COLUMNS, COST_DECIMALS, INTERNAL_BOOK, USAGE_COLUMNS, empty_frame, validate_frame
from stackledger.transforms.codes import Coded, Groups, blank_codes, group_codes, sorted_codes, sorted_order
from stackledger.transforms.findings import (
    Priced,
    empty_findings,
    resolve_volume_types,
    type_findings,
    unresolved_type_rows,
)
from stackledger.transforms.money import (
    NANO,
    QUANTITY_DECIMALS,
    as_objects,
    decimals_of,
    div_half_even,
    mul_div_half_even,
    to_decimals,
    to_nanos,
)

PRICE_BOOK: Final = INTERNAL_BOOK  # the price book this module writes
DAY: Final = pd.Timedelta(days=1)
_INT64_MAX: Final = np.iinfo(np.int64).max

# The columns a daily line is unique on (beside the day).
_DAILY_KEYS: Final = [
    "project_id", "resource_id", "resource_type", "service", "consumed_unit", "flavor_name", "volume_type", "region",
]  # fmt: skip

# ---------------------------------------------------------------- daily usage


def daily_usage(usage_hourly: pd.DataFrame) -> pd.DataFrame:
    """Hourly usage → one row per UTC day, resource, service and rating attributes.

    `consumed_quantity` is the exact sum of the hourly quantities fixed to 9 decimals;
    `vcpus`/`ram_mib` are the day's largest; `source` the smallest name among the day's.
    Rows come out sorted by day, then by the key columns' values (missing last).
    """
    frame = validate_frame(usage_hourly, USAGE_COLUMNS, stage="daily_usage")
    if frame.empty:
        return empty_frame(USAGE_COLUMNS)
    starts = frame["charge_period_start"].to_numpy()
    days = starts.astype("datetime64[D]")
    if (frame["charge_period_end"].to_numpy() > (days + 1).astype(starts.dtype)).any():
        raise SchemaError("daily_usage: an hourly usage line crosses midnight UTC")
    source_code, sources = sorted_codes(frame["source"])
    groups = Groups.of([days, *(frame[name] for name in _DAILY_KEYS)])
    nanos = groups.sum(to_nanos(frame["consumed_quantity"], stage="daily_usage"))
    daily = frame[_DAILY_KEYS].take(groups.first).reset_index(drop=True)
    daily["charge_period_start"] = days[groups.first].astype(starts.dtype)
    daily["charge_period_end"] = daily["charge_period_start"] + DAY
    daily["consumed_quantity"] = nanos / NANO
    daily["vcpus"] = groups.reduce(np.fmax, frame["vcpus"].to_numpy(dtype="float64", na_value=np.nan))
    daily["ram_mib"] = groups.reduce(np.fmax, frame["ram_mib"].to_numpy(dtype="float64", na_value=np.nan))
    daily["source"] = np.asarray(sources, dtype=object)[groups.reduce(np.minimum, source_code)]
    return daily[list(USAGE_COLUMNS)]


# ---------------------------------------------------------------- rating


@dataclass(frozen=True)
class LineKeys:
    """Sorting codes of the usage columns that key cost lines, computed once per frame."""

    project: np.ndarray
    resource: np.ndarray
    service: np.ndarray
    flavor: np.ndarray  # a missing flavor and '' are one value, as in the store's key

    @classmethod
    def of(cls, frame: pd.DataFrame) -> LineKeys:
        return cls(
            sorted_codes(frame["project_id"])[0],
            sorted_codes(frame["resource_id"])[0],
            sorted_codes(frame["service"])[0],
            blank_codes(frame["flavor_name"]),
        )

    def at(self, rows: np.ndarray, *names: str) -> list[np.ndarray]:
        return [getattr(self, name)[rows] for name in names]


@dataclass
class _Rules:
    """The distinct prices used: one row per (period, SKU); lines point at a row by index."""

    sku: list[str] = field(default_factory=list)
    rate: list[Rate] = field(default_factory=list)
    as_of: list[dt.date] = field(default_factory=list)
    index: dict[tuple[str, dt.date], int] = field(default_factory=dict)

    def add(self, sku: str, rate: Rate, period: Period) -> int:
        key = (sku, period.valid_from)
        if key not in self.index:
            self.index[key] = len(self.sku)
            self.sku.append(sku)
            self.rate.append(rate)
            self.as_of.append(period.valid_from)
        return self.index[key]


@dataclass
class _Lines:
    """Priced lines before money: the usage row each came from, its rule and consumed nanos."""

    row: np.ndarray
    rule: np.ndarray
    nanos: np.ndarray


def rate(usage_daily: pd.DataFrame, card: RateCard) -> pd.DataFrame:
    """Daily usage → internal cost lines (COST_COLUMNS), one rounding per line, see module doc."""
    frame = validate_frame(usage_daily, USAGE_COLUMNS, stage="rate").reset_index(drop=True)
    if frame.empty:
        return empty_frame(COST_COLUMNS)
    starts = frame["charge_period_start"]
    if not ((starts == starts.dt.floor("D")) & (frame["charge_period_end"] == starts + DAY)).all():
        raise SchemaError("rate: usage lines must each cover one UTC day (use daily_usage)")
    nanos = to_nanos(frame["consumed_quantity"], stage="rate")
    days = starts.to_numpy().astype("datetime64[D]")
    period = _period_of(days, card)
    rules = _Rules()
    keys = LineKeys.of(frame)
    rule, tiered = _assign(frame, period, card, rules)
    unpriced = (rule < 0) & ~tiered
    if unpriced.any():
        raise _pricing_error(frame[unpriced], card, period[unpriced])
    base = np.flatnonzero(rule >= 0)
    lines = _Lines(base, rule[base], nanos[base])
    if tiered.any():
        lines = _concat(lines, _tier_lines(frame, days, nanos, period, tiered, card, rules))
    lines = _merge_collisions(frame, keys, days, lines)
    return _cost_frame(frame, _in_output_order(keys, days, lines, rules), rules, card)


def price(usage_daily: pd.DataFrame, card: RateCard, volume_types: Mapping[str, str] | None = None) -> Priced:
    """Daily usage → internal cost lines and findings (module docstring): `rate` after resolving
    volume type ids through `volume_types` (Cinder type id -> name)."""
    frame = validate_frame(usage_daily, USAGE_COLUMNS, stage="rate").reset_index(drop=True)
    frame = resolve_volume_types(frame, volume_types or {})
    lines = rate(frame, card)
    if frame.empty:
        return Priced(lines, empty_findings())
    period = _period_of(frame["charge_period_start"].to_numpy().astype("datetime64[D]"), card)
    typed = [{o.service for o in p.overrides if "volume_type" in o.match} for p in card.periods]
    rows = unresolved_type_rows(frame, set().union(*typed))
    rows = np.array([row for row in rows if frame["service"].iat[row] in typed[period[row]]], dtype=np.int64)
    rules = _Rules()
    rule, _tiered = _assign(frame.iloc[rows].reset_index(drop=True), period[rows], card, rules)
    fallback = [f"{rules.sku[r]} (overrides match volume type names)" for r in rule]
    return Priced(lines, type_findings(frame, rows, book=PRICE_BOOK, fallback=fallback))


def _period_of(days: np.ndarray, card: RateCard) -> np.ndarray:
    """Index of the card period in force on each day; PricingError for a day no period covers."""
    starts = np.array([p.valid_from for p in card.periods], dtype="datetime64[D]")
    ends = np.array([p.valid_to or dt.date.max for p in card.periods], dtype="datetime64[D]")
    index = np.searchsorted(starts, days, side="right") - 1
    inside = (index >= 0) & (days < ends[np.maximum(index, 0)])
    if not inside.all():
        day = pd.Timestamp(days[~inside].min()).date()
        spans = ", ".join(f"[{p.valid_from}, {p.valid_to or 'open'})" for p in card.periods)
        raise PricingError(f"rate card {card.label} has no price period covering {day} (periods: {spans})")
    return index


def _assign(frame: pd.DataFrame, period: np.ndarray, card: RateCard, rules: _Rules) -> tuple[np.ndarray, np.ndarray]:
    """Rule index per row (-1: none) and whether the row is priced by tiers instead."""
    service = Coded.of(frame["service"])
    attrs = {name: Coded.of(frame[name]) for name in MATCH_KEYS}
    rule = np.full(len(frame), -1, dtype=np.int64)
    tiered = np.zeros(len(frame), dtype=bool)
    for index, card_period in enumerate(card.periods):
        in_period = period == index
        if not in_period.any():
            continue
        for override in card_period.overrides:
            hit = in_period & (rule < 0) & service.equals(override.service)
            for name, value in override.match.items():
                hit &= attrs[name].equals(value)
            if hit.any():
                rule[hit] = rules.add(f"{PRICE_BOOK}:{override.service}:{override.label}", override, card_period)
        for name, card_rate in card_period.rates.items():
            hit = in_period & (rule < 0) & service.equals(name)
            if hit.any():
                rule[hit] = rules.add(f"{PRICE_BOOK}:{name}", card_rate, card_period)
        for name in card_period.tiers:
            tiered |= in_period & service.equals(name)
    return rule, tiered


def _tier_lines(
    frame: pd.DataFrame,
    days: np.ndarray,
    nanos: np.ndarray,
    period: np.ndarray,
    tiered: np.ndarray,
    card: RateCard,
    rules: _Rules,
) -> _Lines:
    """Split tiered rows across their tiers by the project's month-to-date quantity."""
    rows = np.flatnonzero(tiered)
    sub = frame.iloc[rows]
    months = days[rows].astype("datetime64[M]")
    # Cumulate in a fixed order: project, service, month, then day and resource.
    codes = [pd.factorize(sub[c].to_numpy(dtype=object, na_value=""), sort=True)[0]
             for c in ("project_id", "service", "resource_id", "flavor_name", "volume_type", "region")]  # fmt: skip
    project, service, resource, *rest = codes
    order = np.lexsort([*reversed(rest), resource, days[rows], months, service, project])
    rows, months, project, service = rows[order], months[order], project[order], service[order]
    amounts = nanos[rows]
    if amounts.sum(dtype=np.float64) >= 2.0**62:
        raise SchemaError("rate: tiered quantities this large cannot be cumulated exactly")
    changed = (project[1:] != project[:-1]) | (service[1:] != service[:-1]) | (months[1:] != months[:-1])
    group_start = np.r_[True, changed]
    after = np.cumsum(amounts)
    offset = np.maximum.accumulate(np.where(group_start, after - amounts, 0))
    after -= offset
    before = after - amounts
    out_row, out_rule, out_nanos = [], [], []
    names = frame["service"].to_numpy(dtype=object)[rows]
    for index, card_period in enumerate(card.periods):
        for name, steps in card_period.tiers.items():
            mine = (period[rows] == index) & (names == name)
            if not mine.any():
                continue
            low = 0
            for number, step in enumerate(steps, start=1):
                high = _INT64_MAX if step.up_to is None else int(step.up_to * step.divisor * NANO)
                portion = np.minimum(after, high) - np.maximum(before, low)
                # A zero-quantity line stays visible, at the tier the month has reached.
                hit = mine & ((portion > 0) | ((amounts == 0) & (before >= low) & (before < high)))
                if hit.any():
                    rule_id = rules.add(f"{PRICE_BOOK}:{name}:tier{number}", step, card_period)
                    out_row.append(rows[hit])
                    out_rule.append(np.full(int(hit.sum()), rule_id, dtype=np.int64))
                    out_nanos.append(portion[hit])
                low = high
    return _Lines(np.concatenate(out_row), np.concatenate(out_rule), np.concatenate(out_nanos))


def _concat(a: _Lines, b: _Lines) -> _Lines:
    return _Lines(np.concatenate([a.row, b.row]), np.concatenate([a.rule, b.rule]), np.concatenate([a.nanos, b.nanos]))


def _merge_collisions(frame: pd.DataFrame, keys: LineKeys, days: np.ndarray, lines: _Lines) -> _Lines:
    """Lines that share the store's unique key (day, project, resource, service, flavor, SKU) —
    e.g. a volume retyped mid-day between two types at the base price — are one line: quantities
    summed before pricing, so the cost is still rounded once. Attributes from the row whose
    (volume type, region) sorts last, a missing value first."""
    # A rule is one SKU in one period, and a day falls in one period: the rule stands for the SKU.
    codes = group_codes(days[lines.row], *keys.at(lines.row, "project", "resource", "service", "flavor"), lines.rule)
    dup = np.bincount(codes)[codes] > 1
    if not dup.any():
        return lines
    keep = ~dup
    rows, rule, amounts = [lines.row[keep]], [lines.rule[keep]], [lines.nanos[keep]]
    attrs = [[value if isinstance(value, str) else "" for value in frame[name].to_numpy(dtype=object)]
             for name in ("volume_type", "region")]  # fmt: skip
    members = np.flatnonzero(dup)
    members = members[np.argsort(codes[members], kind="stable")]
    for picks in np.split(members, np.flatnonzero(np.diff(codes[members])) + 1):
        first = max(picks, key=lambda i: tuple(column[lines.row[i]] for column in attrs))
        rows.append(lines.row[[first]])
        rule.append(lines.rule[[first]])
        amounts.append(np.array([lines.nanos[picks].sum()], dtype=np.int64))
    return _Lines(np.concatenate(rows), np.concatenate(rule), np.concatenate(amounts))


def _in_output_order(keys: LineKeys, days: np.ndarray, lines: _Lines, rules: _Rules) -> _Lines:
    """Lines sorted by day, project, resource, service and SKU — before the frame is built, which
    is then built once (a take of all its columns costs more than ordering three arrays)."""
    sku_rank = sorted_codes(np.array(rules.sku, dtype=object))[0]
    order = sorted_order(days[lines.row], *keys.at(lines.row, "project", "resource", "service"), sku_rank[lines.rule])
    return _Lines(lines.row[order], lines.rule[order], lines.nanos[order])


def _cost_frame(frame: pd.DataFrame, lines: _Lines, rules: _Rules, card: RateCard) -> pd.DataFrame:
    divisor = np.array([r.divisor for r in rules.rate], dtype=np.int64)[lines.rule]
    quantity = div_half_even(lines.nanos, divisor)  # billionths of the pricing unit
    scale = max(decimals_of(r.price) for r in rules.rate)
    price_units = np.array([int(r.price.scaleb(scale)) for r in rules.rate], dtype=np.int64)[lines.rule]
    micros = mul_div_half_even(price_units, quantity, 10 ** (scale + QUANTITY_DECIMALS - COST_DECIMALS))
    out = frame[
        ["charge_period_start", "charge_period_end", "project_id", "resource_id", "resource_type", "service",
         "flavor_name", "volume_type", "region", "consumed_unit"]
    ].take(lines.row).reset_index(drop=True)  # fmt: skip
    out["consumed_quantity"] = lines.nanos / NANO
    out["price_book"] = PRICE_BOOK
    out["sku"] = as_objects(np.array(rules.sku, dtype=object)[lines.rule])
    out["list_unit_price"] = as_objects(np.array([r.price for r in rules.rate], dtype=object)[lines.rule])
    out["pricing_quantity"] = as_objects(to_decimals(quantity, -QUANTITY_DECIMALS))
    out["pricing_unit"] = as_objects(np.array([r.per for r in rules.rate], dtype=object)[lines.rule])
    out["cost"] = as_objects(to_decimals(micros, -COST_DECIMALS))
    out["currency"] = card.currency
    out["price_as_of"] = as_objects(np.array(rules.as_of, dtype=object)[lines.rule])
    return validate_frame(out, COST_COLUMNS, stage="rate")


# ---------------------------------------------------------------- errors


def _pricing_error(missing: pd.DataFrame, card: RateCard, period: np.ndarray) -> PricingError:
    first = missing.iloc[0]
    service = str(first["service"])
    what = [f"{label} {first[name]}" for name, label in (("flavor_name", "flavor"), ("volume_type", "volume type"))
            if isinstance(first[name], str) and first[name]]  # fmt: skip
    card_period = card.periods[int(period[0])]
    others = sorted(set(missing["service"].astype(str)) - {service})
    return PricingError(
        f"rate card {card.label} has no price for {service}"
        + (f" ({', '.join(what)})" if what else "")
        + f" in the period from {card_period.valid_from}: {len(missing)} usage line(s), e.g. resource "
        f"{first['resource_id']} of project {first['project_id']} on {first['charge_period_start'].date()}"
        + (f"; also unpriced: {', '.join(others)}" if others else "")
        + "; add a rate (0 to rate it as free) or an override",
        service=service,
        sku=f"{PRICE_BOOK}:{service}",
    )
