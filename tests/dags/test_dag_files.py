"""The DAG files import cleanly, import nothing heavy at module level, and their task graphs
are the ones the README documents (ids, edges, mapping, schedules, pools, retries, sensors).

Parse *time* is measured by benchmarks/bench_dag_parse.py, not asserted here.
"""

from __future__ import annotations

import ast
import datetime as dt
from typing import Any

import pytest

from tests.dags.conftest import DAGS

DAG_FILES = ("stackledger_collect.py", "stackledger_daily.py", "stackledger_monthly.py")
# What a DAG file may import at module level: the standard library's small modules and the Task SDK.
ALLOWED_TOP_LEVEL = {"__future__", "datetime", "typing", "airflow.sdk"}


def test_dagbag_imports_every_dag_file_without_errors(dagbag: Any) -> None:
    assert dagbag.import_errors == {}
    assert sorted(dagbag.dag_ids) == ["stackledger_collect", "stackledger_daily", "stackledger_monthly"]
    for dag in dagbag.dags.values():
        assert "stackledger" in dag.tags and dag.fileloc.startswith(str(DAGS))


@pytest.mark.parametrize("name", DAG_FILES)
def test_dag_files_import_nothing_heavy_at_module_level(name: str) -> None:
    """StackLedger, pandas, database drivers: only inside the tasks (Airflow parses these files constantly)."""
    tree = ast.parse((DAGS / name).read_text())
    top = [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]
    modules = {alias.name for node in top if isinstance(node, ast.Import) for alias in node.names}
    modules |= {node.module or "" for node in top if isinstance(node, ast.ImportFrom)}
    assert modules <= ALLOWED_TOP_LEVEL, f"{name} imports {sorted(modules - ALLOWED_TOP_LEVEL)} at module level"
    calls = [n for n in tree.body if isinstance(n, ast.Expr) and isinstance(n.value, ast.Call)]
    assert len(calls) == 1, "one statement runs at parse time: the @dag function that builds the DAG"


def edges(dag: Any) -> set[tuple[str, str]]:
    return {(task.task_id, down) for task in dag.tasks for down in task.downstream_task_ids}


def retry_policy(task: Any) -> tuple[int, dt.timedelta, float, dt.timedelta | None]:
    return task.retries, task.retry_delay, float(task.retry_exponential_backoff), task.max_retry_delay


def common_dag_settings(dag: Any) -> None:
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert dag.start_date == dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    assert str(dag.timetable.timezone) == "UTC"


def test_collect_dag_graph(dag_of: Any) -> None:
    dag = dag_of("stackledger_collect")
    common_dag_settings(dag)
    assert (dag.timetable.expression, dag.timetable.interval) == ("0 * * * *", dt.timedelta(hours=1))
    assert set(dag.task_dict) == {
        "wait_settled", "collect_projects", "plan_shards", "collect_usage", "plan_inventory", "collect_inventory",
    }  # fmt: skip
    assert edges(dag) == {
        ("wait_settled", "collect_projects"), ("collect_projects", "plan_shards"), ("plan_shards", "collect_usage"),
        ("wait_settled", "plan_inventory"), ("plan_inventory", "collect_inventory"),
    }  # fmt: skip
    tasks = dag.task_dict
    assert {t for t in tasks if tasks[t].is_mapped} == {"collect_usage", "collect_inventory"}
    assert tasks["collect_usage"].pool == "stackledger_gnocchi"
    assert {tasks[t].pool for t in tasks if t != "collect_usage"} == {"default_pool"}
    assert tasks["plan_shards"].trigger_rule == "none_failed"  # runs when keystone was skipped, not failed
    sensor = tasks["wait_settled"]
    assert (sensor.mode, sensor.poke_interval, sensor.timeout) == ("reschedule", 300, 3 * 3600)
    for task in dag.tasks:
        assert retry_policy(task) == (3, dt.timedelta(minutes=2), 2.0, dt.timedelta(minutes=30)), task.task_id
    assert set(dag.params.keys()) == {"start", "end"}
    assert dag.params["start"] is None and dag.params["end"] is None


def test_daily_dag_graph(dag_of: Any) -> None:
    dag = dag_of("stackledger_daily")
    common_dag_settings(dag)
    assert (dag.timetable.expression, dag.timetable.interval) == ("0 2 * * *", dt.timedelta(0))
    assert edges(dag) == {
        ("wait_collected", "plan_rating"), ("plan_rating", "rate_usage"), ("plan_rating", "rate_month"),
        ("plan_rating", "finish_rating"), ("rate_usage", "rate_month"), ("rate_month", "finish_rating"),
        ("finish_rating", "rate_late"), ("rate_late", "retention"), ("retention", "evaluate_alarms"),
    }  # fmt: skip
    assert set(dag.task_dict) == {"wait_collected", "plan_rating", "rate_usage", "rate_month", "finish_rating",
                                  "rate_late", "retention", "evaluate_alarms"}  # fmt: skip
    sensor = dag.task_dict["wait_collected"]
    assert (sensor.mode, sensor.poke_interval, sensor.timeout) == ("reschedule", 600, 12 * 3600)
    for task in dag.tasks:
        assert retry_policy(task) == (3, dt.timedelta(minutes=5), 2.0, dt.timedelta(hours=1)), task.task_id
        assert task.pool == "default_pool"
        assert task.is_mapped == (task.task_id in ("rate_usage", "rate_month")), task.task_id  # one per shard


def test_monthly_dag_graph(dag_of: Any) -> None:
    dag = dag_of("stackledger_monthly")
    common_dag_settings(dag)
    assert (dag.timetable.expression, dag.timetable.interval) == ("0 6 2 * *", dt.timedelta(0))  # the 2nd, 06:00 UTC
    assert edges(dag) == {("wait_complete", "render"), ("render", "deliver")}
    assert set(dag.task_dict) == {"wait_complete", "render", "deliver"}
    sensor = dag.task_dict["wait_complete"]
    assert (sensor.mode, sensor.poke_interval, sensor.timeout) == ("reschedule", 1800, 24 * 3600)
    for task in dag.tasks:
        assert retry_policy(task) == (2, dt.timedelta(minutes=10), 2.0, dt.timedelta(hours=1)), task.task_id
