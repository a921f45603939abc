"""StackLedger, hourly: collect every configured source for the run's hour.

    wait_settled ─┬─> collect_projects ─> plan_shards ─> collect_usage[shard …]   (pool stackledger_gnocchi)
                  └─> plan_inventory ─> collect_inventory[source …]

The sources are the settings' `airflow.sources` (default: Keystone, Nova, Cinder, and the usage
source when a collector provides it, i.e. Gnocchi); the shards, `airflow.shards`.
- wait_settled: a sensor that gives its worker slot back while it waits until
  `collect.settle_minutes` after the hour, so the hour's data has arrived and it is checkpointed;
- collect_projects: Keystone, first, so the shards know every project (skipped without keystone);
- plan_inventory, collect_inventory: one mapped task per inventory source (Nova, Cinder);
- plan_shards, collect_usage: one mapped task per project shard of the usage source (Gnocchi),
  at most as many at once as the pool has slots. A project belongs to exactly one shard: shards
  never double count (stackledger.pipeline.collect.Shard).

Every collect task calls `stackledger.pipeline.collect.collect_range` for its source and the
run's window: a window is stored whole with its checkpoint or not at all, a checkpointed window
is skipped, so a re-run or a backfill changes no total. Window, settings and error handling:
stackledger.airflow_support. A manual run may give params `start` and `end` (ISO, whole hours)
to collect a longer range in one run. Nothing heavy is imported at module level.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import CronTriggerTimetable, Param, dag, task

PERIOD = "hour"
GNOCCHI_POOL = "stackledger_gnocchi"  # create it: airflow pools set stackledger_gnocchi 4 "StackLedger: Gnocchi"


@dag(
    dag_id="stackledger_collect",
    description="StackLedger: collect usage and inventory for the past hour",
    # Fires at HH:00 for [HH-1:00, HH:00): the data interval is the hour collected.
    schedule=CronTriggerTimetable("0 * * * *", timezone="UTC", interval=dt.timedelta(hours=1)),
    start_date=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,  # runs replace rows of shared tables (projects, resources): one at a time
    tags=["stackledger"],
    params={
        "start": Param(None, type=["null", "string"], description="manual range start, ISO 8601 UTC (whole hour)"),
        "end": Param(None, type=["null", "string"], description="manual range end, exclusive"),
    },
    default_args={
        "owner": "stackledger",
        "retries": 3,  # transient errors only: terminal ones fail at once (airflow_support.terminal_errors)
        "retry_delay": dt.timedelta(minutes=2),
        "retry_exponential_backoff": 2.0,  # 2, 4, 8 minutes
        "max_retry_delay": dt.timedelta(minutes=30),
    },
)
def stackledger_collect() -> None:
    @task.sensor(poke_interval=300, timeout=3 * 3600, mode="reschedule")
    def wait_settled():
        from stackledger import airflow_support as sl

        run = sl.current_run(PERIOD)
        return sl.poke(sl.settled(run.settings, run.window), {"window": run.window.label})

    @task
    def collect_projects():
        from stackledger import airflow_support as sl
        from stackledger.pipeline.collect import collect_range

        run = sl.current_run(PERIOD)
        with sl.terminal_errors():
            sources = sl.collect_plan(run.settings)["projects"]
            if not sources:
                sl.skip("keystone is not among the sources: projects come from elsewhere")
            return sl.collected(collect_range(run.settings, sources, run.window))

    @task
    def plan_inventory():
        from stackledger import airflow_support as sl

        run = sl.current_run(PERIOD)
        with sl.terminal_errors():
            return sl.collect_plan(run.settings)["inventory"]

    # none_failed: runs when collect_projects was skipped (no keystone), not when it failed.
    @task(trigger_rule="none_failed")
    def plan_shards():
        from stackledger import airflow_support as sl

        run = sl.current_run(PERIOD)
        with sl.terminal_errors():
            return sl.collect_plan(run.settings)["shards"]

    @task
    def collect_inventory(source: str):
        from stackledger import airflow_support as sl
        from stackledger.pipeline.collect import collect_range

        run = sl.current_run(PERIOD)
        with sl.terminal_errors():
            return sl.collected(collect_range(run.settings, [source], run.window))

    @task(pool=GNOCCHI_POOL)
    def collect_usage(shard: dict[str, int | str]):
        from stackledger import airflow_support as sl
        from stackledger.pipeline.collect import Shard, collect_range

        run = sl.current_run(PERIOD)
        with sl.terminal_errors():
            part = Shard(int(shard["index"]), int(shard["count"]))
            return sl.collected(collect_range(run.settings, [str(shard["source"])], run.window, shard=part))

    settled = wait_settled()
    shards = plan_shards()
    inventory = plan_inventory()
    settled >> collect_projects() >> shards
    settled >> inventory
    collect_inventory.expand(source=inventory)
    collect_usage.expand(shard=shards)


stackledger_collect()
