"""StackLedger, monthly: on the 2nd at 06:00 UTC, check the previous month, then render and deliver it.

    wait_complete ─> render ─> deliver

- wait_complete: a sensor (its worker slot given back while it waits, up to a day) until the
  month is complete (`stackledger.pipeline.completeness.check_complete`): checkpoints cover
  every hour for every collected source, no day waits for re-rating, and every day with usage
  has cost lines. Its log says what is missing; on timeout the run fails, and nothing is sent;
- render: `stackledger.pipeline.report.render_reports` in `airflow.report_formats` into
  <airflow.report_dir or report.out_dir>/YYYY-MM;
- deliver: `stackledger.pipeline.report.email_reports`: the finance summary to finance, each
  team lead their projects' PDFs (skipped when no `report.email` section is configured).
  Each message is recorded once sent, so a retry or a re-run sends only what did not go out
  (and a correction to whoever got figures that changed since); XCom counts what it skipped.
  `stackledger report --month YYYY-MM --email --resend` sends everything again.

No data interval of its own: the window is the calendar month before the run
(stackledger.airflow_support.window_for). Nothing heavy is imported at module level.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import CronTriggerTimetable, dag, task

PERIOD = "month"


@dag(
    dag_id="stackledger_monthly",
    description="StackLedger: check, render and deliver last month's reports",
    schedule=CronTriggerTimetable("0 6 2 * *", timezone="UTC"),
    start_date=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    tags=["stackledger"],
    default_args={
        "owner": "stackledger",
        "retries": 2,  # transient errors only (e.g. the SMTP server unreachable)
        "retry_delay": dt.timedelta(minutes=10),
        "retry_exponential_backoff": 2.0,  # 10, 20 minutes
        "max_retry_delay": dt.timedelta(hours=1),
    },
)
def stackledger_monthly() -> None:
    @task.sensor(poke_interval=1800, timeout=24 * 3600, mode="reschedule")
    def wait_complete():
        from stackledger import airflow_support as sl
        from stackledger.pipeline.completeness import check_complete

        run = sl.current_run(PERIOD)
        with sl.terminal_errors():
            status = check_complete(run.settings, run.window, sl.planned_sources(run.settings))
        return sl.poke(status.complete, sl.completeness_summary(status))

    @task
    def render():
        from stackledger import airflow_support as sl
        from stackledger.pipeline.report import render_reports

        run = sl.current_run(PERIOD)
        out_dir = sl.report_dir(run.settings, run.window)
        with sl.terminal_errors():
            paths = render_reports(run.settings, run.window, run.settings.airflow.report_formats, out_dir)
        return {"window": run.window.label, "out_dir": str(out_dir), "files": len(paths)}

    @task
    def deliver():
        from stackledger import airflow_support as sl
        from stackledger.pipeline import report

        run = sl.current_run(PERIOD)
        if run.settings.report.email is None:
            sl.skip("no report.email section configured: the reports stay in their folder")
        with sl.terminal_errors():
            return sl.delivered(report.email_reports(run.settings, run.window, sl.report_dir(run.settings, run.window)))

    wait_complete() >> render() >> deliver()


stackledger_monthly()
