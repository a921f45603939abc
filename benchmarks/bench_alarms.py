"""Alarm engine: 10,000 rules over a month of daily cost for 2,000 projects (target ≤ 5 s).

Per project, five rules: a fixed budget (80% actual, 100% forecast), the project's own budget
from the projects table (80% actual), a 1-day and a 3-day cost anomaly, and a composite
(anomaly and forecast) — 10,000 rules, 12,000 alarms. October is rated day by day; the
evaluation is at 2026-10-31 00:00, so forecasts, anomalies and composites all have data.

Figures (one JSON line each):
- `engine_s`: the pure evaluation (rules, snapshot, previous states) → states (the target);
- `rules_load_s`: parsing and validating the 10,000-rule YAML file (mostly PyYAML, even with libyaml);
- `engine_scoped_s`: the same 12,000 alarms from 5 rules with `scope: project` and no `select`;
- `pipeline_s`: `evaluate_alarms` on SQLite — snapshot query, engine, states and history in
  one transaction (notifications go nowhere: `notify: []`), and `rerun_s` for the same instant.
"""

from __future__ import annotations

import datetime as dt
import random
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from benchmarks.common import emit, peak_rss_mib, timed
from stackledger.alarms import Snapshot, evaluate, load_rules, parse_rules
from stackledger.pipeline import store_for
from stackledger.pipeline.alarms import evaluate_alarms, options_from
from stackledger.settings import load_settings
from stackledger.store import tables

PROJECTS = 2000
TEAMS = 40
AT = dt.datetime(2026, 10, 31)
DAYS = [dt.date(2026, 10, d) for d in range(1, 31)]
TARGET_S = 5.0


def projects() -> list[dict[str, Any]]:
    return [{"project_id": f"p{i:04d}", "name": f"project-{i}", "team": f"team-{i % TEAMS}",
             "budget_amount": Decimal(1000 + 10 * (i % 50)), "budget_currency": "EUR", "budget_period": "month",
             "source": "bench"} for i in range(PROJECTS)]  # fmt: skip


def daily_cost(rng: random.Random) -> pd.DataFrame:
    rows = []
    for i in range(PROJECTS):
        base = rng.uniform(10, 60)
        for day in DAYS:
            spike = 8 if (i % 17 == 0 and day.day == 30) else 1
            rows.append((pd.Timestamp(day), f"p{i:04d}", "internal", "EUR",
                         Decimal(str(round(base * rng.uniform(0.9, 1.1) * spike, 6)))))  # fmt: skip
    return pd.DataFrame(rows, columns=["day", "project_id", "price_book", "currency", "cost"])


def rules_document() -> dict[str, Any]:
    rules: list[dict[str, Any]] = []
    for i in range(PROJECTS):
        p = f"p{i:04d}"
        rules += [
            {"name": f"{p}-budget", "kind": "budget", "select": [p], "amount": 1200, "currency": "EUR",
             "thresholds": [{"at": "80%"}, {"at": "100%", "basis": "forecast"}]},
            {"name": f"{p}-own-budget", "kind": "budget", "select": [p], "thresholds": [{"at": "80%"}]},
            {"name": f"{p}-spike", "kind": "cost_anomaly", "select": [p], "min_impact": 20},
            {"name": f"{p}-spike-3d", "kind": "cost_anomaly", "select": [p], "min_impact": 5, "z_threshold": 3,
             "evaluation_periods": 3, "window_days": 10},
            {"name": f"{p}-spike-over-forecast", "kind": "composite",
             "and": [{"rule": f"{p}-spike"}, {"rule": f"{p}-budget", "threshold": "forecast 100%"}]},
        ]  # fmt: skip
    return {"defaults": {"notify": []}, "rules": rules}


