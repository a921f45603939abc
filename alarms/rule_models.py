"""Alarm rule models: one pydantic model per kind, validated field by field (`alarms.rules` loads
the YAML file into them and cross-checks the whole set; `alarms.rule_checks` checks them
against the settings).

    budget            BudgetRule: actual / forecast thresholds against a budget
    metric_threshold  MetricThresholdRule: Aodh's threshold rule over the store's usage or Gnocchi
    cost_anomaly      CostAnomalyRule: a day's cost against the median and MAD of the days before
    composite         CompositeRule: and/or over other rules of the file
"""

from __future__ import annotations

import datetime as dt
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from stackledger.alarms.schedule import Cron, TimeWindow, parse_duration
from stackledger.schema import SERVICES

Comparison = Literal["lt", "le", "eq", "ne", "ge", "gt"]
Severity = Literal["low", "moderate", "critical"]
Scope = Literal["project", "team", "total"]

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
_CURRENCY = r"^[A-Z]{3}$"
STORE_AGGREGATIONS = ("mean", "sum", "max", "min", "count")
# Gnocchi's aggregation methods: the basic ones, percentiles (95pct) and rate:<method>.
_GNOCCHI_AGGREGATION = re.compile(r"^(rate:)?(mean|sum|last|max|min|std|median|first|count|\d{1,2}pct)$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class TimeConstraint(_Model):
    """Aodh's time constraint: inside for `duration` after each `start` (cron) in `timezone`."""

    name: str = ""
    start: str
    duration: int | str
    timezone: str = "UTC"
    description: str = ""

    @field_validator("start")
    @classmethod
    def _cron(cls, value: str) -> str:
        Cron.parse(value)
        return value

    @field_validator("duration")
    @classmethod
    def _duration(cls, value: int | str) -> int | str:
        parse_duration(value)
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            with warnings.catch_warnings():  # tzdata's lookup of an unknown name uses a deprecated API
                warnings.simplefilter("ignore", DeprecationWarning)
                ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name like Europe/Berlin)") from None
        return value

    def window(self) -> TimeWindow:
        return TimeWindow(self.name, Cron.parse(self.start), parse_duration(self.duration), ZoneInfo(self.timezone))


class _Rule(_Model):
    name: str = Field(pattern=_NAME)
    description: str = ""
    severity: Severity = "low"
    notify: list[str] | None = None  # alarm actions; None: `defaults.notify`, else settings alarms.default_notify
    ok_notify: list[str] = Field(default_factory=list)
    insufficient_data_notify: list[str] = Field(default_factory=list)
    repeat_actions: bool = False
    time_constraints: list[TimeConstraint] = Field(default_factory=list)
    snooze_until: dt.datetime | None = None  # notifications held back until then (naive = UTC)

    _windows: tuple[TimeWindow, ...] = PrivateAttr(default=())

    def model_post_init(self, context: Any, /) -> None:
        self._windows = tuple(c.window() for c in self.time_constraints)

    @field_validator("snooze_until")
    @classmethod
    def _utc(cls, value: dt.datetime | None) -> dt.datetime | None:
        if value is not None and value.tzinfo is not None:
            return value.astimezone(dt.UTC).replace(tzinfo=None)
        return value

    @property
    def windows(self) -> tuple[TimeWindow, ...]:
        return self._windows

    def actions(self, state: str, default: Sequence[str]) -> tuple[str, ...]:
        """Notifier names for entering (or repeating) `state`."""
        if state == "alarm":
            return tuple(default if self.notify is None else self.notify)
        return tuple(self.ok_notify if state == "ok" else self.insufficient_data_notify)


class BudgetThreshold(_Model):
    """`at: 80%` (of the budget) or `at: 1200` (absolute, in the budget's currency)."""

    at: str | Decimal
    basis: Literal["actual", "forecast"] = "actual"
    comparison: Literal["gt", "ge"] = "gt"
    severity: Severity | None = None

    @field_validator("at", mode="before")
    @classmethod
    def _at(cls, value: object) -> str:
        text = str(value).strip()
        number = text[:-1].strip() if text.endswith("%") else text
        try:
            amount = Decimal(number)
        except InvalidOperation:
            raise ValueError(f"{text!r} is neither a percentage like '80%' nor an amount like 1200") from None
        if not amount.is_finite() or amount <= 0:
            raise ValueError(f"{text!r} must be a positive number")
        return f"{amount.normalize():f}%" if text.endswith("%") else f"{amount.normalize():f}"

    @property
    def percent(self) -> Decimal | None:
        text = str(self.at)
        return Decimal(text[:-1]) if text.endswith("%") else None

    @property
    def amount(self) -> Decimal | None:
        text = str(self.at)
        return None if text.endswith("%") else Decimal(text)

    @property
    def label(self) -> str:
        return f"{self.basis} {self.at}"


class BudgetRule(_Rule):
    kind: Literal["budget"]
    scope: Scope = "project"
    select: list[str] = Field(default_factory=list)  # project ids or team names; empty: all
    amount: Decimal | None = Field(default=None, gt=0, allow_inf_nan=False)  # monthly; None: projects' budgets
    currency: str | None = Field(default=None, pattern=_CURRENCY)
    price_book: str = "internal"
    thresholds: list[BudgetThreshold] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> BudgetRule:
        if self.amount is not None and self.currency is None:
            raise ValueError("an `amount` needs its `currency`")
        labels = [t.label for t in self.thresholds]
        if len(set(labels)) != len(labels):
            raise ValueError(f"thresholds repeat: {labels}")
        return self

    def threshold(self, label: str) -> BudgetThreshold:
        return next(t for t in self.thresholds if t.label == label)


