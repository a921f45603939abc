"""What the DAG tasks hand Airflow: the collect plan, XCom summaries of each step's result (raising
when a step's failures must fail the task), sensor answers and where reports go."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from stackledger.airflow_support.errors import airflow_exception
from stackledger.errors import SourceError, TransientSourceError
from stackledger.settings import Settings
from stackledger.window import Window, utcnow

if TYPE_CHECKING:
    from stackledger.pipeline.alarms import EvaluationResult
    from stackledger.pipeline.collect import CollectResult
    from stackledger.pipeline.completeness import Completeness
    from stackledger.pipeline.rate import RateResult

log = logging.getLogger(__name__)

INVENTORY_DEFAULT: Final = ("keystone", "nova", "cinder")


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


def rating_plan(settings: Settings, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """The daily DAG's mapped rating: one entry per shard of `airflow.shards`, each carrying when
    rating began (a late sample stored after that keeps its day's re-rating mark)."""
    began = (now or utcnow()).isoformat()
    count = settings.airflow.shards
    return [{"index": index, "count": count, "began": began} for index in range(count)]


def settled(settings: Settings, window: Window, now: dt.datetime | None = None) -> bool:
    """Whether `collect.settle_minutes` have passed since the window ended (its data has arrived)."""
    current = now or utcnow()
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
        fail = airflow_exception("AirflowFailException")
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
    "INVENTORY_DEFAULT", "collect_plan", "collected", "completeness_summary", "delivered", "evaluated",
    "planned_sources", "poke", "rated", "report_dir", "settled",
]  # fmt: skip
