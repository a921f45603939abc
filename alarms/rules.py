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

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import Field, TypeAdapter, ValidationError

from stackledger.alarms.rule_models import (
    KINDS,
    STORE_AGGREGATIONS,
    BudgetRule,
    BudgetThreshold,
    Comparison,
    CompositeRule,
    CostAnomalyRule,
    MetricThresholdRule,
    Op,
    Ref,
    Rule,
    RuleSet,
    Scope,
    Severity,
    TimeConstraint,
)
from stackledger.errors import ConfigError

__all__ = [
    "KINDS", "STORE_AGGREGATIONS", "BudgetRule", "BudgetThreshold", "Comparison", "CompositeRule", "CostAnomalyRule",
    "MetricThresholdRule", "Op", "Ref", "Rule", "RuleError", "RuleSet", "Scope", "Severity", "TimeConstraint",
    "load_rules", "parse_rules",
]  # fmt: skip


class RuleError(ConfigError):
    """A rules file is wrong. `problems` holds (rule, field, message) for every problem found."""

    def __init__(self, file: str, problems: Sequence[tuple[str, str, str]]) -> None:
        self.problems = list(problems)
        self.rule, self.field = (self.problems[0][0], self.problems[0][1]) if self.problems else ("", "")
        lines = [f"rule {rule!r}: field {field!r}: {message}" if field else f"rule {rule!r}: {message}"
                 for rule, field, message in self.problems]  # fmt: skip
        count = f"{len(lines)} problems" if len(lines) > 1 else "1 problem"
        super().__init__(f"{count} in alarm rules:\n  " + "\n  ".join(lines), file=file)


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: 10,000 rules parse in a second, not ten
_RULE: TypeAdapter[Rule] = TypeAdapter(Annotated[Rule, Field(discriminator="kind")])
_DEFAULT_KEYS = {"notify", "ok_notify", "insufficient_data_notify", "severity", "repeat_actions", "time_constraints",
                 "price_book", "currency", "snooze_until"}  # fmt: skip


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
        raise ConfigError.invalid_yaml(exc, file=file) from None
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
