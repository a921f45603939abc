"""Collect step: run a source's collector over windows and store each window atomically.

`collect_range(settings, sources, window)` cuts the range into windows (`collect.window`: UTC
hours or days, clipped to the range) and calls `collect_window` for each source and window;
`stackledger collect` and the DAGs call these.

`collect_window` reads load → transform → save: the collector answers the window for the
projects asked (`collectors.base.Scope`); the pure part turns its hourly readings into usage
(`transforms.usage.hourly_usage`, source = the collector's name) and keeps the shard's own rows;
then ONE transaction replaces the window's usage rows, upserts its inventory and projects and
writes its checkpoint (`pipeline.collect_save`) — and only when the collector reported no
failure. A window with failures stores nothing (rows an earlier complete run stored stay as they
were), gets no checkpoint, and is collected again by the next run; the other windows and sources
go on, and the results say what failed. Re-running a checkpointed window is a no-op unless
`force`, which replaces.

A window that ends less than `collect.settle_minutes` before now is stored but not
checkpointed: its data may still arrive, so the next run collects it again.

Re-collecting a day already rated marks for re-rating the days whose usage it changes
(`pipeline.collect_save`, `pipeline.inventory.replace_resources`).

Project shards (`Shard(index, count)`, the Airflow DAG's mapped tasks): a project belongs to
exactly one shard, by a stable hash of its id. A shard asks its source for the known projects
it owns (the store's projects and resources, or the source's configured project filter) and
for any project not known yet (`SHARDABLE` sources can narrow their asks by `Scope`), keeps only
rows of projects it owns whatever the source answered, replaces only its own projects' usage
rows of the window, and checkpoints under its own name (`gnocchi#1/4`). So shards never double
count, and all the shards of one count together cover the window, new projects included.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

import pandas as pd

from stackledger.collectors.base import EVERY_PROJECT, Collected, Collector, Failure, History, Scope
from stackledger.errors import ConfigError
from stackledger.pipeline.base import store_for
from stackledger.pipeline.collect_save import WindowRecords, save_window
from stackledger.schema import USAGE_COLUMNS, empty_frame
from stackledger.settings import Settings
from stackledger.store import Store, checkpoints, inventory
from stackledger.transforms.usage import hourly_usage
from stackledger.window import Window, utcnow

log = logging.getLogger(__name__)

# source name -> "module:factory"; a factory takes the settings and the source's `History` (what it
# stored before) and returns a ready Collector. `--source all` runs them in this order.
COLLECTORS: dict[str, str] = {
    "gnocchi": "stackledger.collectors.gnocchi:from_settings",
    "keystone": "stackledger.collectors.keystone:from_settings",
    "nova": "stackledger.collectors.nova:from_settings",
    "cinder": "stackledger.collectors.cinder:from_settings",
    "synthetic": "stackledger.collectors.synthetic.collector:from_settings",  # the demo cloud; never in `all`
}
ALL: Final = "all"
NOT_IN_ALL: Final = frozenset({"synthetic"})
# Sources whose collector narrows its asks by project (a `Scope`), so they can be sharded: each
# with its configured project filter (asked for alone, even unsharded).
SHARDABLE: Final[dict[str, Callable[[Settings], Sequence[str]]]] = {
    "gnocchi": lambda settings: settings.gnocchi.projects,
    "synthetic": lambda settings: (),
}


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
    """The registered source's collector, given what that source stored before (its `History`)."""
    (name,) = source_names([source])
    module, factory = COLLECTORS[name].split(":")
    build: Callable[[Settings, History], Collector] = getattr(importlib.import_module(module), factory)
    store = store_for(settings)

    def history(ids: Sequence[str]) -> dict[str, list[dict[str, object]]]:
        return inventory.revisions_of(store, ids, source=name)

    return build(settings, history)


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
    # load: the source's answer for the projects asked
    scope = source_scope(settings, store, source, shard)
    collector = collector or make_collector(settings, source)
    collected = collector.collect(window, scope) if scope is not None else Collected()
    result = CollectResult(source, window, requests=collected.requests, failures=list(collected.failures), shard=shard)
    if not collected.complete:  # whole or not at all: an incomplete window writes nothing
        _log_failures(result)
        return result
    # transform: readings → usage; only the shard's own rows
    records = owned(window_records(settings, source, window, collected), shard)
    # save: one transaction
    current = now if now is not None else utcnow()
    settled = window.end <= current - dt.timedelta(minutes=settings.collect.settle_minutes)
    saved = save_window(settings, store, source, window, records, key=key, checkpoint=settled, shard=shard)
    result.usage_rows, result.resources, result.projects = saved.usage_rows, saved.resources, saved.projects
    result.rerate_days, result.open = saved.rerate_days, not settled
    log.info(
        "collect %s %s: %d usage rows, %d resources, %d projects, %d requests%s",
        source, window.label, result.usage_rows, result.resources, result.projects, result.requests,
        "" if settled else " (open: not checkpointed)",
    )  # fmt: skip
    return result


