"""`stackledger alarms` end to end on SQLite and PostgreSQL: check-rules, evaluate (usage from the
store and cost budgets), list, history, and a re-run of the same instant that sends nothing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from stackledger.alarms.metrics import StoreUsageReader
from stackledger.alarms.rules import MetricThresholdRule
from stackledger.cli import main
from stackledger.pipeline import store_for
from stackledger.settings import Settings
from stackledger.store import tables

EXAMPLE = Path(__file__).resolve().parents[2] / "alarms" / "rules.example.yaml"
AT = dt.datetime(2026, 10, 15, 12, 0)
HOUR = dt.timedelta(hours=1)
RULES = """
rules:
  - name: vcpu-hot
    kind: metric_threshold
    metric: compute.vcpu
    aggregation: sum
    group_by: project
    comparison: gt
    threshold: 6
    granularity: 3600
    evaluation_periods: 3
  - name: budgets
    kind: budget
    scope: project
    thresholds: [{at: 50%}]
    notify: [log]
"""


def usage_row(
    project: str, resource: str, start: dt.datetime, vcpus: float, source: str = "ceilometer"
) -> dict[str, Any]:
    return {
        "charge_period_start": start, "charge_period_end": start + HOUR, "project_id": project,
        "resource_id": resource, "resource_type": "instance", "service": "compute.vcpu", "consumed_quantity": vcpus,
        "consumed_unit": "vcpu-hour", "flavor_name": "m1.large", "source": source,
    }  # fmt: skip


def cost_row(project: str, day: int, cost: str) -> dict[str, Any]:
    start = dt.datetime(2026, 10, day)
    return {
        "charge_period_start": start, "charge_period_end": start + dt.timedelta(days=1), "project_id": project,
        "resource_id": f"{project}-vm", "resource_type": "instance", "service": "compute.instance",
        "flavor_name": "m1.large", "consumed_quantity": 24.0, "consumed_unit": "hour", "price_book": "internal",
        "sku": "m1.large", "list_unit_price": Decimal(cost) / 24, "pricing_quantity": Decimal(24),
        "pricing_unit": "hour", "cost": Decimal(cost), "currency": "EUR",
    }  # fmt: skip


@pytest.fixture
def seeded(any_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    rules = tmp_path / "alarms.yaml"
    rules.write_text(RULES)
    monkeypatch.delenv("STACKLEDGER_CONFIG", raising=False)
    monkeypatch.setenv("STACKLEDGER__DATABASE__URL", any_settings.database.url)
    monkeypatch.setenv("STACKLEDGER__ALARMS__RULES", str(rules))
    store = store_for(any_settings)
    hours = [AT - (4 - i) * HOUR for i in range(4)]
    usage = [usage_row("p-hot", r, t, 4.0) for t in hours for r in ("vm-1", "vm-2")]  # 8 vCPU per hour
    usage += [usage_row("p-cool", "vm-3", t, 2.0) for t in hours]
    usage += [usage_row("p-cool", "vm-3", AT - 8 * HOUR, 50.0)]  # too old to count
    # The same hours as Gnocchi saw them: not the usage source rating reads (usage.source: ceilometer).
    usage += [usage_row("p-hot", "vm-1", t, 100.0, source="gnocchi") for t in hours]
    with store.transaction() as conn:
        store.insert(conn, tables.usage, usage)
        store.insert(conn, tables.projects, [
            {"project_id": "p-hot", "name": "hot", "team": "a", "budget_amount": Decimal(100),
             "budget_currency": "EUR", "budget_period": "month", "source": "test"},
            {"project_id": "p-cool", "name": "cool", "team": "a", "budget_amount": None, "budget_currency": None,
             "budget_period": None, "source": "test"},
        ])  # fmt: skip
        store.insert(conn, tables.cost_lines, [cost_row("p-hot", d, "5.00") for d in range(1, 15)])
    return any_settings


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["alarms", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_check_rules(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "check-rules", str(EXAMPLE))  # the shipped example runs with the default settings
    assert code == 0, out
    assert "5 rules OK (2 budget, 1 composite, 1 cost_anomaly, 1 metric_threshold; notifiers, sources" in out
    broken = tmp_path / "broken.yaml"
    broken.write_text("rules:\n  - {name: b, kind: budget, thresholds: [{at: 80%, basis: guess}]}\n")
    code, _, err = run(capsys, "check-rules", str(broken))
    assert code == 2
    assert f"file {broken}" in err and "rule 'b': field 'thresholds.0.basis'" in err


def test_check_rules_reports_unconfigured_notifiers_and_sources_naming_the_rule(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("""\
rules:
  - {name: spend, kind: budget, thresholds: [{at: 80%}], notify: [log, email]}
  - {name: quiet, kind: cost_anomaly, min_impact: 5, ok_notify: [webhook]}
  - {name: cpu, kind: metric_threshold, source: gnocchi, metric: cpu, comparison: gt, threshold: 90}
  - {name: aws-spend, kind: budget, price_book: aws, amount: 10, currency: EUR, thresholds: [{at: 1%}]}
