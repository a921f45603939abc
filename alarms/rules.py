"""Alarm rules: the YAML file, validated whole on load.

    defaults:                 # optional; merged into every rule that accepts the key
      notify: [log, email]
    rules:
      - name: project-budgets
        kind: budget          # budget | metric_threshold | cost_anomaly | composite
        ...

`load_rules(path)` returns a `RuleSet` or raises `RuleError` (a `ConfigError`) listing every
problem, each naming the file, the rule and the field; nothing is evaluated from a file with
a problem. The README shows every kind; `alarms/rules.example.yaml` is a working example.
"""

from __future__ import annotations

import datetime as dt
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from stackledger.alarms.schedule import Cron, TimeWindow, parse_duration
from stackledger.errors import ConfigError

Comparison = Literal["lt", "le", "eq", "ne", "ge", "gt"]
Severity = Literal["low", "moderate", "critical"]
Scope = Literal["project", "team", "total"]

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
_CURRENCY = r"^[A-Z]{3}$"
STORE_AGGREGATIONS = ("mean", "sum", "max", "min", "count")
# Gnocchi's aggregation methods: the basic ones, percentiles (95pct) and rate:<method>.
_GNOCCHI_AGGREGATION = re.compile(r"^(rate:)?(mean|sum|last|max|min|std|median|first|count|\d{1,2}pct)$")


class RuleError(ConfigError):
    """A rules file is wrong. `problems` holds (rule, field, message) for every problem found."""

    def __init__(self, file: str, problems: Sequence[tuple[str, str, str]]) -> None:
        self.problems = list(problems)
        self.rule, self.field = (self.problems[0][0], self.problems[0][1]) if self.problems else ("", "")
        lines = [f"rule {rule!r}: field {field!r}: {message}" if field else f"rule {rule!r}: {message}"
                 for rule, field, message in self.problems]  # fmt: skip
        count = f"{len(lines)} problems" if len(lines) > 1 else "1 problem"
        super().__init__(f"{count} in alarm rules:\n  " + "\n  ".join(lines), file=file)


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


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: 10,000 rules parse in a second, not ten
Rule = BudgetRule | MetricThresholdRule | CostAnomalyRule | CompositeRule
_RULE: TypeAdapter[Rule] = TypeAdapter(Annotated[Rule, Field(discriminator="kind")])
_DEFAULT_KEYS = {"notify", "ok_notify", "insufficient_data_notify", "severity", "repeat_actions", "time_constraints",
                 "price_book", "currency", "snooze_until"}  # fmt: skip
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


