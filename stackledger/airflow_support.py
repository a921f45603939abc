"""Glue between Airflow and the pipeline, so the DAG files in airflow_dags/ stay thin.

A task there reads:

    run = current_run("hour")           # this run's window, and the settings read now
    with terminal_errors():             # a terminal error fails the task at once, unretried
        results = collect_range(run.settings, [source], run.window)
        return collected(results)

**The window** (`window_for`): whole UTC periods (hour, day or month), naive UTC:
1. a manual run's params `start` and `end` (Trigger DAG w/ config): exactly that window;
2. else a non-empty data interval, its ends rounded down to the period: the hourly run's
   [09:00, 10:00) stays, a daily interval [D-1 02:00, D 02:00) is day D-1; if rounding leaves
   nothing, the period ending at the rounded end;
3. else (Airflow 3 gives manual runs, `dag.test()` and CronTriggerTimetable runs without an
   `interval` an empty or no data interval) the last whole period before the logical date, or
   before `run_after` when the run has no logical date.

**Settings** (`run_settings`), read when a task runs, never when a DAG file is parsed:
1. the Airflow Variable `stackledger_config`: YAML text (absolute paths inside) or a file path;
2. else the file named by `STACKLEDGER_CONFIG`, else the defaults;
3. the Airflow Connection `stackledger_db`, when defined, gives `database.url` (postgres or
   sqlite connection types, or any SQLAlchemy URL in its extra `sqlalchemy_url`);
4. `STACKLEDGER__SECTION__KEY` environment variables override all of these, as everywhere.

**Errors** (`terminal_errors`): a StackLedgerError that is not transient (ConfigError,
InputError, SchemaError, PricingError, StoreError, a non-transient SourceError) becomes
AirflowFailException: the task fails at once, without retries, with a message saying what
to fix. Transient ones (TransientSourceError) and anything unknown (a dropped database
connection, a timeout) propagate, and Airflow retries them with the task's exponential backoff.

Airflow itself is imported inside the functions that need it.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import yaml

from stackledger.errors import ConfigError, SourceError, StackLedgerError, TransientSourceError
from stackledger.settings import Settings, load_settings
from stackledger.window import Window, parse_instant

if TYPE_CHECKING:
    from stackledger.pipeline.alarms import EvaluationResult
    from stackledger.pipeline.collect import CollectResult
    from stackledger.pipeline.completeness import Completeness
    from stackledger.pipeline.rate import RateResult

log = logging.getLogger(__name__)

CONFIG_VARIABLE: Final = "stackledger_config"
DB_CONNECTION: Final = "stackledger_db"
PERIODS: Final = ("hour", "day", "month")
INVENTORY_DEFAULT: Final = ("keystone", "nova", "cinder")
_DB_ENV: Final = "STACKLEDGER__DATABASE__URL"
_FROM_VARIABLE: Final = f"Airflow Variable {CONFIG_VARIABLE}"


@dataclass(frozen=True)
class Run:
    settings: Settings
    window: Window


def current_run(period: str) -> Run:
    """The running task's window and settings (module docstring); errors fail the task."""
    from airflow.sdk import get_current_context

    context = get_current_context()
    with terminal_errors():
        window = window_from_context(context, period)
        settings = run_settings()
    log.info("stackledger %s window %s (database %s)", period, window.label, _redacted(settings.database.url))
    return Run(settings, window)


# ---------------------------------------------------------------- the window


def window_from_context(context: Mapping[str, Any], period: str) -> Window:
    dag_run = context.get("dag_run")
    return window_for(
        period,
        start=context.get("data_interval_start"),
        end=context.get("data_interval_end"),
        logical_date=context.get("logical_date"),
        run_after=getattr(dag_run, "run_after", None),
        params=context.get("params") or {},
    )