def is_checkpointed(store: Store, source: str, window: Window) -> bool:
    """Whether checkpoints of `source` (of any window sizes) cover all of `window`."""
    covered = window.start
    for _key, start, end in checkpoints.checkpoint_spans(store, source, window):
        if start > covered:
            return False
        covered = max(covered, end)
        if covered >= window.end:
            return True
    return False


def source_scope(settings: Settings, store: Store, source: str, shard: Shard | None) -> Scope | None:
    """The projects to ask `source` for (None: none at all). Unsharded: its configured project filter,
    or every project. A shard: the known projects it owns — the configured ones, or else those the
    store knows and any project not known yet."""
    configured = tuple(SHARDABLE[source](settings)) if source in SHARDABLE else ()
    if shard is None:
        return Scope(projects=configured) if configured else EVERY_PROJECT
    if source not in SHARDABLE:
        valid = ", ".join(sorted(SHARDABLE))
        raise ConfigError(f"source {source!r} cannot be sharded by project; shardable: {valid}", key="airflow.shards")
    known = configured or tuple(inventory.known_project_ids(store))
    owned_projects = tuple(p for p in known if shard.owns(p))
    if configured:  # nothing else may be asked
        return Scope(projects=owned_projects) if owned_projects else None
    return Scope(projects=owned_projects, unknown_besides=known)


def window_records(settings: Settings, source: str, window: Window, collected: Collected) -> WindowRecords:
    """What to store of a complete `collected`: its readings turned into the window's usage (pure)."""
    usage = empty_frame(USAGE_COLUMNS)
    if len(collected.readings):
        usage = hourly_usage(collected.readings, collected.resources, window, source=source,
                             default_region=settings.usage.region)  # fmt: skip
    return WindowRecords(usage, collected.resources, collected.projects, collected.resources_partial,
                         collected.volume_types)  # fmt: skip


def owned(records: WindowRecords, shard: Shard | None) -> WindowRecords:
    """Only the rows (usage, resources, projects) of the projects `shard` owns (pure)."""
    if shard is None:
        return records

    def mine(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[frame["project_id"].map(shard.owns).astype(bool)] if len(frame) else frame

    return WindowRecords(mine(records.usage), mine(records.resources), mine(records.projects),
                         records.resources_partial, records.volume_types)  # fmt: skip


def _log_failures(result: CollectResult) -> None:
    log.warning(
        "collect %s %s: nothing stored, %d failures: %s", result.source, result.window.label, len(result.failures),
        "; ".join(f"{f.scope}: {f.reason}" for f in result.failures),
    )  # fmt: skip


__all__ = [
    "ALL", "COLLECTORS", "NOT_IN_ALL", "SHARDABLE", "CollectResult", "Progress", "Shard", "collect_range",
    "collect_window", "is_checkpointed", "make_collector", "owned", "source_names", "source_scope", "window_records",
    "windows",
]  # fmt: skip
