"""Collect step: run a source's collector over windows and store each window atomically.

`collect_range(settings, sources, window)` cuts the range into windows (`collect.window`: UTC
hours or days, clipped to the range) and calls `collect_window` for each source and window;
`stackledger collect` and the DAGs call these.

Per (source, window) the store holds a checkpoint row. A window is stored whole or not at all:
its usage rows replaced, its inventory and projects upserted and its checkpoint written in ONE
transaction — and only when the collector reported no failure. A window with failures stores
nothing (rows an earlier complete run stored stay as they were), gets no checkpoint, and is
collected again by the next run; the other windows and sources go on, and the results say
what failed. Re-running a checkpointed window is a no-op unless `force`, which replaces.

A window that ends less than `collect.settle_minutes` before now is stored but not
checkpointed: its data may still arrive, so the next run collects it again.

Re-collecting a day already rated (`force`, or a window collected again before it settled):
when the collected source is the one rating reads (`usage.source`), every rated day whose usage
rows the new ones change is marked in `rerate_days`, in the same transaction — as late samples
mark theirs (DESIGN §4) — so the next `stackledger rate --pending` (the daily DAG) prices it
again. With `usage.source: ceilometer` usage is computed from samples and the inventory, so any
source's resources write (Nova's, Cinder's) marks, in the same transaction, the rated days whose
usage its changed revisions alter (`pipeline.inventory.replace_resources`). A re-collect that
changes nothing marks nothing.

Project shards (`Shard(index, count)`, the Airflow DAG's mapped tasks): a project belongs to
exactly one shard, by a stable hash of its id. A shard asks its source for the known projects
it owns (the store's projects and resources) and for any project not known yet (`SHARDABLE`
collectors take `projects` and `known_projects`), keeps only rows of projects it owns whatever
the source answered, replaces only its own projects' usage rows of the window, and
checkpoints under its own name (`gnocchi#1/4`). So shards never double count, and all the
shards of one count together cover the window, new projects included.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib
import logging
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import ColumnElement, Connection, and_, select

from stackledger.collectors.base import Collected, Collector, Failure
from stackledger.errors import ConfigError
from stackledger.pipeline.base import store_for
from stackledger.pipeline.inventory import (
    inventory_feeds_usage,
    project_rows,
    replace_resources,
    resource_rows,
    upsert_projects,
)
from stackledger.pipeline.rerate import as_naive_utc, comparable, mark_rerate, rated_days
from stackledger.pipeline.usage import usage_records
from stackledger.schema import USAGE_COLUMNS
from stackledger.settings import Settings
from stackledger.store import Store, tables
from stackledger.window import Window

log = logging.getLogger(__name__)

# source name -> "module:factory"; a factory takes the settings and returns a ready Collector.
# `--source all` runs them in this order.
COLLECTORS: dict[str, str] = {
    "gnocchi": "stackledger.collectors.gnocchi:from_settings",
    "keystone": "stackledger.collectors.keystone:from_settings",
    "nova": "stackledger.collectors.nova:from_settings",
    "cinder": "stackledger.collectors.cinder:from_settings",
    "synthetic": "stackledger.collectors.synthetic.collector:from_settings",  # the demo cloud; never in `all`
}
ALL: Final = "all"
NOT_IN_ALL: Final = frozenset({"synthetic"})
# Sources whose collector takes a project list (a `projects` attribute): they can be sharded.
SHARDABLE: Final = frozenset({"gnocchi", "synthetic"})
_CHUNK: Final = 500  # ids per `IN (...)`


@dataclass
class CollectResult:
    source: str
    window: Window
    usage_rows: int = 0
    resources: int = 0
    projects: int = 0
    requests: int = 0
    skipped: bool = False  # the checkpoints said this window is already stored
    open: bool = False  # stored, but too recent to checkpoint: collected again next run
    failures: list[Failure] = field(default_factory=list)
    shard: Shard | None = None
    rerate_days: set[dt.date] = field(default_factory=set)  # rated days whose usage this run changed

    @property
    def complete(self) -> bool:
        return not self.failures

    @property
    def stored(self) -> bool:
        return self.complete and not self.skipped


@dataclass(frozen=True)
class Shard:
    """Projects `index` of `count`: those whose id hashes to `index` (module docstring)."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 0 <= self.index < self.count:
            raise ConfigError(f"shard {self.index} of {self.count} does not exist", key="airflow.shards")

    def owns(self, project_id: str | None) -> bool:
        """Whether this shard collects `project_id` (rows without a project go to shard 0)."""
        if not isinstance(project_id, str):  # None (or NaN from a frame)
            return self.index == 0
        digest = hashlib.sha256(project_id.encode("utf-8")).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index

    def checkpoint(self, source: str) -> str:
        """The name this shard's checkpoints are stored under (the source itself when unsharded)."""
        return source if self.count == 1 else f"{source}#{self.index}/{self.count}"