""")  # fmt: skip
    config = tmp_path / "cloud.yaml"
    database = f"sqlite:///{tmp_path / 'db.sqlite'}"
    config.write_text(f"database: {{url: '{database}'}}\nbaselines: {{providers: [digitalocean]}}\n")
    code = main(["--config", str(config), "alarms", "check-rules", str(rules)])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert f"file {rules}: 4 problems in alarm rules" in err
    assert "rule 'spend': field 'notify': notifier 'email': email is not configured" in err
    assert "rule 'quiet': field 'ok_notify': notifier 'webhook': webhook is not configured" in err
    assert "rule 'cpu': field 'source': source gnocchi is not configured: set gnocchi.url" in err
    assert "rule 'aws-spend': field 'price_book': price book 'aws' is not rated" in err
    # the file alone is fine, and says that is all it checked
    code = main(["--config", str(config), "alarms", "check-rules", "--syntax-only", str(rules)])
    out = capsys.readouterr().out
    assert code == 0 and "4 rules OK (2 budget, 1 cost_anomaly, 1 metric_threshold; file only)" in out
    # and evaluate refuses the same rules before reading or writing anything
    code = main(["--config", str(config), "alarms", "evaluate", "--rules", str(rules), "--at", "2026-10-15T00:00:00Z"])
    assert code == 2 and "rule 'spend': field 'notify': notifier 'email'" in capsys.readouterr().err


def test_evaluate_list_history_and_rerun(seeded: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "evaluate", "--at", "2026-10-15T14:00:00+02:00")  # = AT in UTC
    assert code == 0, out
    assert out.splitlines()[0] == "2026-10-15T12:00:00Z: 2 rules, 3 alarms evaluated (2 alarm, 1 ok)"
    assert "3 transitions, 2 notifications, 2 deliveries sent, 0 failed, 0 snoozed" in out
    assert "vcpu-hot project hot [p-hot]: insufficient_data → alarm via log: sent" in out
    assert "budgets [actual 50%] project hot [p-hot]: insufficient_data → alarm via log: sent" in out  # 70 > 50

    code, out, _ = run(capsys, "evaluate", "--at", "2026-10-15T12:00:00Z")
    assert code == 0 and "0 alarms evaluated" in out and "0 transitions, 0 notifications" in out

    code, out, _ = run(capsys, "list", "--state", "alarm")
    lines = out.splitlines()
    assert len(lines) == 3 and "vcpu-hot" in out and "budgets" in out and "p-cool" not in out
    assert all("project hot [p-hot]" in line for line in lines[1:])  # the name, then the id in brackets

    code, out, _ = run(capsys, "history", "--rule", "vcpu-hot")
    rows = [line for line in out.splitlines()[1:]]
    assert len(rows) == 3  # p-hot and p-cool transitions, one notification
    assert any("notification" in row and "log" in row and "sent" in row for row in rows)


def test_store_usage_reader_sums_resources_then_aggregates_buckets(seeded: Settings) -> None:
    reader = StoreUsageReader(store_for(seeded), seeded.usage.source)  # ceilometer: Gnocchi's rows not added
    rule = MetricThresholdRule.model_validate({
        "name": "r", "kind": "metric_threshold", "metric": "compute.vcpu", "aggregation": "max",
        "group_by": "project", "comparison": "gt", "threshold": 1, "granularity": 7200,
    })  # fmt: skip
    found = reader.read(rule, AT - 4 * HOUR, AT)
    assert found.series["project:p-hot"] == [(AT - 4 * HOUR, 8.0), (AT - 2 * HOUR, 8.0)]
    per_resource = reader.read(rule.model_copy(update={"group_by": "resource", "aggregation": "sum"}),
                               AT - 4 * HOUR, AT)  # fmt: skip
    assert per_resource.series["resource:vm-1"] == [(AT - 4 * HOUR, 8.0), (AT - 2 * HOUR, 8.0)]
    total = reader.read(rule.model_copy(update={"group_by": "total", "aggregation": "mean", "projects": ["p-cool"]}),
                        AT - 4 * HOUR, AT)  # fmt: skip
    assert total.series == {"total": [(AT - 4 * HOUR, 2.0), (AT - 2 * HOUR, 2.0)]}
    gnocchi = StoreUsageReader(store_for(seeded), "gnocchi").read(rule, AT - 4 * HOUR, AT)
    assert gnocchi.series == {"project:p-hot": [(AT - 4 * HOUR, 100.0), (AT - 2 * HOUR, 100.0)]}