def scoped_document() -> dict[str, Any]:
    """The same 12,000 alarms from five rules with `scope: project` and no `select`."""
    return {"defaults": {"notify": []}, "rules": [
        {"name": "budget", "kind": "budget", "amount": 1200, "currency": "EUR",
         "thresholds": [{"at": "80%"}, {"at": "100%", "basis": "forecast"}]},
        {"name": "own-budget", "kind": "budget", "thresholds": [{"at": "80%"}]},
        {"name": "spike", "kind": "cost_anomaly", "min_impact": 20},
        {"name": "spike-3d", "kind": "cost_anomaly", "min_impact": 5, "z_threshold": 3, "evaluation_periods": 3,
         "window_days": 10},
        {"name": "spike-over-forecast", "kind": "composite",
         "and": [{"rule": "spike"}, {"rule": "budget", "threshold": "forecast 100%"}]},
    ]}  # fmt: skip


def main() -> None:
    rng = random.Random(20261031)
    with tempfile.TemporaryDirectory() as tmp:
        rules_file = Path(tmp) / "alarms.yaml"
        rules_file.write_text(yaml.safe_dump(rules_document(), sort_keys=False))
        with timed() as load:
            rules = load_rules(rules_file)
        assert len(rules) == 10_000
        emit("alarms", "rules_load_s", load.seconds, "s", rules=len(rules))

        cost, inventory = daily_cost(rng), pd.DataFrame(projects())
        settings = load_settings(None, {"STACKLEDGER__DATABASE__URL": f"sqlite:///{tmp}/bench.db",
                                        "STACKLEDGER__ALARMS__RULES": str(rules_file)})  # fmt: skip
        snapshot = Snapshot(AT, dt.date(2026, 9, 23), cost, inventory)
        with timed() as engine:
            result = evaluate(rules, snapshot, {}, options_from(settings))
        states = pd.Series([s.state for s in result.states.values()]).value_counts().to_dict()
        emit("alarms", "engine_s", engine.seconds, "s", rules=len(rules), projects=PROJECTS, days=len(DAYS),
             alarms=len(result.states), transitions=len(result.transitions), states=states, target_s=TARGET_S,
             within_target=engine.seconds <= TARGET_S)  # fmt: skip

        scoped = parse_rules(yaml.safe_dump(scoped_document()), file="scoped")
        with timed() as few:
            scoped_result = evaluate(scoped, snapshot, {}, options_from(settings))
        emit("alarms", "engine_scoped_s", few.seconds, "s", rules=len(scoped), alarms=len(scoped_result.states))

        store = store_for(settings)
        with store.transaction() as conn:
            store.insert(conn, tables.projects, projects())
            store.insert(conn, tables.cost_lines, cost_lines(cost))
        with timed() as pipeline:
            first = evaluate_alarms(settings, AT, rules=rules)
        emit("alarms", "pipeline_s", pipeline.seconds, "s", database="sqlite", alarms=first.evaluated,
             transitions=first.transitions, peak_rss_mib=round(peak_rss_mib(), 1))  # fmt: skip
        with timed() as rerun:
            second = evaluate_alarms(settings, AT, rules=rules)
        assert second.evaluated == 0 and second.notifications == 0
        emit("alarms", "rerun_s", rerun.seconds, "s", database="sqlite", alarms=second.evaluated)


def cost_lines(cost: pd.DataFrame) -> list[dict[str, Any]]:
    """One internal cost line per project and day: what the snapshot query sums."""
    return [{
        "charge_period_start": day.to_pydatetime(), "charge_period_end": day.to_pydatetime() + dt.timedelta(days=1),
        "project_id": project, "resource_id": f"{project}-vm", "resource_type": "instance",
        "service": "compute.instance", "flavor_name": "m1.large", "consumed_quantity": 24.0, "consumed_unit": "hour",
        "price_book": book, "sku": "m1.large", "list_unit_price": amount / 24, "pricing_quantity": Decimal(24),
        "pricing_unit": "hour", "cost": amount, "currency": currency,
    } for day, project, book, currency, amount in cost.itertuples(index=False)]  # fmt: skip


if __name__ == "__main__":
    main()
