"""`stackledger_collect` end to end with `dag.test()` on real Airflow 3 and SQLite: Keystone and the
Nova/Cinder simulator from ops/, the synthetic cloud (`--source synthetic`) standing in as the usage
source, and the real Gnocchi from ops/ for the sharded, pooled path.

Re-running an hour changes no total; a manual run with no data interval collects the last whole
hour; backfilling three days hour by hour (in two shards) stores exactly what one three-day
collect stores; transient failures are retried, terminal ones fail at once.
"""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from stackledger.pipeline.collect import collect_range
from stackledger.pipeline.completeness import check_complete
from stackledger.pipeline.inventory import store_projects
from stackledger.settings import load_settings
from stackledger.window import Window
from tests.conftest import gnocchi_endpoint, require_openstack
from tests.dags.conftest import CLOUD, UTC, checkpoints, states, totals, tries, write_config

HOUR = dt.timedelta(hours=1)
COLLECT_TASKS = ("collect_projects", "collect_inventory", "collect_usage")


def all_succeeded(run: Any) -> dict[str, str]:
    found = states(run)
    assert str(run.state) == "success", found
    return found


def test_an_hour_from_the_ops_services_and_the_synthetic_cloud(dag_of: Any, deploy: Any) -> None:
    require_openstack()
    deployment = deploy({"usage": {"source": "synthetic"}, "openstack": {"cloud": CLOUD}, "airflow": {"shards": 2}})
    dag = dag_of("stackledger_collect")

    run = dag.test(logical_date=dt.datetime(2026, 10, 14, 10, tzinfo=UTC))  # fires 10:00 for [09:00, 10:00)
    assert all_succeeded(run) == {
        "wait_settled": "success", "collect_projects": "success", "plan_inventory": "success",
        "collect_inventory[0]": "success", "collect_inventory[1]": "success", "plan_shards": "success",
        "collect_usage[0]": "success", "collect_usage[1]": "success",
    }  # fmt: skip
    hours = {"keystone": 1, "nova": 1, "cinder": 1, "synthetic#0/2": 1, "synthetic#1/2": 1}
    assert checkpoints(deployment.settings) == hours
    first = totals(deployment.settings)
    assert {source for source, *_ in first["usage"]} == {"synthetic"}
    assert {source for source, _ in first["resources"]} == {"cinder", "nova", "synthetic"}
    assert first["projects"] >= 12 + 1  # the synthetic cloud's 12 and Keystone's own

    again = dag.test(logical_date=dt.datetime(2026, 10, 14, 10, tzinfo=UTC))
    all_succeeded(again)
    assert totals(deployment.settings) == first
    assert checkpoints(deployment.settings) == hours

    # Manual trigger, Airflow 3 style: no logical date, no data interval; only run_after.
    manual = dag.test(logical_date=None, run_after=dt.datetime(2026, 10, 14, 11, 20, tzinfo=UTC))
    assert manual.logical_date is None and manual.data_interval_start is None
    all_succeeded(manual)
    assert checkpoints(deployment.settings) == {name: 2 for name in hours}  # and [10:00, 11:00) now too
    later = totals(deployment.settings)
    assert sum(n for *_, n, _ in later["usage"]) > sum(n for *_, n, _ in first["usage"])
    day = Window(dt.datetime(2026, 10, 14, 9), dt.datetime(2026, 10, 14, 11))
    assert check_complete(deployment.settings, day, ["keystone", "nova", "cinder", "synthetic"], rated=False).complete


