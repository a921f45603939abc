"""The internal rate card: the cloud's own prices, read from YAML (DESIGN §5).

Format (every price on a card is in its one currency)::

    currency: EUR                   # ISO 4217 code, required
    name: Example Cloud list prices # optional; named in errors
    periods:                        # price periods; a card with one period may put its keys
      - valid_from: 2026-01-01      #   (valid_from, valid_to, rates, overrides, tiers) at the top
        valid_to: 2026-10-15        # optional; periods are [valid_from, valid_to), dates in UTC
        rates:                      # service -> price per unit of that service
          compute.vcpu: 0.021                          # per vCPU-hour (the service's own unit)
          compute.instance: 0                          # explicit zero: rated, costs nothing
          block.volume: {price: 0.08, per: GiB-month}  # per-month price: a month is 730 hours
        overrides:                  # win over `rates`; the first matching entry wins
          - service: compute.instance
            match: {flavor_name: m1.large}             # keys: flavor_name, volume_type, region
            price: 0.01                                #   (all given keys must match)
          - service: block.volume
            match: {volume_type: ssd}
            price: 0.15
            per: GiB-month
        tiers:                      # graduated prices on a project's calendar-month quantity
          network.egress:
            - {up_to: 1024, price: 0.05}               # the month's first 1024 GiB
            - {up_to: 10240, price: 0.03}              # the next 9216 GiB
            - {up_to: null, price: 0.01}               # the rest; the last tier is open

Rules:

- Services are `stackledger.schema.SERVICES` names. A price is per the service's unit unless
  `per` names another unit of the same family: `vCPU-hour`|`vCPU-month`, `GiB-hour`|`GiB-month`,
  `instance-hour`|`instance-month`, `IP-hour`|`IP-month`, and `GiB` for transfer. A month is
  `HOURS_PER_MONTH` (730) hours.
- Prices are non-negative decimals taken from the YAML *text* (`0.1` is exactly 0.1; quoted
  strings work too), with at most 10 decimal places.
- A period takes effect at 00:00 UTC on `valid_from` and ends just before 00:00 UTC on
  `valid_to`, so a price change mid-month splits the month at that day. Periods must not
  overlap. Each period is complete on its own (YAML merge keys `<<: *anchor` help reuse).
  Cost lines carry the period's `valid_from` as `price_as_of`.
- A service that appears in usage without a price in the period in force (no override matches
  and no base rate) is a `PricingError` when rating — never a silent zero. Price it `0` to
  rate it as free.
- A service is priced by `rates` or by `tiers`, not both, and tiered services take no
  overrides. Tier `up_to` values are in the tiers' unit (default the service's unit; `per`,
  if given, must be the same on every step), strictly ascending, cumulated per project and
  service over the calendar month; the last step has `up_to: null`.

`load_rate_card(path)` reads and validates a file; `parse_rate_card(data, source=...)` validates
an already-parsed mapping. Both raise `ConfigError` naming the file, the key and what was
expected. The result is the pure `stackledger.model.RateCard` (frozen dataclasses, whose
invariants these rules guarantee) that `transforms.rating.rate` prices usage with; the
pydantic classes below only describe the file's grammar and never leave this module.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Final

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from stackledger.errors import ConfigError
from stackledger.model.ratecard import MATCH_KEYS, Override, Period, Rate, RateCard, Tier
from stackledger.schema import HOURS_PER_MONTH, SERVICES

MAX_PRICE_DECIMALS: Final = 10  # the store's PRICE scale
MAX_QUANTITY_DECIMALS: Final = 9  # the store's QUANTITY scale

# A service's unit -> the units a price for it may be given per -> service units in one.
PRICING_UNITS: Final[dict[str, dict[str, int]]] = {
    "vCPU-hour": {"vCPU-hour": 1, "vCPU-month": HOURS_PER_MONTH},
    "GiB-hour": {"GiB-hour": 1, "GiB-month": HOURS_PER_MONTH},
    "instance-hour": {"instance-hour": 1, "instance-month": HOURS_PER_MONTH},
    "IP-hour": {"IP-hour": 1, "IP-month": HOURS_PER_MONTH},
    "GiB": {"GiB": 1},
}

# ---------------------------------------------------------------- loading


def load_rate_card(path: str | os.PathLike[str]) -> RateCard:
    """Read, parse and validate a rate card file."""
    file = str(path)
    try:
        text = Path(file).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read rate card: {exc.strerror}", file=file) from None
    return parse_rate_card(loads(text, source=file), source=file)


def loads(text: str, *, source: str = "<string>") -> Any:
    """Parse YAML keeping every number's text exact: floats become `Decimal`, never `float`."""
    try:
        return yaml.load(text, Loader=_DecimalLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ConfigError.invalid_yaml(exc, file=source) from None


def parse_rate_card(data: Any, *, source: str = "<rate card>") -> RateCard:
    if not isinstance(data, Mapping):
        raise ConfigError("expected a mapping with currency and rates or periods", file=source)
    try:
        doc = _CardDoc.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        # An unknown key is usually a typo that also explains a "missing" one: report it first.
        first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
        raise ConfigError(_describe(first), file=source, key=_key(first["loc"])) from None
    return _Checker(source).card(doc)


class _DecimalLoader(yaml.SafeLoader):
    """SafeLoader whose floats are Decimals built from the scalar's text."""


def _construct_decimal(loader: yaml.SafeLoader, node: yaml.Node) -> Decimal:
    text = str(loader.construct_scalar(node)).replace("_", "")  # type: ignore[arg-type]
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise yaml.constructor.ConstructorError(None, None, f"{text!r} is not a number", node.start_mark) from None
    if not value.is_finite():
        raise yaml.constructor.ConstructorError(None, None, f"{text!r} is not a finite number", node.start_mark)
    return value


_DecimalLoader.add_constructor("tag:yaml.org,2002:float", _construct_decimal)

# ---------------------------------------------------------------- shape (pydantic)


def _no_float(value: Any) -> Any:
    # Only reachable from Python callers: the YAML loader never yields floats.
    if isinstance(value, float):
        raise ValueError("a binary float cannot hold every decimal exactly: give a Decimal, int or string")
    if isinstance(value, bool):
        raise ValueError("expected a number")
    return value


Money = Annotated[Decimal, BeforeValidator(_no_float), Field(ge=0, allow_inf_nan=False)]
Quantity = Annotated[Decimal, BeforeValidator(_no_float), Field(gt=0, allow_inf_nan=False)]


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _PriceDoc(_Doc):
    price: Money
    per: str | None = None


def _as_price(value: Any) -> Any:
    # `service: 0.021` is short for `service: {price: 0.021}`.
    return value if isinstance(value, Mapping | BaseModel) else {"price": value}


PriceSpec = Annotated[_PriceDoc, BeforeValidator(_as_price)]


class _OverrideDoc(_PriceDoc):
    service: str
    match: dict[str, str] = Field(min_length=1)


class _TierDoc(_PriceDoc):
    up_to: Quantity | None


class _PeriodDoc(_Doc):
    valid_from: dt.date
    valid_to: dt.date | None = None
    rates: dict[str, PriceSpec] = Field(default_factory=dict)
    overrides: list[_OverrideDoc] = Field(default_factory=list)
    tiers: dict[str, list[_TierDoc]] = Field(default_factory=dict)


class _CardDoc(_Doc):
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    name: str | None = None
    periods: list[_PeriodDoc] | None = Field(default=None, min_length=1)
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None
    rates: dict[str, PriceSpec] | None = None
    overrides: list[_OverrideDoc] | None = None
    tiers: dict[str, list[_TierDoc]] | None = None


def _key(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        else:
            parts.append(f".{part}" if parts else part)
    return "".join(parts)


def _describe(error: Mapping[str, Any]) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown key"
    if error["type"] == "missing":
        return "required key is missing"
    if error["type"] == "string_pattern_mismatch":
        return f"expected an ISO 4217 currency code such as EUR (got {error['input']!r})"
    return f"{error['msg']} (got {error['input']!r})"


# ---------------------------------------------------------------- meaning


class _Checker:
    """Turns a well-shaped document into a `RateCard`, checking what a schema cannot."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, message: str) -> ConfigError:
        return ConfigError(message, file=self.source, key=key)

    def card(self, doc: _CardDoc) -> RateCard:
        single = {"valid_from": doc.valid_from, "valid_to": doc.valid_to, "rates": doc.rates,
                  "overrides": doc.overrides, "tiers": doc.tiers}  # fmt: skip
        given = [key for key, value in single.items() if value is not None]
        if doc.periods is not None and given:
            raise self.fail(given[0], "give either `periods:` or one period's keys at the top level, not both")
        if doc.periods is None:
            if doc.valid_from is None:
                raise self.fail("valid_from", "required key is missing (the date the prices take effect)")
            docs = [_PeriodDoc.model_validate({k: v for k, v in single.items() if v is not None})]
            prefix = ""
        else:
            docs = doc.periods
            prefix = "periods"
        periods = [self.period(p, f"{prefix}[{i}]." if prefix else "") for i, p in enumerate(docs)]
        order = sorted(range(len(periods)), key=lambda i: periods[i].valid_from)
        for before, after in itertools.pairwise(order):
            end = periods[before].valid_to
            if end is None or end > periods[after].valid_from:
                raise self.fail(
                    f"{prefix}[{after}].valid_from",
                    f"period from {periods[after].valid_from} overlaps period [{before}] "
                    f"from {periods[before].valid_from} to {end or 'open end'}",
                )
        return RateCard(doc.currency, doc.name, self.source, tuple(periods[i] for i in order))

    def period(self, doc: _PeriodDoc, at: str) -> Period:
        if doc.valid_to is not None and doc.valid_to <= doc.valid_from:
            raise self.fail(f"{at}valid_to", f"expected a date after valid_from {doc.valid_from}")
        if not doc.rates and not doc.tiers:
            raise self.fail(f"{at}rates", "a period prices nothing: give rates or tiers")
        rates = {}
        for service, spec in doc.rates.items():
            key = f"{at}rates.{service}"
            rates[service] = self.rate(service, spec.price, spec.per, key)
        tiers = {service: self.tiers(service, steps, f"{at}tiers.{service}") for service, steps in doc.tiers.items()}
        for service in tiers.keys() & rates.keys():
            raise self.fail(f"{at}tiers.{service}", "service is priced twice: give it rates or tiers, not both")
        overrides = tuple(self.override(o, f"{at}overrides[{i}]", tiers) for i, o in enumerate(doc.overrides))
        seen: dict[tuple[str, str], int] = {}
        for i, override in enumerate(overrides):
            first = seen.setdefault((override.service, override.label), i)
            if first != i:
                raise self.fail(f"{at}overrides[{i}].match", f"same service and match values as overrides[{first}]")
        return Period(doc.valid_from, doc.valid_to, MappingProxyType(rates), overrides, MappingProxyType(tiers))

    def service(self, service: str, key: str) -> str:
        if service not in SERVICES:
            raise self.fail(key, f"unknown service {service!r}; expected one of {', '.join(sorted(SERVICES))}")
        return SERVICES[service].unit

    def rate(self, service: str, price: Decimal, per: str | None, key: str) -> Rate:
        unit = self.service(service, key)
        per = per or unit
        allowed = PRICING_UNITS[unit]
        if per not in allowed:
            expected = ", ".join(allowed)
            raise self.fail(f"{key}.per", f"{service} is measured in {unit}: expected one of {expected} (got {per!r})")
        self.scale(price, MAX_PRICE_DECIMALS, f"{key}.price")
        return Rate(price, per, allowed[per])

    def override(self, doc: _OverrideDoc, key: str, tiers: Mapping[str, object]) -> Override:
        rate = self.rate(doc.service, doc.price, doc.per, key)
        if doc.service in tiers:
            raise self.fail(f"{key}.service", f"{doc.service} is tiered; tiered services take no overrides")
        unknown = sorted(doc.match.keys() - set(MATCH_KEYS))
        if unknown:
            raise self.fail(f"{key}.match.{unknown[0]}", f"unknown match key; expected {', '.join(MATCH_KEYS)}")
        match = {name: doc.match[name] for name in MATCH_KEYS if name in doc.match}
        for name, value in match.items():
            if not value:
                raise self.fail(f"{key}.match.{name}", "expected a non-empty value")
        label = ":".join(match.values())
        return Override(rate.price, rate.per, rate.divisor, doc.service, MappingProxyType(match), label)

    def tiers(self, service: str, steps: list[_TierDoc], key: str) -> tuple[Tier, ...]:
        if not steps:
            raise self.fail(key, "expected at least one tier")
        pers = {step.per for step in steps}
        if len(pers) > 1:
            raise self.fail(f"{key}[1].per", "every tier of a service must use the same `per` unit")
        result: list[Tier] = []
        for i, step in enumerate(steps):
            rate = self.rate(service, step.price, step.per, f"{key}[{i}]")
            last = i == len(steps) - 1
            if step.up_to is None and not last:
                raise self.fail(f"{key}[{i}].up_to", "only the last tier may be open (up_to: null)")
            if step.up_to is not None:
                if last:
                    raise self.fail(f"{key}[{i}].up_to", "the last tier must be open (up_to: null)")
                self.scale(step.up_to, MAX_QUANTITY_DECIMALS, f"{key}[{i}].up_to")
                previous = result[-1].up_to if result else None
                if previous is not None and step.up_to <= previous:
                    raise self.fail(f"{key}[{i}].up_to", f"expected more than the previous tier's {previous}")
            result.append(Tier(rate.price, rate.per, rate.divisor, step.up_to))
        return tuple(result)

    def scale(self, value: Decimal, decimals: int, key: str) -> None:
        exponent = value.normalize().as_tuple().exponent
        if isinstance(exponent, int) and -exponent > decimals:
            raise self.fail(key, f"expected at most {decimals} decimal places (got {value})")
