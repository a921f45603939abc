"""Rule files: validated whole on load; every problem names the file, the rule and the field."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from stackledger.alarms import RuleError, load_rules, parse_rules
from stackledger.alarms.rule_checks import check_configured, unconfigured
from stackledger.alarms.rules import BudgetRule, CompositeRule, MetricThresholdRule, Op, Ref
from stackledger.errors import ConfigError
from stackledger.settings import Settings, load_settings

EXAMPLE = Path(__file__).resolve().parents[2] / "alarms" / "rules.example.yaml"
NOTIFIERS = ["log", "email", "webhook", "kafka", "slack"]


def problems(text: str) -> list[tuple[str, str, str]]:
    with pytest.raises(RuleError) as caught:
        parse_rules(text, file="rules.yaml", notifiers=NOTIFIERS)
    return caught.value.problems


def test_the_packaged_example_is_valid() -> None:
    rules = load_rules(EXAMPLE)
    assert [r.kind for r in rules.rules].count("budget") == 2
    composite = rules.get("spike-while-over-forecast")
    assert isinstance(composite, CompositeRule)
    assert composite.expression == Op("and", (Ref("cost-spike"), Op("or", (
        Ref("project-budgets", "forecast 100%"), Ref("vcpu-hot")))))  # fmt: skip


def test_defaults_apply_where_the_kind_has_the_field() -> None:
    rules = parse_rules("""
defaults: {notify: [email], currency: EUR, severity: critical}
rules:
  - {name: b, kind: budget, amount: 10, thresholds: [{at: 50%}]}
  - {name: m, kind: metric_threshold, metric: compute.vcpu, comparison: gt, threshold: 1, notify: [log]}
""", notifiers=NOTIFIERS)  # fmt: skip
    budget, metric = rules.get("b"), rules.get("m")
    assert isinstance(budget, BudgetRule) and budget.currency == "EUR" and budget.notify == ["email"]
    assert isinstance(metric, MetricThresholdRule) and metric.notify == ["log"] and metric.severity == "critical"
    assert budget.actions("alarm", ["log"]) == ("email",) and budget.actions("ok", ["log"]) == ()


def test_threshold_labels_and_snooze_in_utc() -> None:
    rules = parse_rules("""
rules:
  - name: b
    kind: budget
    thresholds: [{at: " 80 %"}, {at: 1200.50, basis: forecast}]
    snooze_until: 2026-12-01T01:00:00+01:00
""", notifiers=NOTIFIERS)  # fmt: skip
    budget = rules.get("b")
    assert isinstance(budget, BudgetRule)
    assert [t.label for t in budget.thresholds] == ["actual 80%", "forecast 1200.5"]
    assert budget.snooze_until == dt.datetime(2026, 12, 1, 0, 0)


BROKEN = [
    ("bad percentage", "{name: b, kind: budget, thresholds: [{at: eighty}]}", ("b", "thresholds.0.at")),
    ("unknown field", "{name: b, kind: budget, thresholds: [{at: 1%}], amout: 3}", ("b", "amout")),
    ("amount without currency", "{name: b, kind: budget, amount: 3, thresholds: [{at: 1%}]}", ("b", "")),
    ("no thresholds", "{name: b, kind: budget, thresholds: []}", ("b", "thresholds")),
    ("unknown kind", "{name: x, kind: magic}", ("x", "kind")),
    ("missing name", "{kind: budget, thresholds: [{at: 1%}]}", ("#1", "name")),
    ("bad comparison", "{name: m, kind: metric_threshold, metric: x, comparison: bigger, threshold: 1}",
     ("m", "comparison")),
    ("store granularity", "{name: m, kind: metric_threshold, metric: x, comparison: gt, threshold: 1, granularity: 60}",
     ("m", "")),
    ("gnocchi aggregation", "{name: m, kind: metric_threshold, source: gnocchi, metric: x, comparison: gt, "
     "threshold: 1, aggregation: average}", ("m", "")),
    ("bad cron", "{name: a, kind: cost_anomaly, min_impact: 1, time_constraints: [{start: '0 25 * * *', "
     "duration: 60}]}", ("a", "time_constraints.0.start")),
    ("bad zone", "{name: a, kind: cost_anomaly, min_impact: 1, time_constraints: [{start: '0 8 * * *', "
     "duration: 1h, timezone: Mars/Olympus}]}", ("a", "time_constraints.0.timezone")),
    ("unknown notifier", "{name: a, kind: cost_anomaly, min_impact: 1, notify: [pager]}", ("a", "notify")),
    ("anomaly needs min_impact", "{name: a, kind: cost_anomaly}", ("a", "min_impact")),
]  # fmt: skip


@pytest.mark.parametrize(("case", "rule", "where"), BROKEN, ids=[c[0] for c in BROKEN])
def test_problems_name_the_rule_and_field(case: str, rule: str, where: tuple[str, str]) -> None:
    found = problems(f"rules:\n  - {rule}\n")
    assert (found[0][0], found[0][1]) == where, found


def test_the_error_names_file_rule_and_field_and_lists_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "alarms.yaml"
    path.write_text("""
