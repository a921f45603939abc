"""The distributed path, run for real: Airflow 3's CeleryExecutor with Redis (ops/redis.sh) as the
broker, two Celery workers, the scheduler, the DAG processor and the Execution API server
(tests/dags/celery_cluster.py), over a StackLedger store on PostgreSQL.

The synthetic demo cloud, in `airflow.shards: 4` project shards: a `stackledger_collect` run
collects one day (4 mapped `collect_usage` tasks, which must spread over both workers), then a
`stackledger_daily` run rates it. Both are triggered through the REST API, so the scheduler schedules
them and the workers run them; nothing of them runs in this process. Their cost lines (every column,
every price book) and usage rows must equal exactly those of one process collecting and rating the
same day through the pipeline functions, on another database.

Whatever is mapped per project shard (a task with one instance per shard, in either DAG) must
have succeeded on both workers: today the collect DAG's shards; when rating is mapped per shard,
its tasks too, with no change here. The shards spread by design, not by luck: a worker
holds at most `concurrency × worker_prefetch_multiplier` = 2 × 1 unacknowledged tasks (Airflow's
Celery defaults keep acks late), and the scheduler queues the four shard tasks at once.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select

from stackledger.pipeline.collect import collect_range
from stackledger.pipeline.rate import rate_window
from stackledger.settings import load_settings
from stackledger.store import Store, tables
from stackledger.window import Window
from tests.conftest import require_env
from tests.dags.celery_cluster import TaskRun, celery_airflow, scratch_database
from tests.dags.conftest import write_config

SHARDS = 4
WORKERS = 2
DAY = Window(dt.datetime(2026, 10, 14), dt.datetime(2026, 10, 15))
COLLECT_AT = "2026-10-15T00:00:00+00:00"  # the collect run's logical date; params give the day
DAILY_AT = "2026-10-15T02:00:00+00:00"  # the 02:00 run of the 15th rates the 14th
RUN_TIMEOUT_S = 600


def config(database_url: str, folder: Path) -> dict[str, Any]:
    return {
        "database": {"url": database_url},
        "report": {"out_dir": str(folder / "out")},
        "usage": {"source": "synthetic"},
        "airflow": {"sources": ["synthetic"], "shards": SHARDS},
    }


def compared(table: Any) -> list[Any]:
    """Every column of a table but its surrogate id."""
    return [column for column in table.c if column.name != "id"]


def rows_of(url: str, table: Any) -> list[tuple[Any, ...]]:
    """Every row of a table, every column but the surrogate id, in a total order."""
    columns = compared(table)
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(select(*columns).order_by(*columns)).all()]
    finally:
        engine.dispose()


def single_process(url: str, folder: Path) -> None:
    """`stackledger collect --source synthetic` then `stackledger rate` for the day, unsharded."""
    folder.mkdir()
    settings = load_settings(write_config(folder, config(url, folder)), {})
    assert all(result.complete for result in collect_range(settings, ["synthetic"], DAY))
    rate_window(settings, DAY)


def shard_tasks(runs: list[TaskRun]) -> dict[str, list[TaskRun]]:
    """(dag, task) → its instances, for every task mapped once per shard."""
    mapped: dict[str, list[TaskRun]] = {}
    for run in runs:
        if run.map_index >= 0:
            mapped.setdefault(f"{run.dag_id}.{run.task_id}", []).append(run)
    return {name: found for name, found in mapped.items() if len(found) == SHARDS}


@pytest.mark.services
@pytest.mark.distributed
def test_four_shards_on_two_celery_workers_cost_what_one_process_does(tmp_path: Path) -> None:
    pg_url = require_env("STACKLEDGER_TEST_PG_URL", "postgres")
    redis_url = require_env("STACKLEDGER_REDIS_URL", "redis")
    tag = f"t{os.getpid()}"
    began = time.monotonic()
    with (
        scratch_database(pg_url, f"stackledger_dist_{tag}") as distributed_url,
        scratch_database(pg_url, f"stackledger_single_{tag}") as single_url,
    ):
        Store(distributed_url).upgrade()
        Store(single_url).upgrade()
        deployed = tmp_path / "distributed"
        deployed.mkdir()
        settings_file = write_config(deployed, config(distributed_url, deployed))

        with celery_airflow(tmp_path / "airflow", pg_url=pg_url, redis_url=redis_url,
                            stackledger_config=settings_file, tag=tag, workers=WORKERS) as cluster:  # fmt: skip
            ready = time.monotonic()
            span = {"start": f"{DAY.start.isoformat()}Z", "end": f"{DAY.end.isoformat()}Z"}
            cluster.trigger("stackledger_collect", "collect_day", COLLECT_AT, span)
            collect_state = cluster.wait_for_run("stackledger_collect", "collect_day", RUN_TIMEOUT_S)
            cluster.trigger("stackledger_daily", "rate_day", DAILY_AT)
            daily_state = cluster.wait_for_run("stackledger_daily", "rate_day", RUN_TIMEOUT_S)
            runs = cluster.task_runs("stackledger_collect", "collect_day") + cluster.task_runs(
                "stackledger_daily", "rate_day"
            )
            workers = cluster.workers
            finished = time.monotonic()

        states = {f"{run.dag_id}.{run.label}": run.state for run in runs}
        assert (collect_state, daily_state) == ("success", "success"), states
        assert {state for state in states.values()} <= {"success", "skipped"}, states

        spread = shards_spread(runs, workers)

        distributed_cost = rows_of(distributed_url, tables.cost_lines)
        distributed_usage = rows_of(distributed_url, tables.usage)
        single_process(single_url, tmp_path / "single")
        assert distributed_cost and distributed_usage
        book = [column.name for column in compared(tables.cost_lines)].index("price_book")
        assert {row[book] for row in distributed_cost} == {"internal", "aws", "digitalocean"}
        assert rows_of(single_url, tables.cost_lines) == distributed_cost
        assert rows_of(single_url, tables.usage) == distributed_usage

    print(f"\n[celery] deployment up in {ready - began:.0f} s; collect + daily runs {finished - ready:.0f} s; "
          f"whole test {time.monotonic() - began:.0f} s; shard tasks per worker: {spread}; "
          f"{len(distributed_cost)} cost lines equal")  # fmt: skip


def shards_spread(runs: list[TaskRun], workers: list[str]) -> dict[str, dict[str, list[int]]]:
    """Checks every task mapped per shard ran each shard once, successfully, on both workers;
    returns (dag.task) → worker → the shards it ran."""
    assert len(set(workers)) == WORKERS
    per_shard = shard_tasks(runs)
    assert "stackledger_collect.collect_usage" in per_shard, [run.label for run in runs]
    spread: dict[str, dict[str, list[int]]] = {}
    for name, instances in per_shard.items():
        assert sorted(run.map_index for run in instances) == list(range(SHARDS)), name
        assert all(run.state == "success" for run in instances), [(run.label, run.state) for run in instances]
        ran_on = {worker: sorted(run.map_index for run in instances if _on(run, worker)) for worker in workers}
        assert sum(map(len, ran_on.values())) == SHARDS, (name, [run.worker for run in instances])
        assert all(ran_on.values()), f"{name} did not run on both workers: {ran_on}"
        spread[name] = ran_on
    return spread


def _on(run: TaskRun, worker: str) -> bool:
    """Whether Celery recorded `worker` (its --celery-hostname, `name@host`) as the one that ran it."""
    return run.worker is not None and run.worker.split("@", 1)[0] == worker