def window_for(
    period: str,
    *,
    start: dt.datetime | None,
    end: dt.datetime | None,
    logical_date: dt.datetime | None = None,
    run_after: dt.datetime | None = None,
    params: Mapping[str, Any] | None = None,
) -> Window:
    """The window a run processes (module docstring)."""
    if period not in PERIODS:
        raise ConfigError(f"period {period!r} is not one of {', '.join(PERIODS)}")
    given = {key: (params or {}).get(key) for key in ("start", "end")}
    if any(given.values()):
        if not all(given.values()):
            raise ConfigError("give both params start and end (ISO 8601, UTC), or neither", key="params")
        first, last = parse_instant(str(given["start"]), "params.start"), parse_instant(str(given["end"]), "params.end")
        return Window(first, last)
    if start is not None and end is not None and end > start:
        first, last = floor(_naive(start), period), floor(_naive(end), period)
        return Window(first, last) if first < last else Window(previous(last, period), last)
    instant = logical_date if logical_date is not None else run_after if run_after is not None else end
    if instant is None:
        raise ConfigError("the run has no data interval, logical date or run_after to take a window from")
    last = floor(_naive(instant), period)
    return Window(previous(last, period), last)


def floor(instant: dt.datetime, period: str) -> dt.datetime:
    """The start of the period `instant` falls in."""
    hour = instant.replace(minute=0, second=0, microsecond=0)
    if period == "hour":
        return hour
    day = hour.replace(hour=0)
    return day if period == "day" else day.replace(day=1)


def previous(start: dt.datetime, period: str) -> dt.datetime:
    """The start of the period before the one starting at `start`."""
    if period == "hour":
        return start - dt.timedelta(hours=1)
    if period == "day":
        return start - dt.timedelta(days=1)
    return (start - dt.timedelta(days=1)).replace(day=1)


def _naive(instant: dt.datetime) -> dt.datetime:
    """Naive UTC, as a plain datetime (Airflow gives aware pendulum DateTimes)."""
    if instant.tzinfo is not None:
        instant = instant.astimezone(dt.UTC)
    return dt.datetime(instant.year, instant.month, instant.day, instant.hour, instant.minute, instant.second,
                       instant.microsecond)  # fmt: skip


# ---------------------------------------------------------------- settings


def run_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from the Airflow Variable / Connection, the settings file and the environment."""
    env = dict(os.environ if environ is None else environ)
    url = _connection_url(DB_CONNECTION)
    if url and _DB_ENV not in env:  # the environment still wins, as it does over the file
        env[_DB_ENV] = url
    return settings_from_variable(_variable(CONFIG_VARIABLE), env)


def settings_from_variable(value: str | None, environ: Mapping[str, str]) -> Settings:
    """Settings from the Variable's value: YAML text, a file path, or nothing (STACKLEDGER_CONFIG)."""
    if value is None or not value.strip():
        return load_settings(None, environ)
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError as exc:
        raise ConfigError(f"neither a file path nor valid YAML: {exc}", file=_FROM_VARIABLE) from None
    if isinstance(parsed, str):
        return load_settings(parsed.strip(), environ)
    if not isinstance(parsed, dict):
        raise ConfigError("expected YAML sections (a mapping) or the path of a settings file", file=_FROM_VARIABLE)
    with tempfile.TemporaryDirectory(prefix="stackledger-") as folder:
        path = Path(folder) / "stackledger.yaml"
        path.write_text(value, encoding="utf-8")
        try:
            settings = load_settings(path, environ)
        except ConfigError as error:
            raise ConfigError(str(error).replace(f"file {path}", f"file {_FROM_VARIABLE}")) from None
        relative = [key for key, where in _file_paths(settings) if where is not None and folder in str(where)]
    if relative:
        names = ", ".join(relative)
        raise ConfigError(f"{names}: a relative path has no file to be relative to here; give an absolute path "
                          "(or put a file path in the Variable)", file=_FROM_VARIABLE)  # fmt: skip
    return settings.model_copy(update={"source_file": _FROM_VARIABLE})


def _file_paths(settings: Settings) -> list[tuple[str, Path | None]]:
    return [("rate_card", settings.rate_card), ("alarms.rules", settings.alarms.rules),
            ("baselines.price_overrides", settings.baselines.price_overrides)]  # fmt: skip