class MetricThresholdRule(_Rule):
    """Aodh's threshold rule: the last `evaluation_periods` points of `granularity` seconds."""

    kind: Literal["metric_threshold"]
    source: Literal["store", "gnocchi"] = "store"
    metric: str  # store: a usage service (compute.vcpu); gnocchi: a metric name (cpu, vcpus)
    aggregation: str = "mean"
    group_by: Literal["resource", "project", "total"] = "resource"
    comparison: Comparison
    threshold: float = Field(allow_inf_nan=False)
    granularity: int = Field(default=3600, gt=0)  # seconds
    evaluation_periods: int = Field(default=1, ge=1, le=1000)
    projects: list[str] = Field(default_factory=list)  # only these projects (both sources)
    resource_type: str = "generic"  # gnocchi only
    search: dict[str, Any] | None = None  # gnocchi only: a Gnocchi search filter, as JSON

    @model_validator(mode="after")
    def _per_source(self) -> MetricThresholdRule:
        if self.source == "store":
            if self.aggregation not in STORE_AGGREGATIONS:
                raise ValueError(f"aggregation {self.aggregation!r} is not one of {', '.join(STORE_AGGREGATIONS)}")
            if self.granularity % 3600:
                raise ValueError("granularity must be a multiple of 3600 s: the store keeps hourly usage")
            if self.search is not None or self.resource_type != "generic":
                raise ValueError("`search` and `resource_type` are for source: gnocchi")
            if self.metric not in SERVICES:
                raise ValueError(f"metric {self.metric!r} is not a usage service; valid: {', '.join(SERVICES)}")
        elif not _GNOCCHI_AGGREGATION.match(self.aggregation):
            raise ValueError(f"aggregation {self.aggregation!r} is not a Gnocchi aggregation method")
        return self


class CostAnomalyRule(_Rule):
    """A day's cost against the median and MAD of the days before it (alarms/stats.py)."""

    kind: Literal["cost_anomaly"]
    scope: Scope = "project"
    select: list[str] = Field(default_factory=list)
    price_book: str = "internal"
    currency: str | None = Field(default=None, pattern=_CURRENCY)
    window_days: int = Field(default=14, ge=3, le=90)
    min_history_days: int = Field(default=7, ge=3)
    min_impact: Decimal = Field(ge=0, allow_inf_nan=False)  # currency units above the median
    z_threshold: float = Field(default=3.5, gt=0, allow_inf_nan=False)
    evaluation_periods: int = Field(default=1, ge=1, le=31)

    @model_validator(mode="after")
    def _history(self) -> CostAnomalyRule:
        if self.min_history_days > self.window_days:
            raise ValueError("min_history_days is larger than window_days")
        return self


@dataclass(frozen=True)
class Ref:
    rule: str
    threshold: str = ""  # a budget threshold label, e.g. 'forecast 100%'


@dataclass(frozen=True)
class Op:
    op: Literal["and", "or"]
    operands: tuple[Ref | Op, ...]


class CompositeRule(_Rule):
    """Aodh's composite rule over other rules of the file: `and`/`or`, nested."""

    kind: Literal["composite"]
    and_: list[Any] | None = Field(default=None, alias="and")
    or_: list[Any] | None = Field(default=None, alias="or")

    _expression: Op = PrivateAttr()

    @model_validator(mode="after")
    def _parse(self) -> CompositeRule:
        if (self.and_ is None) == (self.or_ is None):
            raise ValueError("a composite rule has exactly one of `and` or `or` at the top")
        self._expression = _operand({"and": self.and_} if self.and_ is not None else {"or": self.or_}, "")  # type: ignore[assignment]
        return self

    @property
    def expression(self) -> Op:
        return self._expression

    def refs(self) -> list[Ref]:
        return list(_refs(self._expression))


def _operand(value: Any, path: str) -> Ref | Op:
    if not isinstance(value, Mapping):
        raise ValueError(f"{path or 'operand'}: expected a mapping with `rule`, `and` or `or`")
    if set(value) <= {"rule", "threshold"} and "rule" in value:
        return Ref(str(value["rule"]), str(value.get("threshold") or ""))
    if len(value) == 1 and next(iter(value)) in ("and", "or"):
        op = next(iter(value))
        items = value[op]
        if not isinstance(items, list) or not items:
            raise ValueError(f"{path}{op}: expected a non-empty list of operands")
        return Op(op, tuple(_operand(item, f"{path}{op}[{i}].") for i, item in enumerate(items)))
    expected = "expected `rule` (with optional `threshold`), `and` or `or`"
    raise ValueError(f"{path or 'operand'}: {expected}, got {sorted(value)}")


def _refs(node: Ref | Op) -> Iterable[Ref]:
    if isinstance(node, Ref):
        yield node
    else:
        for operand in node.operands:
            yield from _refs(operand)


Rule = BudgetRule | MetricThresholdRule | CostAnomalyRule | CompositeRule
KINDS: dict[str, type[_Rule]] = {
    "budget": BudgetRule, "metric_threshold": MetricThresholdRule, "cost_anomaly": CostAnomalyRule,
    "composite": CompositeRule,
}  # fmt: skip


@dataclass(frozen=True)
class RuleSet:
    file: str
    rules: tuple[Rule, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {rule.name: rule for rule in self.rules})

    def get(self, name: str) -> Rule:
        return self._by_name[name]  # type: ignore[attr-defined]

    def __len__(self) -> int:
        return len(self.rules)

    def notifier_names(self, default: Sequence[str] = ()) -> set[str]:
        """Every notifier some rule sends to; `default` stands in for rules without `notify`."""
        return {name for rule in self.rules for state in ("alarm", "ok", "insufficient_data")
                for name in rule.actions(state, default)}  # fmt: skip