def load_rules(path: str | Path, *, notifiers: Iterable[str] | None = None) -> RuleSet:
    """Read and validate a rules file. `notifiers`: the valid notifier names (default: the registry)."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read alarm rules: {exc.strerror}", file=file) from None
    return parse_rules(text, file=file, notifiers=notifiers)


def parse_rules(text: str, *, file: str = "<rules>", notifiers: Iterable[str] | None = None) -> RuleSet:
    try:
        document = yaml.load(text, Loader=_LOADER)  # noqa: S506 (a safe loader, libyaml's when installed)
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", file=file) from None
    if not isinstance(document, dict) or not isinstance(document.get("rules"), list):
        raise ConfigError("expected a mapping with a `rules:` list (and optional `defaults:`)", file=file)
    unknown = set(document) - {"rules", "defaults"}
    if unknown:
        raise ConfigError(f"unknown top-level keys {sorted(unknown)} (expected rules, defaults)", file=file)
    defaults = document.get("defaults") or {}
    if not isinstance(defaults, dict) or set(defaults) - _DEFAULT_KEYS:
        bad = sorted(set(defaults) - _DEFAULT_KEYS) if isinstance(defaults, dict) else "not a mapping"
        raise ConfigError(f"`defaults` may set {sorted(_DEFAULT_KEYS)}; got {bad}", file=file)
    problems: list[tuple[str, str, str]] = []
    rules: list[Rule] = []
    for index, raw in enumerate(document["rules"]):
        rule, errors = _validate(raw, index, defaults)
        problems.extend(errors)
        if rule is not None:
            rules.append(rule)
    problems.extend(_cross_check(rules, document["rules"], defaults, notifiers))
    if problems:
        raise RuleError(file, problems)
    return RuleSet(file, tuple(rules))


def _validate(raw: Any, index: int, defaults: Mapping[str, Any]) -> tuple[Rule | None, list[tuple[str, str, str]]]:
    if not isinstance(raw, dict):
        return None, [(f"#{index + 1}", "", "expected a mapping")]
    label = str(raw.get("name") or f"#{index + 1}")
    model = KINDS.get(str(raw.get("kind")))
    merged = dict(raw)
    if model is not None:
        for key, value in defaults.items():
            if key not in merged and key in model.model_fields:
                merged[key] = value
    try:
        return _RULE.validate_python(merged), []
    except ValidationError as exc:
        return None, [(label, *_describe(error)) for error in exc.errors()]


def _describe(error: Mapping[str, Any]) -> tuple[str, str]:
    loc = [str(part) for part in error["loc"]]
    if error["type"] in ("union_tag_not_found", "union_tag_invalid"):
        return "kind", f"expected one of {', '.join(KINDS)}"
    loc = loc[1:] if loc and loc[0] in KINDS else loc  # drop the discriminator tag
    field = ".".join(loc)
    if error["type"] == "extra_forbidden":
        return field, "unknown field"
    message = str(error["msg"]).removeprefix("Value error, ")
    shown = "input" in error and not isinstance(error["input"], dict | list) and error["type"] != "missing"
    if shown and repr(error["input"]) not in message:
        message += f" (got {error['input']!r})"
    return field, message


def _cross_check(
    rules: Sequence[Rule], raw: Sequence[Any], defaults: Mapping[str, Any], notifiers: Iterable[str] | None
) -> list[tuple[str, str, str]]:
    problems: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    for rule in rules:
        if rule.name in seen:
            problems.append((rule.name, "name", "another rule has this name"))
        seen.add(rule.name)
    by_name = {rule.name: rule for rule in rules}
    valid = set(notifiers) if notifiers is not None else _registry_names()
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            continue
        for field in ("notify", "ok_notify", "insufficient_data_notify"):
            names = item.get(field, defaults.get(field))
            for name in names if isinstance(names, list) else []:
                if name not in valid:
                    label = str(item.get("name") or f"#{index + 1}")
                    problems.append((label, field, f"unknown notifier {name!r}; valid: {', '.join(sorted(valid))}"))
    invalid = {str(item.get("name")) for item in raw if isinstance(item, dict)} - set(by_name)
    for rule in rules:
        if isinstance(rule, CompositeRule):
            problems.extend((rule.name, "and" if rule.and_ is not None else "or", message)
                            for message in _ref_problems(rule, by_name, invalid))  # fmt: skip
    return problems


def _ref_problems(rule: CompositeRule, by_name: Mapping[str, Rule], invalid: set[str]) -> list[str]:
    """`invalid`: names of rules that failed validation (already reported, not 'unknown')."""
    problems = []
    for ref in rule.refs():
        target = by_name.get(ref.rule)
        if target is None and ref.rule in invalid:
            continue
        if target is None:
            problems.append(f"refers to unknown rule {ref.rule!r}")
        elif isinstance(target, BudgetRule):
            labels = [t.label for t in target.thresholds]
            if ref.threshold and ref.threshold not in labels:
                problems.append(f"budget {ref.rule!r} has no threshold {ref.threshold!r}; it has {labels}")
            elif not ref.threshold and len(labels) > 1:
                count = len(labels)
                problems.append(f"budget {ref.rule!r} has {count} thresholds: name one with `threshold:` ({labels})")
        elif ref.threshold:
            problems.append(f"`threshold` is only for budget rules, and {ref.rule!r} is a {target.kind}")
    if _cycle(rule.name, by_name, []):
        problems.append("composite rules refer to each other in a cycle")
    return problems


def _cycle(name: str, by_name: Mapping[str, Rule], path: list[str]) -> bool:
    if name in path:
        return True
    rule = by_name.get(name)
    if not isinstance(rule, CompositeRule):
        return False
    return any(_cycle(ref.rule, by_name, [*path, name]) for ref in rule.refs())


def _registry_names() -> set[str]:
    from stackledger.alarms.notifiers import REGISTRY  # late: the notifier modules import their clients

    return set(REGISTRY)