# Called before a window ("start", result=None) and after it ("done", its result).
Progress = Callable[[str, str, Window, CollectResult | None], None]


def source_names(requested: Sequence[str]) -> list[str]:
    """The registered sources asked for (`all` = every one, in registry order)."""
    valid = ", ".join([*COLLECTORS, ALL])
    names: list[str] = []
    for name in requested:
        if name == ALL:
            names.extend(n for n in COLLECTORS if n not in NOT_IN_ALL)
        elif name in COLLECTORS:
            names.append(name)
        else:
            raise ConfigError(f"unknown source {name!r}; valid: {valid}", key="--source")
    if not names:
        raise ConfigError(f"no source to collect; valid: {valid}", key="--source")
    return list(dict.fromkeys(names))


def make_collector(settings: Settings, source: str) -> Collector:
    (name,) = source_names([source])
    module, factory = COLLECTORS[name].split(":")
    build: Callable[[Settings], Collector] = getattr(importlib.import_module(module), factory)
    return build(settings)


def windows(window: Window, size: str) -> list[Window]:
    """`window` cut into UTC hours or days (clipped to it); its ends must be whole hours."""
    for name, instant in (("--start", window.start), ("--end", window.end)):
        if instant != instant.replace(minute=0, second=0, microsecond=0):
            raise ConfigError(f"{instant.isoformat()} is not on a whole hour: usage is hourly", key=name)
    if size == "day":
        return list(window.days())
    if size != "hour":
        raise ConfigError(f"window size {size!r} is not one of: hour, day", key="collect.window")
    hour = dt.timedelta(hours=1)
    return [Window(window.start + h * hour, window.start + (h + 1) * hour) for h in range(int(window.hours))]


def collect_range(
    settings: Settings,
    sources: Sequence[str],
    window: Window,
    *,
    force: bool = False,
    size: str | None = None,
    progress: Progress | None = None,
    now: dt.datetime | None = None,
    shard: Shard | None = None,
) -> list[CollectResult]:
    """Every window of every source asked for, in order; one result per (source, window)."""
    names = source_names(sources)
    parts = windows(window, size or settings.collect.window)
    results: list[CollectResult] = []
    for source in names:
        collector = make_collector(settings, source)
        for part in parts:
            if progress is not None:
                progress("start", source, part, None)
            result = collect_window(settings, source, part, force=force, collector=collector, now=now, shard=shard)
            results.append(result)
            if progress is not None:
                progress("done", source, part, result)
    return results