rules:
  - {name: fine, kind: budget, amount: 10, currency: EUR, thresholds: [{at: 80%}]}
  - {name: broken, kind: budget, thresholds: [{at: 80%, basis: hindsight}]}
  - {name: loose, kind: composite, or: [{rule: fine}, {rule: ghost}]}
""")  # fmt: skip
    with pytest.raises(RuleError) as caught:
        load_rules(path, notifiers=NOTIFIERS)
    error = caught.value
    assert isinstance(error, ConfigError)
    assert (error.file, error.rule, error.field) == (str(path), "broken", "thresholds.0.basis")
    text = str(error)
    assert str(path) in text and "2 problems" in text
    assert "rule 'broken': field 'thresholds.0.basis'" in text
    assert "rule 'loose': field 'or': refers to unknown rule 'ghost'" in text


def test_composite_references_are_checked() -> None:
    base = """
rules:
  - {name: b, kind: budget, amount: 10, currency: EUR, thresholds: [{at: 80%}, {at: 100%, basis: forecast}]}
  - {name: a, kind: cost_anomaly, min_impact: 1}
"""
    found = problems(base + "  - {name: c, kind: composite, and: [{rule: b}, {rule: a}]}\n")
    assert found[0][:2] == ("c", "and") and "name one with `threshold:`" in found[0][2]
    found = problems(base + "  - {name: c, kind: composite, and: [{rule: b, threshold: actual 90%}]}\n")
    assert "has no threshold 'actual 90%'" in found[0][2]
    found = problems(base + "  - {name: c, kind: composite, and: [{rule: a, threshold: x}]}\n")
    assert "only for budget rules" in found[0][2]
    found = problems(base + "  - {name: c, kind: composite, and: [{rule: a}], or: [{rule: a}]}\n")
    assert "exactly one of" in found[0][2]
    found = problems(base + "  - {name: c, kind: composite, and: [{rule: d}]}\n  - {name: d, kind: composite, "
                     "or: [{rule: c}]}\n")  # fmt: skip
    assert any("cycle" in message for _, _, message in found)
    found = problems(base + "  - {name: a, kind: cost_anomaly, min_impact: 2}\n")
    assert found == [("a", "name", "another rule has this name")]


@pytest.mark.parametrize(("text", "message"), [
    ("rules: nope\n", "expected a mapping with a `rules:` list"),
    ("rules: [\n", "not valid YAML"),
    ("rules: []\nextra: 1\n", "unknown top-level keys"),
    ("defaults: {amount: 3}\nrules: []\n", "`defaults` may set"),
])  # fmt: skip
def test_file_level_problems(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_rules(text, file="rules.yaml", notifiers=NOTIFIERS)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read alarm rules"):
        load_rules(tmp_path / "absent.yaml")


def test_a_store_metric_must_be_a_usage_service() -> None:
    found = problems(
        "rules:\n  - {name: m, kind: metric_threshold, metric: compute.vcpus, comparison: gt, threshold: 1}\n"
    )
    assert found[0][0] == "m" and "metric 'compute.vcpus' is not a usage service" in found[0][2]


RULES_USING_EVERYTHING = """
defaults: {notify: [log]}
rules:
  - {name: spend, kind: budget, thresholds: [{at: 80%}], notify: [log, email], ok_notify: [webhook]}
  - {name: cpu, kind: metric_threshold, source: gnocchi, metric: cpu, comparison: gt, threshold: 90}
  - {name: do-spike, kind: cost_anomaly, min_impact: 5, price_book: digitalocean}
  - {name: quiet, kind: cost_anomaly, min_impact: 5, notify: []}
"""


def test_rules_the_settings_cannot_run_are_named_with_their_field() -> None:
    rules = parse_rules(RULES_USING_EVERYTHING, file="rules.yaml", notifiers=NOTIFIERS)
    bare = load_settings(None, {"STACKLEDGER__BASELINES__PROVIDERS": '["aws"]'})
    found = unconfigured(rules, bare)
    assert [(rule, field) for rule, field, _ in found] == [
        ("spend", "notify"), ("spend", "ok_notify"), ("cpu", "source"), ("do-spike", "price_book"),
    ]  # fmt: skip
    assert "email is not configured" in found[0][2] and "set gnocchi.url" in found[2][2]
    with pytest.raises(RuleError, match="4 problems"):
        check_configured(rules, bare)


def test_rules_run_once_their_notifiers_and_sources_are_configured() -> None:
    rules = parse_rules(RULES_USING_EVERYTHING, file="rules.yaml", notifiers=NOTIFIERS)
    configured = Settings.model_validate({
        "alarms": {"notifiers": {"email": {"recipients": ["ops@example.org"]}, "webhook": {"url": "http://127.0.0.1:9"}}},
        "gnocchi": {"url": "http://127.0.0.1:8041"},
    })  # fmt: skip
    assert unconfigured(rules, configured) == []
    # with no defaults in the file, the settings' alarms.default_notify stands in, and is named so
    plain = parse_rules("rules:\n  - {name: b, kind: budget, thresholds: [{at: 1%}]}\n", notifiers=NOTIFIERS)
    emailing = load_settings(None, {"STACKLEDGER__ALARMS__DEFAULT_NOTIFY": '["email"]'})
    assert [(r, f) for r, f, _ in unconfigured(plain, emailing)] == [("b", "notify (alarms.default_notify)")]