def database_url(conn_type: str | None, *, host: str | None, login: str | None, password: str | None,
                 port: int | None, schema: str | None, extra: Mapping[str, Any]) -> str:  # fmt: skip
    """A SQLAlchemy URL from an Airflow Connection's fields."""
    from sqlalchemy.engine import URL

    if extra.get("sqlalchemy_url"):
        return str(extra["sqlalchemy_url"])
    if conn_type in ("postgres", "postgresql"):
        url = URL.create("postgresql+psycopg", username=login or None, password=password or None, host=host or None,
                         port=port or None, database=schema or None)  # fmt: skip
        return url.render_as_string(hide_password=False)
    if conn_type == "sqlite" and host:
        return f"sqlite:///{host}"
    raise ConfigError(f"Airflow connection {DB_CONNECTION}: type {conn_type!r} is not postgres or sqlite; "
                      "or give the SQLAlchemy URL in its extra as sqlalchemy_url", key="database.url")  # fmt: skip


def _variable(name: str) -> str | None:
    from airflow.sdk import Variable

    value = Variable.get(name, default=None)
    return None if value is None else str(value)


def _connection_url(conn_id: str) -> str | None:
    from airflow.sdk import Connection

    try:
        conn = Connection.get(conn_id)
    except _exception("AirflowNotFoundException"):
        return None
    return database_url(conn.conn_type, host=conn.host, login=conn.login, password=conn.password, port=conn.port,
                        schema=conn.schema, extra=conn.extra_dejson)  # fmt: skip


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # a malformed URL fails later, with the store's own message
        return "<unparsable URL>"


# ---------------------------------------------------------------- errors


@contextmanager
def terminal_errors() -> Iterator[None]:
    """Terminal StackLedger errors → AirflowFailException (no retry); the rest propagate (module docstring)."""
    try:
        yield
    except StackLedgerError as error:
        if error.transient:
            log.warning("transient error, Airflow retries it with backoff: %s", error)
            raise
        fail = _exception("AirflowFailException")
        advice = "terminal, not retried: fix the cause, then clear the task"
        raise fail(f"{type(error).__name__}: {error} — {advice}") from error


def skip(reason: str) -> None:
    """End the task as skipped (nothing to do here), with the reason in its log."""
    raise _exception("AirflowSkipException")(reason)


def _exception(name: str) -> Any:
    try:
        from airflow.sdk import exceptions
    except ImportError:  # pragma: no cover - Airflow 3.0's Task SDK kept them in airflow.exceptions
        import airflow.exceptions as exceptions  # type: ignore[no-redef]
    return getattr(exceptions, name)


# ---------------------------------------------------------------- collection


def planned_sources(settings: Settings) -> list[str]:
    """What the hourly DAG collects: `airflow.sources`, or Keystone, Nova, Cinder and the usage source."""
    from stackledger.pipeline.collect import COLLECTORS, source_names

    configured = settings.airflow.sources
    if configured is not None:
        return source_names(configured) if configured else []
    defaults = [*INVENTORY_DEFAULT, *([settings.usage.source] if settings.usage.source in COLLECTORS else [])]
    return source_names(defaults)


def collect_plan(settings: Settings) -> dict[str, list[Any]]:
    """The hourly DAG's mapped work: Keystone first, the other inventory, then usage shards."""
    from stackledger.pipeline.collect import SHARDABLE

    sources = planned_sources(settings)
    count = settings.airflow.shards
    return {
        "projects": [s for s in sources if s == "keystone"],
        "inventory": [s for s in sources if s != "keystone" and s not in SHARDABLE],
        "shards": [{"source": s, "index": i, "count": count} for s in sources if s in SHARDABLE for i in range(count)],
    }


def settled(settings: Settings, window: Window, now: dt.datetime | None = None) -> bool:
    """Whether `collect.settle_minutes` have passed since the window ended (its data has arrived)."""
    current = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return window.end + dt.timedelta(minutes=settings.collect.settle_minutes) <= current


def collected(results: Sequence[CollectResult]) -> dict[str, Any]:
    """A collect task's XCom summary; raises when a window failed (transient ones are retried)."""
    failures = [(result, failure) for result in results for failure in result.failures]
    if failures:
        listed = "; ".join(f"{r.source} {r.window.label} {f.scope}: {f.reason}" for r, f in failures[:5])
        more = f" (+{len(failures) - 5} more)" if len(failures) > 5 else ""
        if all(failure.transient for _, failure in failures):
            raise TransientSourceError(f"{len(failures)} transient failure(s): {listed}{more}")
        raise SourceError(f"{len(failures)} failure(s), not all transient: {listed}{more}")
    opened = [r.window.label for r in results if r.open]
    if opened:
        log.warning("stored but not checkpointed (not settled yet), collected again next time: %s", ", ".join(opened))
    shard = results[0].shard if results else None
    return {
        "sources": sorted({r.source for r in results}),
        "shard": f"{shard.index}/{shard.count}" if shard else None,
        "windows": len(results),
        "stored": sum(r.stored for r in results),
        "skipped": sum(r.skipped for r in results),
        "open": len(opened),
        "usage_rows": sum(r.usage_rows for r in results),
        "resources": sum(r.resources for r in results),
        "projects": sum(r.projects for r in results),
        "requests": sum(r.requests for r in results),
    }


