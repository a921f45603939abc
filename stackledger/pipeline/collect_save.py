"""Saving one collected window (`pipeline.collect`): its usage rows replaced, its inventory and
projects upserted and its checkpoint written in ONE transaction.

Re-collecting a day already rated (`force`, or a window collected again before it settled):
when the collected source is the one rating reads (`usage.source`), every rated day whose usage
rows the new ones change is marked in `rerate_days`, in the same transaction — as late samples
mark theirs (DESIGN §4) — so the next `stackledger rate --pending` (the daily DAG) prices it
again. With `usage.source: ceilometer` usage is computed from samples and the inventory, so any
source's resources write (Nova's, Cinder's) marks, in the same transaction, the rated days whose
usage its changed revisions alter (`pipeline.inventory.replace_resources`). A re-collect that
changes nothing marks nothing.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from stackledger.pipeline.inventory import project_rows, replace_resources, resource_rows
from stackledger.pipeline.rerate import comparable, mark_rerate
from stackledger.pipeline.usage import computes_usage
from stackledger.schema import USAGE_COLUMNS
from stackledger.settings import Settings
from stackledger.store import Connection, Store, checkpoints, costs, inventory
from stackledger.store import usage as usage_store
from stackledger.store.frames import frame_rows
from stackledger.store.volume_types import save_volume_types
from stackledger.window import Window, utcnow

if TYPE_CHECKING:
    from stackledger.pipeline.collect import Shard


@dataclass(frozen=True)
class WindowRecords:
    """What a complete collect of one window stores: usage (USAGE_COLUMNS), resources
    (RESOURCE_COLUMNS) and projects (PROJECT_COLUMNS), and whether the resources are partial
    (`collectors.base.Collected.resources_partial`)."""

    usage: pd.DataFrame
    resources: pd.DataFrame
    projects: pd.DataFrame
    resources_partial: bool = False
    volume_types: dict[str, str] = field(default_factory=dict)  # Cinder's: id -> name


@dataclass
class Saved:
    usage_rows: int = 0
    resources: int = 0
    projects: int = 0
    rerate_days: set[dt.date] = field(default_factory=set)  # rated days this write changed


def save_window(
    settings: Settings,
    store: Store,
    source: str,
    window: Window,
    records: WindowRecords,
    *,
    key: str,
    checkpoint: bool,
    shard: Shard | None = None,
) -> Saved:
    """Store `records` of `source`'s `window` in one transaction; checkpoint it under `key` when
    `checkpoint`. A shard replaces only its own projects' usage rows."""
    resources = resource_rows(records.resources, source=source) if len(records.resources) else []
    projects = project_rows(records.projects, source=source) if len(records.projects) else []
    saved = Saved(len(records.usage), len(resources), len(projects))
    with store.transaction() as conn:
        if source == settings.usage.source:  # rating reads this source's usage
            _mark_changed_days(store, conn, source, window, records.usage, shard, saved.rerate_days)
        if shard is None:
            usage_store.replace_usage(store, conn, window, source, records.usage)
        else:
            usage_store.replace_project_usage(store, conn, window, source, records.usage, shard.owns)
        replace_resources(store, conn, source, resources, partial=records.resources_partial,
                          rerate=computes_usage(settings), marked=saved.rerate_days)  # fmt: skip
        inventory.upsert_projects(store, conn, projects)
        save_volume_types(store, conn, records.volume_types, now=utcnow())
        if checkpoint:
            rows = saved.usage_rows + saved.resources + saved.projects
            checkpoints.write_checkpoint(store, conn, key, window, rows, now=utcnow())
    return saved


def _mark_changed_days(
    store: Store,
    conn: Connection,
    source: str,
    window: Window,
    usage: pd.DataFrame,
    shard: Shard | None,
    marked: set[dt.date],
) -> None:
    """Mark for re-rating the rated days of `window` whose stored usage rows (the shard's own)
    differ from `usage`, which is about to replace them."""
    # A cost line is one UTC day starting at midnight: a window of hours still finds its day.
    rated = costs.rated_days(conn, dt.datetime.combine(window.start.date(), dt.time()), window.end)
    if not rated:  # the usual case, a window collected for the first time: nothing to compare
        return
    stored = usage_store.read_usage(conn, window, source)
    if shard is not None and len(stored):
        stored = stored[stored["project_id"].map(shard.owns).astype(bool)]
    before, after = _usage_by_day(stored), _usage_by_day(usage)
    changed = {day for day in rated if before.get(day) != after.get(day)}
    mark_rerate(store, conn, changed, marked=marked, why=f"collect {source} {window.label}: usage changed")


def _usage_by_day(usage: pd.DataFrame) -> dict[dt.date, Counter[tuple[Any, ...]]]:
    """Usage rows as a multiset per day, comparable between the store and a collector: floats
    rounded (a database round trip may differ in the last bits), datetimes naive."""
    days: dict[dt.date, Counter[tuple[Any, ...]]] = {}
    for row in frame_rows(usage, USAGE_COLUMNS) if len(usage) else []:
        key = tuple(comparable(row[name]) for name in USAGE_COLUMNS)
        days.setdefault(row["charge_period_start"].date(), Counter())[key] += 1
    return days


__all__ = ["Saved", "WindowRecords", "save_window"]
