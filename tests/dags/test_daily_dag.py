"""`stackledger_daily` end to end with `dag.test()` on real Airflow 3 and SQLite, on the synthetic
cloud collected for the day (through the pipeline; test_collect_dag runs the collect DAG itself).

The run rates the day before its logical date, re-rates a day late samples marked, evaluates the
alarms at the day's end; a second run of the same day changes no total and notifies nobody again.
A day without a price fails the rating task at once (PricingError: no retry) and nothing after it runs.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy import select

from stackledger.pipeline.base import store_for
from stackledger.pipeline.collect import collect_range
from stackledger.pipeline.completeness import check_complete
from stackledger.store import tables
from stackledger.window import Window
from tests.dags.conftest import UTC, Deployment, states, totals, tries

D = dt.datetime
RULES = """
rules:
  - name: project-budgets
    kind: budget
    scope: project
    thresholds: [{at: 1%}]
    notify: [log]
"""
RUN_AT = D(2026, 10, 15, 2, tzinfo=UTC)  # the 02:00 run of the 15th rates the 14th
DAY = Window(D(2026, 10, 14), D(2026, 10, 15))


def collected_days(deployment: Deployment, start: int, end: int) -> None:
    """What the hourly DAG would have stored for those days (checkpointed: settled long ago)."""
    window = Window(D(2026, 10, start), D(2026, 10, end))
    assert all(r.complete for r in collect_range(deployment.settings, ["synthetic"], window))


def config(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    rules = tmp_path / "alarms.yaml"
    rules.write_text(RULES)
    return {"usage": {"source": "synthetic"}, "airflow": {"sources": ["synthetic"]}, "alarms": {"rules": str(rules)},
            **extra}  # fmt: skip


def test_rates_yesterday_rerates_late_days_and_alarms_once(dag_of: Any, deploy: Any, tmp_path: Path) -> None:
    deployment = deploy(config(tmp_path))
    collected_days(deployment, 13, 15)
    store = store_for(deployment.settings)
    with store.transaction() as conn:  # a late sample marked the 13th (as ingest does)
        store.insert(conn, tables.rerate_days, [{"day": dt.date(2026, 10, 13), "marked_at": D(2026, 10, 14, 23)}])
    dag = dag_of("stackledger_daily")

    run = dag.test(logical_date=RUN_AT)
    assert states(run) == {"wait_collected": "success", "plan_rating": "success", "rate_usage[0]": "success",
                           "rate_month[0]": "success", "finish_rating": "success", "rate_late": "success",
                           "retention": "success", "evaluate_alarms": "success"}  # fmt: skip
    first = totals(deployment.settings)
    books = {book for book, *_ in first["cost"]}
    assert books == {"internal", "aws", "digitalocean"}
    with store.engine.connect() as conn:
        days = set(conn.execute(select(tables.cost_lines.c.charge_period_start).distinct()).scalars())
        assert conn.execute(select(tables.rerate_days)).all() == []
    assert days == {D(2026, 10, 13), D(2026, 10, 14)}  # the day, and the late day
    assert first["alarm_history"] > 0 and first["notifications"] > 0
    assert check_complete(deployment.settings, DAY, ["synthetic"]).complete

    again = dag.test(logical_date=RUN_AT)
    assert str(again.state) == "success"
    assert totals(deployment.settings) == first  # same cost lines, no new transitions or notifications


def test_a_missing_price_fails_the_rating_at_once(dag_of: Any, deploy: Any, tmp_path: Path) -> None:
    card = tmp_path / "card.yaml"
    card.write_text("currency: EUR\nperiods:\n  - valid_from: 2026-01-01\n    rates: {compute.instance: 0}\n")
    deployment = deploy(config(tmp_path, rate_card=str(card)))
    collected_days(deployment, 14, 15)
    run = dag_of("stackledger_daily").test(logical_date=RUN_AT)
    assert states(run) == {"wait_collected": "success", "plan_rating": "success", "rate_usage[0]": "failed",
                           "rate_month": "upstream_failed", "finish_rating": "upstream_failed",
                           "rate_late": "upstream_failed", "retention": "upstream_failed",
                           "evaluate_alarms": "upstream_failed"}  # fmt: skip
    assert tries(run, "rate_usage") == [1]  # PricingError → AirflowFailException: the 3 retries are not used
    assert totals(deployment.settings)["cost"] == []
