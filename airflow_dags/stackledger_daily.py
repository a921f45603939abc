"""StackLedger, daily: rate the previous UTC day, re-rate late days, evaluate the alarms.

    wait_collected ─> rate ─> rate_late ─> evaluate_alarms

- wait_collected: a sensor (its worker slot given back while it waits) until the collect DAG's
  checkpoints cover every hour of the day for every source it collects
  (`stackledger.pipeline.completeness.check_complete`);
- rate: `stackledger.pipeline.rate.rate_window` for the day: hourly usage, then the cost lines
  of every price book, replaced in one transaction;
- rate_late: `rate_pending`: the earlier days that late samples marked for re-rating;
- evaluate_alarms: `stackledger.pipeline.alarms.evaluate_alarms` at the end of the day (skipped
  when no `alarms.rules` file is configured). Re-running the same day sends nothing twice.

Runs at 02:00 UTC with no data interval of its own: the window is the day before the run
(stackledger.airflow_support.window_for). Nothing heavy is imported at module level.
"""

from __future__ import annotations

import datetime as dt

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
    def rate():
        from stackledger import airflow_support as sl
        from stackledger.pipeline.rate import rate_window

        run = sl.current_run(PERIOD)
        with sl.terminal_errors():
            return sl.rated([rate_window(run.settings, run.window)])

    @task
    def rate_late():
        from stackledger import airflow_support as sl
        from stackledger.pipeline.rate import rate_pending

        run = sl.current_run(PERIOD)
        with sl.terminal_errors():
            return sl.rated(rate_pending(run.settings))

    @task
    def evaluate_alarms():
        from stackledger import airflow_support as sl
        from stackledger.pipeline.alarms import evaluate_alarms

        run = sl.current_run(PERIOD)
        if run.settings.alarms.rules is None:
            sl.skip("no alarms.rules file configured")
        with sl.terminal_errors():
            return sl.evaluated(evaluate_alarms(run.settings, run.window.end))

    wait_collected() >> rate() >> rate_late() >> evaluate_alarms()


stackledger_daily()