def test_settings_from_variable_yaml_and_the_database_from_the_connection(
    dag_of: Any, deploy: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deploy({})  # clears the environment; then the Variable holds YAML text, not a path
    database = tmp_path / "from-connection.db"
    text = "usage: {source: synthetic}\nairflow: {sources: [synthetic]}\n"
    monkeypatch.setenv("AIRFLOW_VAR_STACKLEDGER_CONFIG", text)
    monkeypatch.setenv("AIRFLOW_CONN_STACKLEDGER_DB", f'{{"conn_type": "sqlite", "host": "{database}"}}')
    run = dag_of("stackledger_collect").test(logical_date=dt.datetime(2026, 10, 14, 10, tzinfo=UTC))
    found = all_succeeded(run)
    assert found["collect_projects"] == "skipped" and found["collect_inventory"] == "skipped"  # keystone not asked for
    assert found["collect_usage[0]"] == "success"  # none_failed: the skip does not stop the usage
    settings = load_settings(None, {"STACKLEDGER__DATABASE__URL": f"sqlite:///{database}"})
    assert checkpoints(settings) == {"synthetic": 1}


@contextmanager
def retrying_fast(task: Any) -> Iterator[None]:
    """One retry, one second later: the DAG's own delays (minutes) are pinned by the structure tests."""
    saved = (task.retries, task.retry_delay)
    task.retries, task.retry_delay = 1, dt.timedelta(seconds=1)
    try:
        yield
    finally:
        task.retries, task.retry_delay = saved


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_transient_failures_are_retried_and_terminal_ones_fail_at_once(dag_of: Any, deploy: Any) -> None:
    dag = dag_of("stackledger_collect")
    gnocchi = {"url": f"http://127.0.0.1:{closed_port()}", "retries": 0, "timeout_s": 2}
    deployment = deploy({"usage": {"source": "gnocchi"}, "airflow": {"sources": ["gnocchi"]}, "gnocchi": gnocchi})
    with retrying_fast(dag.task_dict["collect_usage"]):
        run = dag.test(logical_date=dt.datetime(2026, 10, 14, 10, tzinfo=UTC))
        assert states(run)["collect_usage[0]"] == "failed"
        assert tries(run, "collect_usage") == [2]  # connection refused: transient, so tried again

        deploy({"usage": {"source": "gnocchi"}, "airflow": {"sources": ["gnocchi"]},
                "gnocchi": {**gnocchi, "meters": ["no.such.meter"]}})  # fmt: skip
        run = dag.test(logical_date=dt.datetime(2026, 10, 14, 10, tzinfo=UTC))
        assert states(run)["collect_usage[0]"] == "failed"
        assert tries(run, "collect_usage") == [1]  # ConfigError: AirflowFailException, never retried
    assert checkpoints(deployment.settings) == {}


def test_backfilling_three_days_hourly_equals_one_three_day_collect(dag_of: Any, deploy: Any, tmp_path: Path) -> None:
    dag = dag_of("stackledger_collect")
    start, days = dt.datetime(2026, 10, 14, tzinfo=UTC), 3
    hourly = deploy({"usage": {"source": "synthetic"}, "airflow": {"sources": ["synthetic"], "shards": 2}},
                    folder=tmp_path / "hourly")  # fmt: skip
    for n in range(1, 24 * days + 1):  # what `airflow backfill create` runs: one run per hour, in order
        all_succeeded(dag.test(logical_date=start + n * HOUR))
    backfilled = totals(hourly.settings)
    assert checkpoints(hourly.settings) == {"synthetic#0/2": 72, "synthetic#1/2": 72}

    once = deploy({"usage": {"source": "synthetic"}, "airflow": {"sources": ["synthetic"]}}, folder=tmp_path / "once")
    span = {"start": start.isoformat(), "end": (start + dt.timedelta(days=days)).isoformat()}
    all_succeeded(dag.test(logical_date=start + 72 * HOUR, run_conf=span))  # one run, params: three days
    assert checkpoints(once.settings) == {"synthetic": 72}  # three daily windows (collect.window: day)
    assert totals(once.settings) == backfilled
    assert backfilled["usage"] and all(quantity > 0 for *_, quantity in backfilled["usage"])

    all_succeeded(dag.test(logical_date=start + 30 * HOUR))  # and one hour again changes nothing
    assert totals(hourly.settings) == backfilled


# ---------------------------------------------------------------- the real Gnocchi, sharded, in the pool


@pytest.mark.services
def test_gnocchi_in_project_shards_collects_what_one_unsharded_collect_does(
    dag_of: Any, deploy: Any, tmp_path: Path
) -> None:
    from tests.integration.gnocchi_fleet import Fleet

    url, user = gnocchi_endpoint()
    today = dt.datetime.now(UTC).replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)
    start = today - dt.timedelta(days=2)
    fleet = Fleet.generate(instances=6, start=start, hours=6, volumes=1, floating_ips=2, images=1, seed=4242)
    fleet.push(url, user)
    try:
        config = {"usage": {"source": "gnocchi"}, "gnocchi": {"url": url, "user": user},
                  "airflow": {"sources": ["gnocchi"], "shards": 2}}  # fmt: skip
        sharded = deploy(config, folder=tmp_path / "sharded")
        # Keystone has told us of one project; the shards must still find the two it has not.
        store_projects(sharded.settings, _project_frame(fleet.projects[:1]), source="keystone")
        span = {"start": f"{start.isoformat()}Z", "end": f"{(start + 6 * HOUR).isoformat()}Z"}
        dag = dag_of("stackledger_collect")
        found = all_succeeded(dag.test(logical_date=(start + 7 * HOUR).replace(tzinfo=UTC), run_conf=span))
        assert {found["collect_usage[0]"], found["collect_usage[1]"]} == {"success"}
        assert dag.task_dict["collect_usage"].pool == "stackledger_gnocchi"
        assert checkpoints(sharded.settings) == {"gnocchi#0/2": 6, "gnocchi#1/2": 6}
        result = totals(sharded.settings)

        # The same window in one unsharded collect, straight through the pipeline.
        single = tmp_path / "single"
        single.mkdir()
        plain = load_settings(write_config(single, {**config, "database": {"url": f"sqlite:///{single / 'x.db'}"},
                                                    "airflow": {"sources": ["gnocchi"]}}), {})  # fmt: skip
        window = Window(start, start + 6 * HOUR)
        assert all(r.complete for r in collect_range(plain, ["gnocchi"], window))
        expected = totals(plain)
        assert result["usage"] == expected["usage"] and result["resources"] == expected["resources"]
        assert {row[0] for row in result["usage"]} == {"gnocchi"}

        all_succeeded(dag.test(logical_date=(start + 7 * HOUR).replace(tzinfo=UTC), run_conf=span))
        assert totals(sharded.settings) == result  # checkpointed: nothing asked or changed again
    finally:
        fleet.delete(url, user)


def _project_frame(ids: list[str]) -> Any:
    import pandas as pd

    from stackledger.schema import PROJECT_COLUMNS

    rows = [{"project_id": p, "name": p[:8], "domain_id": "default", "parent_id": None, "tags": [], "team": None,
             "cost_center": None, "budget_amount": None, "budget_currency": None, "budget_period": None}
            for p in ids]  # fmt: skip
    return pd.DataFrame(rows, columns=list(PROJECT_COLUMNS), dtype=object)
