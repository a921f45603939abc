"""StackLedger, daily: rate the previous UTC day in project shards, re-rate late days, drop old
raw samples, evaluate the alarms.

    wait_collected ─> plan_rating ─> rate_usage[shard …] ─> rate_month[shard …] ─> finish_rating
        ─> rate_late ─> retention ─> evaluate_alarms

- wait_collected: a sensor (its worker slot given back while it waits) until the collect DAG's
  checkpoints cover every hour of the day for every source it collects
  (`stackledger.pipeline.completeness.check_complete`);
- plan_rating: one entry per shard of `airflow.shards` (`stackledger.airflow_support.rating_plan`);
- rate_usage: mapped per shard, `rate_window(…, shard=, stage="usage")`: the usage and per-day
  price books of the resources hashing to the shard, in one transaction each;
- rate_month: mapped per shard, `stage="month"`: the books priced on the month so far (tiers,
  caps) for the projects hashing to the shard, after every shard's usage;
- finish_rating: `finish_sharded`: the day's re-rating marks set before rating began are cleared;
- rate_late: `rate_pending`: the earlier days that late samples marked for re-rating;
- retention: `apply_retention`: raw samples of old rated days dropped (`retention.raw_days`);
- evaluate_alarms: `stackledger.pipeline.alarms.evaluate_alarms` at the end of the day (skipped
  when no `alarms.rules` file is configured). Re-running the same day sends nothing twice.

Runs at 02:00 UTC with no data interval of its own: the window is the day before the run
(stackledger.airflow_support.window_for). Nothing heavy is imported at module level.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.sdk import CronTriggerTimetable, dag, task

PERIOD = "day"


@dag(
    dag_id="stackledger_daily",
    description="StackLedger: rate yesterday (UTC) and evaluate the alarms",
    schedule=CronTriggerTimetable("0 2 * * *", timezone="UTC"),  # after the collect run of 00:00 has settled
    start_date=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,  # month-to-date price books replace the lines to the month's end: one day at a time
    tags=["stackledger"],
    default_args={
        "owner": "stackledger",
        "retries": 3,  # transient errors only: terminal ones (e.g. PricingError) fail at once
        "retry_delay": dt.timedelta(minutes=5),
        "retry_exponential_backoff": 2.0,  # 5, 10, 20 minutes
        "max_retry_delay": dt.timedelta(hours=1),
    },
)
def stackledger_daily() -> None:
    @task.sensor(poke_interval=600, timeout=12 * 3600, mode="reschedule")
    def wait_collected():
        from stackledger import airflow_support as sl
        from stackledger.pipeline.completeness import check_complete

        run = sl.current_run(PERIOD)
        with sl.terminal_errors():
            status = check_complete(run.settings, run.window, sl.planned_sources(run.settings), rated=False)
        return sl.poke(status.complete, sl.completeness_summary(status))

    @task
    def plan_rating():
        from stackledger import airflow_support as sl

        run = sl.current_run(PERIOD)
        with sl.terminal_errors():
            return sl.rating_plan(run.settings)

    @task
    def rate_usage(shard: dict[str, Any]):
        from stackledger import airflow_support as sl
        from stackledger.pipeline.collect import Shard
        from stackledger.pipeline.rate import rate_window

        run = sl.current_run(PERIOD)
        with sl.terminal_errors():
            part = Shard(int(shard["index"]), int(shard["count"]))
            return sl.rated([rate_window(run.settings, run.window, shard=part, stage="usage")])

    @task
    def rate_month(shard: dict[str, Any]):
        from stackledger import airflow_support as sl
        from stackledger.pipeline.collect import Shard
        from stackledger.pipeline.rate import rate_window

        run = sl.current_run(PERIOD)
        with sl.terminal_errors():
            part = Shard(int(shard["index"]), int(shard["count"]))
            return sl.rated([rate_window(run.settings, run.window, shard=part, stage="month")])

    @task
    def finish_rating(plan: Any):  # the list plan_rating returned
        import datetime as dt

        from stackledger import airflow_support as sl
        from stackledger.pipeline.rate import finish_sharded

        run = sl.current_run(PERIOD)
        with sl.terminal_errors():
            finish_sharded(run.settings, run.window, dt.datetime.fromisoformat(str(plan[0]["began"])))

    @task
    def rate_late():
        from stackledger import airflow_support as sl
        from stackledger.pipeline.rate import rate_pending

        run = sl.current_run(PERIOD)
        with sl.terminal_errors():
            return sl.rated(rate_pending(run.settings))

    @task
    def retention():
        from stackledger import airflow_support as sl
        from stackledger.pipeline.retention import apply_retention

        run = sl.current_run(PERIOD)
        with sl.terminal_errors():
            result = apply_retention(run.settings)
            return {"dropped": [str(day) for day in sorted(result.dropped)], "kept": len(result.kept)}

    @task
    def evaluate_alarms():
        from stackledger import airflow_support as sl
        from stackledger.pipeline.alarms import evaluate_alarms

        run = sl.current_run(PERIOD)
        if run.settings.alarms.rules is None:
            sl.skip("no alarms.rules file configured")
        with sl.terminal_errors():
            return sl.evaluated(evaluate_alarms(run.settings, run.window.end))

    plan = plan_rating()
    usage = rate_usage.expand(shard=plan)
    month = rate_month.expand(shard=plan)
    finished = finish_rating(plan)
    wait_collected() >> plan
    usage >> month >> finished >> rate_late() >> retention() >> evaluate_alarms()


stackledger_daily()