# ---------------------------------------------------------------- rating, alarms, reports


def rated(results: Sequence[RateResult]) -> dict[str, Any]:
    """A rating task's XCom summary: the days rated, lines written, internal totals (as text)."""
    totals: dict[str, Decimal] = {}
    for result in results:
        for currency, amount in result.totals.items():
            totals[currency] = totals.get(currency, Decimal(0)) + amount
    return {
        "windows": [result.window.label for result in results],
        "usage_rows": sum(result.usage_rows for result in results),
        "cost_lines": sum(result.cost_lines for result in results),
        "totals": {currency: str(amount) for currency, amount in sorted(totals.items())},
    }


def evaluated(result: EvaluationResult) -> dict[str, Any]:
    """An alarm task's XCom summary. Notifications that failed after their retries fail the task
    at once: evaluating the same instant again would not send them (see `stackledger alarms history`)."""
    if result.failed:
        fail = _exception("AirflowFailException")
        raise fail(f"{result.failed} of {len(result.deliveries)} alarm notification(s) failed after their retries; "
                   "`stackledger alarms history` lists them")  # fmt: skip
    return {
        "at": result.at.isoformat(), "rules": result.rules, "evaluated": result.evaluated, "states": result.states,
        "transitions": result.transitions, "notifications": result.notifications, "sent": result.sent,
    }  # fmt: skip


def delivered(result: Any) -> dict[str, Any]:
    """The monthly delivery's XCom summary (`stackledger.pipeline.report.EmailResult`)."""
    unsent = dict(getattr(result, "unsent", {}) or {})
    if unsent:
        listed = "; ".join(f"{why}: {', '.join(names)}" for why, names in unsent.items())
        log.warning("reports sent to nobody: %s", listed)
    skipped = sum(len(s.recipients) for s in getattr(result, "skipped", ()))
    if skipped:  # a retry or re-run: they were sent before (`stackledger report --email --resend` sends again)
        log.info("%d recipient(s) already had these reports: not sent again", skipped)
    return {"files": len(result.paths), "messages": len(result.deliveries), "skipped_recipients": skipped,
            "unsent": unsent}  # fmt: skip


# ---------------------------------------------------------------- sensors and reports


def poke(done: bool, value: Mapping[str, Any]) -> Any:
    """A sensor's answer: done or not, with a summary for XCom."""
    from airflow.sdk import PokeReturnValue

    return PokeReturnValue(is_done=done, xcom_value=dict(value))


def completeness_summary(status: Completeness) -> dict[str, Any]:
    return {
        "window": status.window.label,
        "complete": status.complete,
        "missing_hours": {source: int(sum(span.hours for span in spans)) for source, spans in status.missing.items()},
        "pending_rerate": [day.isoformat() for day in status.pending_rerate],
        "unrated": [day.isoformat() for day in status.unrated],
        "summary": status.describe(),
    }


def report_dir(settings: Settings, window: Window) -> Path:
    """Where the monthly DAG writes a month's reports: (`airflow.report_dir` or `report.out_dir`)/YYYY-MM."""
    base = settings.airflow.report_dir or settings.report.out_dir
    return base / window.label.replace(":", "-").replace("/", "_")


__all__ = [
    "CONFIG_VARIABLE", "DB_CONNECTION", "PERIODS", "Run", "collect_plan", "collected", "completeness_summary",
    "current_run", "database_url", "delivered", "evaluated", "floor", "planned_sources", "poke", "previous", "rated",
    "report_dir", "run_settings", "settings_from_variable", "settled", "skip", "terminal_errors", "window_for",
    "window_from_context",
]  # fmt: skip
