"""Glue between Airflow and the pipeline, so the DAG files in airflow_dags/ stay thin.

A task there reads:

    run = current_run("hour")           # this run's window, and the settings read now
    with terminal_errors():             # a terminal error fails the task at once, unretried
        results = collect_range(run.settings, [source], run.window)
        return collected(results)

The pieces, each re-exported here:

- `windows`: the window a run processes (`window_for`: whole UTC hours, days or months from
  the run's params, data interval, logical date or `run_after`);
- `config`: the settings, read when a task runs (`run_settings`: the Airflow Variable
  `stackledger_config`, the Connection `stackledger_db`, the environment);
- `errors`: `terminal_errors` turns a terminal StackLedgerError into AirflowFailException (no
  retry); transient and unknown errors propagate, and Airflow retries them;
- `summaries`: the collect plan, the XCom summaries of each step's result, sensor answers.

Airflow itself is imported inside the functions that need it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from stackledger.airflow_support.config import (
    CONFIG_VARIABLE,
    DB_CONNECTION,
    database_url,
    run_settings,
    settings_from_variable,
)
from stackledger.airflow_support.errors import skip, terminal_errors
from stackledger.airflow_support.summaries import (
    collect_plan,
    collected,
    completeness_summary,
    delivered,
    evaluated,
    planned_sources,
    poke,
    rated,
    rating_plan,
    report_dir,
    settled,
)
from stackledger.airflow_support.windows import PERIODS, floor, previous, window_for, window_from_context
from stackledger.settings import Settings
from stackledger.window import Window

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Run:
    settings: Settings
    window: Window


def current_run(period: str) -> Run:
    """The running task's window and settings (module docstring); errors fail the task."""
    from airflow.sdk import get_current_context

    from stackledger.redact import redact_url

    context = get_current_context()
    with terminal_errors():
        window = window_from_context(context, period)
        settings = run_settings()
    log.info("stackledger %s window %s (database %s)", period, window.label, redact_url(settings.database.url))
    return Run(settings, window)


__all__ = [
    "CONFIG_VARIABLE", "DB_CONNECTION", "PERIODS", "Run", "collect_plan", "collected", "completeness_summary",
    "current_run", "database_url", "delivered", "evaluated", "floor", "planned_sources", "poke", "previous", "rated",
    "rating_plan",
    "report_dir", "run_settings", "settings_from_variable", "settled", "skip", "terminal_errors", "window_for",
    "window_from_context",
]  # fmt: skip