def collect_window(
    settings: Settings,
    source: str,
    window: Window,
    *,
    force: bool = False,
    collector: Collector | None = None,
    now: dt.datetime | None = None,
    shard: Shard | None = None,
) -> CollectResult:
    """Collect and store one window of one source, or of one project shard of it (module docstring)."""
    store = store_for(settings)
    shard = shard if shard is not None and shard.count > 1 else None
    key = shard.checkpoint(source) if shard else source
    if not force and is_checkpointed(store, key, window):
        log.info("collect %s %s: already stored, skipped", key, window.label)
        return CollectResult(source, window, skipped=True, shard=shard)
    collector = collector or make_collector(settings, source)
    collected = _collect_shard(store, source, window, collector, shard) if shard else collector.collect(window)
    current = now if now is not None else dt.datetime.now(dt.UTC).replace(tzinfo=None)
    settled = window.end <= current - dt.timedelta(minutes=settings.collect.settle_minutes)
    rated = source == settings.usage.source  # rating reads this source's usage
    result = _store_window(store, source, window, collected, checkpoint=settled, shard=shard, rated=rated,
                           inventory_rated=inventory_feeds_usage(settings))  # fmt: skip
    if result.complete:
        log.info(
            "collect %s %s: %d usage rows, %d resources, %d projects, %d requests%s",
            source, window.label, result.usage_rows, result.resources, result.projects, result.requests,
            "" if settled else " (open: not checkpointed)",
        )  # fmt: skip
    else:
        log.warning(
            "collect %s %s: nothing stored, %d failures: %s", source, window.label, len(result.failures),
            "; ".join(f"{f.scope}: {f.reason}" for f in result.failures),
        )  # fmt: skip
    return result


def is_checkpointed(store: Store, source: str, window: Window) -> bool:
    """Whether checkpoints of `source` (of any window sizes) cover all of `window`."""
    table = tables.checkpoints
    query = (
        select(table.c.window_start, table.c.window_end)
        .where(table.c.source == source, table.c.window_start < window.end, table.c.window_end > window.start)
        .order_by(table.c.window_start)
    )
    with store.engine.connect() as conn:
        spans = conn.execute(query).all()
    covered = window.start
    for start, end in spans:
        if start > covered:
            return False
        covered = max(covered, end)
        if covered >= window.end:
            return True
    return False


def _collect_shard(store: Store, source: str, window: Window, collector: Collector, shard: Shard) -> Collected:
    """The source asked for the shard's known projects and any unknown one; only the shard's rows kept."""
    projects: list[str] | None = getattr(collector, "projects", None)
    if source not in SHARDABLE or projects is None or not hasattr(collector, "known_projects"):
        valid = ", ".join(sorted(SHARDABLE))
        raise ConfigError(f"source {source!r} cannot be sharded by project; shardable: {valid}", key="airflow.shards")
    configured = list(projects)  # the source's own project filter (e.g. gnocchi.projects), if any
    known = configured or _known_projects(store)
    owned = [p for p in known if shard.owns(p)]
    if configured and not owned:
        return Collected()  # none of the configured projects is this shard's: nothing to ask
    # With a configured filter nothing else may be asked; otherwise projects nobody knows yet too.
    collector.projects, collector.known_projects = owned, [] if configured else known  # type: ignore[attr-defined]
    try:
        collected = collector.collect(window)
    finally:
        collector.projects, collector.known_projects = configured, []  # type: ignore[attr-defined]
    mine = [collected.usage["project_id"], collected.resources["project_id"], collected.projects["project_id"]]
    usage, resources, projects_frame = (
        frame[column.map(shard.owns).astype(bool)] if len(frame) else frame
        for frame, column in zip((collected.usage, collected.resources, collected.projects), mine, strict=True)
    )
    return Collected(usage, resources, projects_frame, collected.failures, collected.requests,
                     collected.resources_partial)  # fmt: skip


def _known_projects(store: Store) -> list[str]:
    """Every project id the store knows: Keystone's projects and the resources' owners."""
    projects, resources = tables.projects.c.project_id, tables.resources.c.project_id
    with store.engine.connect() as conn:
        known = set(conn.execute(select(projects)).scalars())
        known |= set(conn.execute(select(resources).where(resources.is_not(None)).distinct()).scalars())
    return sorted(known)


def _store_window(
    store: Store,
    source: str,
    window: Window,
    collected: Collected,
    *,
    checkpoint: bool,
    shard: Shard | None = None,
    rated: bool = False,
    inventory_rated: bool = False,
) -> CollectResult:
    result = CollectResult(source, window, requests=collected.requests, failures=list(collected.failures), shard=shard)
    if not collected.complete:
        return result  # whole or not at all: an incomplete window writes nothing
    usage = usage_records(collected.usage) if len(collected.usage) else []
    resources = resource_rows(collected.resources, source=source) if len(collected.resources) else []
    projects = project_rows(collected.projects, source=source) if len(collected.projects) else []
    with store.transaction() as conn:
        if rated:
            result.rerate_days = _mark_changed_days(store, conn, source, window, usage, shard=shard)
        _replace_usage(store, conn, source, window, usage, shard=shard)
        replace_resources(store, conn, source, resources, partial=collected.resources_partial,
                          rerate=inventory_rated, marked=result.rerate_days)  # fmt: skip
        upsert_projects(store, conn, projects)
        if checkpoint:
            key = shard.checkpoint(source) if shard else source
            _checkpoint(store, conn, key, window, len(usage) + len(resources) + len(projects))
    result.usage_rows, result.resources, result.projects = len(usage), len(resources), len(projects)
    result.open = not checkpoint
    return result


def _replace_usage(
    store: Store, conn: Connection, source: str, window: Window, rows: list[dict[str, Any]], *, shard: Shard | None
) -> None:
    table = tables.usage
    where = _window_usage(source, window)
    if shard is None:
        store.replace(conn, table, where, rows)
        return
    # A shard replaces only its own projects' rows: the stored ones it owns, and the new ones.
    stored = set(conn.execute(select(table.c.project_id).where(where).distinct()).scalars())
    mine = sorted(p for p in stored | {row["project_id"] for row in rows} if p is not None and shard.owns(p))
    if shard.owns(None):
        conn.execute(table.delete().where(where, table.c.project_id.is_(None)))
    for chunk in _chunks(mine):
        conn.execute(table.delete().where(where, table.c.project_id.in_(chunk)))
    store.insert(conn, table, rows)


def _window_usage(source: str, window: Window) -> ColumnElement[bool]:
    table = tables.usage
    return and_(
        table.c.source == source,
        table.c.charge_period_start >= window.start,
        table.c.charge_period_start < window.end,
    )


def _mark_changed_days(
    store: Store, conn: Connection, source: str, window: Window, rows: list[dict[str, Any]], *, shard: Shard | None
) -> set[dt.date]:
    """Mark for re-rating the rated days of `window` whose stored usage rows (the shard's own)
    differ from `rows`, which are about to replace them. Returns the days marked."""
    # A cost line is one UTC day starting at midnight: a window of hours still finds its day.
    rated = rated_days(conn, dt.datetime.combine(window.start.date(), dt.time()), window.end)
    if not rated:  # the usual case, a window collected for the first time: nothing to compare
        return set()
    table = tables.usage
    columns = [table.c[name] for name in USAGE_COLUMNS]
    stored = [dict(row) for row in conn.execute(select(*columns).where(_window_usage(source, window))).mappings()]
    if shard is not None:
        stored = [row for row in stored if shard.owns(row["project_id"])]
    before, after = _usage_by_day(stored), _usage_by_day(rows)
    changed = {day for day in rated if before.get(day) != after.get(day)}
    return mark_rerate(store, conn, changed, why=f"collect {source} {window.label}: usage changed")


def _usage_by_day(rows: Sequence[Mapping[str, Any]]) -> dict[dt.date, Counter[tuple[Any, ...]]]:
    """Usage rows as a multiset per day, comparable between the store and a collector: floats
    rounded (a database round trip may differ in the last bits), datetimes naive."""
    days: dict[dt.date, Counter[tuple[Any, ...]]] = {}
    for row in rows:
        key = tuple(comparable(row[name]) for name in USAGE_COLUMNS)
        days.setdefault(as_naive_utc(row["charge_period_start"]).date(), Counter())[key] += 1
    return days


def _checkpoint(store: Store, conn: Connection, source: str, window: Window, rows: int) -> None:
    table = tables.checkpoints
    where = and_(table.c.source == source, table.c.window_start == window.start)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    record = {
        "source": source,
        "window_start": window.start,
        "window_end": window.end,
        "rows": rows,
        "completed_at": now,
    }
    store.replace(conn, table, where, [record])


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


__all__ = [
    "ALL", "COLLECTORS", "NOT_IN_ALL", "SHARDABLE", "CollectResult", "Progress", "Shard", "collect_range",
    "collect_window", "is_checkpointed", "make_collector", "source_names", "windows",
]  # fmt: skip
