"""Inventory writes: projects (Keystone's view) and resources (Nova, Cinder, Glance, Neutron).

The Keystone/Nova/Cinder collectors and the synthetic cloud call these with canonical frames:

- `store_projects(settings, frame)` upserts by `project_id`: a project that is already stored is
  replaced by its new row, others are left alone.
- `store_resources(settings, frame, source)` replaces, for every resource id in the frame, all the
  rows that `source` stored for it (every revision), in one transaction: the frame is that
  source's whole current knowledge of those resources, so a revision it no longer reports goes.

Both validate against `schema.PROJECT_COLUMNS` / `schema.RESOURCE_COLUMNS` first, then check
what the database would otherwise reject half-way (missing ids, overlapping revisions), and
raise `SchemaError` naming the offending row before anything is written.

A caller that stores more in the same transaction (a collector's usage and checkpoint) converts
with `project_rows` / `resource_rows` first — that is where validation happens — and writes
with `store.inventory.upsert_projects` / `replace_resources` inside its own `store.transaction()`.

Re-rating (DESIGN §4): with `usage.source: ceilometer` usage is computed from samples AND this
inventory (every source's revisions, `pipeline.usage.load_inventory`): lifetimes cut hours, the
revision in force gives flavor, vCPUs, RAM, volume type, region and project. So a write that
changes what the usage step would read (`rerate=True`; `store_resources` decides from the
settings) marks in `rerate_days`, in the same transaction, the rated days of the spans it
changes (`pipeline.inventory_changes`), each with a day's margin on both sides, for samples
trailing a deletion past midnight. `stackledger rate --pending` then recomputes those days'
usage and prices them again. Columns usage does not read (name, disk size, `valid_to`) and
identical rows mark nothing.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, Final

import pandas as pd

from stackledger.errors import SchemaError
from stackledger.pipeline.base import store_for
from stackledger.pipeline.inventory_changes import FUTURE, PAST, ResourceUsage, changed_spans
from stackledger.pipeline.rerate import comparable, mark_rerate
from stackledger.pipeline.usage import computes_usage
from stackledger.schema import PROJECT_COLUMNS, RESOURCE_COLUMNS, SERVICES, validate_frame
from stackledger.settings import Settings
from stackledger.store import Connection, Store, costs, inventory
from stackledger.store.refused import as_store_error

log = logging.getLogger(__name__)

RESOURCE_TYPES: Final = frozenset(s.resource_type for s in SERVICES.values())


def store_projects(settings: Settings, frame: pd.DataFrame, *, source: str | None = None) -> int:
    """Upsert projects by `project_id`. `source` defaults to the frame's `source` column.

    Returns the number of rows written.
    """
    rows = project_rows(frame, source=source)
    store = store_for(settings)
    with as_store_error("projects"), store.transaction() as conn:
        count = inventory.upsert_projects(store, conn, rows)
    log.info("inventory: stored %d projects", count)
    return count


def store_resources(settings: Settings, frame: pd.DataFrame, source: str) -> int:
    """Replace every row `source` holds for the frame's resource ids with the frame's rows,
    marking the rated days whose usage that changes (module docstring).

    Returns the number of rows written.
    """
    rows = resource_rows(frame, source=source)
    store = store_for(settings)
    with as_store_error("resources"), store.transaction() as conn:
        count = replace_resources(store, conn, source, rows, rerate=computes_usage(settings))
    resources = len({row["resource_id"] for row in rows})
    log.info("inventory: stored %d revisions of %d resources from %s", count, resources, source)
    return count


# ---------------------------------------------------------------- inside a caller's transaction


def replace_resources(
    store: Store,
    conn: Connection,
    source: str,
    rows: Sequence[Mapping[str, Any]],
    *,
    partial: bool = False,
    rerate: bool = False,
    marked: set[dt.date] | None = None,
) -> int:
    """Write `resource_rows` output, first deleting every row `source` holds for those resource
    ids — or (`partial`) only its rows of the same revisions, (resource_id, valid_from).

    `rerate`: usage is computed from the inventory, so mark the rated days whose usage the write
    changes (module docstring), adding them to `marked` when given."""
    if not source:
        raise SchemaError("resources: source must be a non-empty name")
    if rerate and rows:
        days = _changed_days(conn, source, rows, partial=partial)
        mark_rerate(store, conn, days, marked=marked, why=f"inventory from {source}")
    return inventory.replace_resources(store, conn, source, rows, partial=partial)


# ---------------------------------------------------------------- what an inventory write changes


def _changed_days(conn: Connection, source: str, rows: Sequence[Mapping[str, Any]], *, partial: bool) -> set[dt.date]:
    """The days whose usage may change when `rows` replace `source`'s stored revisions: each
    resource's inventory as usage reads it (every source's revisions, one per instant), before
    and after, compared."""
    ids = sorted({row["resource_id"] for row in rows})
    before = inventory.revisions_of(conn, ids)
    replaced = {(row["resource_id"], comparable(row["valid_from"])) for row in rows}
    after: dict[str, list[dict[str, Any]]] = {}
    for resource_id, revisions in before.items():
        for stored in revisions:
            mine = stored["source"] == source
            if mine and (not partial or (resource_id, comparable(stored["valid_from"])) in replaced):
                continue
            after.setdefault(resource_id, []).append(stored)
    for row in rows:
        after.setdefault(row["resource_id"], []).append({**row, "source": source})
    spans = [
        span
        for resource_id in ids
        for span in changed_spans(ResourceUsage.of(before.get(resource_id)), ResourceUsage.of(after.get(resource_id)))
    ]
    if not spans:
        return set()
    # A span's days, both ends' included, and the day on each side: a sample trailing a deletion
    # (or a counter's previous reading) can fall on the next (previous) day. An open end reaches
    # the first or last rated day.
    days = [(_day_before(start), _day_after(end)) for start, end in spans]
    first, last = min(start for start, _ in days), max(end for _, end in days)
    since = None if first == dt.date.min else dt.datetime.combine(first, dt.time())
    until = None if last == dt.date.max else dt.datetime.combine(last, dt.time()) + dt.timedelta(days=1)
    rated = costs.rated_days(conn, since, until)
    return {day for day in rated if any(start <= day <= end for start, end in days)}


def _day_before(start: dt.datetime) -> dt.date:
    return dt.date.min if start == PAST else start.date() - dt.timedelta(days=1)


def _day_after(end: dt.datetime) -> dt.date:
    return dt.date.max if end == FUTURE else end.date() + dt.timedelta(days=1)


# ---------------------------------------------------------------- validation and conversion


def project_rows(frame: pd.DataFrame, *, source: str | None = None) -> list[dict[str, Any]]:
    """Canonical project rows as plain Python values (tags a list, budget a Decimal or None)."""
    validate_frame(frame, PROJECT_COLUMNS, stage="store_projects")
    sources = frame["source"] if source is None and "source" in frame else None
    rows = []
    for position, record in enumerate(_records(frame, PROJECT_COLUMNS)):
        where = f"store_projects: row {position}"
        if not isinstance(record["project_id"], str) or not record["project_id"]:
            raise SchemaError(f"{where}: project_id is missing")
        tags = record["tags"]
        if tags is None:
            tags = []
        if not isinstance(tags, list | tuple) or not all(isinstance(t, str) for t in tags):
            raise SchemaError(f"{where} ({record['project_id']}): tags must be a list of strings")
        record["tags"] = list(tags)
        record["budget_amount"] = _decimal(record["budget_amount"], where)
        record["source"] = _value(sources.iloc[position]) if sources is not None else source
        rows.append(record)
    _no_duplicates([row["project_id"] for row in rows], "store_projects", "project_id")
    return rows


def resource_rows(frame: pd.DataFrame, *, source: str) -> list[dict[str, Any]]:
    """Canonical resource rows as plain Python values, revisions checked not to overlap."""
    if not source:
        raise SchemaError("store_resources: source must be a non-empty name")
    validate_frame(frame, RESOURCE_COLUMNS, stage="store_resources")
    rows = []
    for position, record in enumerate(_records(frame, RESOURCE_COLUMNS)):
        where = f"store_resources: row {position}"
        if not isinstance(record["resource_id"], str) or not record["resource_id"]:
            raise SchemaError(f"{where}: resource_id is missing")
        where = f"{where} ({record['resource_id']})"
        if record["resource_type"] not in RESOURCE_TYPES:
            valid = ", ".join(sorted(RESOURCE_TYPES))
            raise SchemaError(f"{where}: resource_type {record['resource_type']!r} is not one of {valid}")
        if record["valid_from"] is None:
            raise SchemaError(f"{where}: valid_from is missing (use started_at for a single revision)")
        if record["valid_to"] is not None and record["valid_to"] <= record["valid_from"]:
            raise SchemaError(f"{where}: valid_to {record['valid_to']} is not after valid_from {record['valid_from']}")
        if (
            record["ended_at"] is not None
            and record["started_at"] is not None
            and record["ended_at"] < record["started_at"]
        ):
            raise SchemaError(f"{where}: ended_at {record['ended_at']} is before started_at {record['started_at']}")
        record["source"] = source
        rows.append(record)
    _check_revisions(rows)
    return rows


def _check_revisions(rows: Sequence[dict[str, Any]]) -> None:
    by_id: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_id.setdefault(row["resource_id"], []).append(row)
    for resource_id, revisions in by_id.items():
        revisions.sort(key=lambda r: r["valid_from"])
        for before, after in itertools.pairwise(revisions):
            if before["valid_from"] == after["valid_from"]:
                raise SchemaError(f"store_resources: {resource_id} has two revisions from {after['valid_from']}")
            if before["valid_to"] is None or before["valid_to"] > after["valid_from"]:
                raise SchemaError(
                    f"store_resources: {resource_id}: the revision from {before['valid_from']} overlaps "
                    f"the next one, which starts {after['valid_from']}"
                )


def _records(frame: pd.DataFrame, columns: dict[str, str]) -> Iterator[dict[str, Any]]:
    names = list(columns)
    for values in frame[names].itertuples(index=False, name=None):
        yield {name: _value(value) for name, value in zip(names, values, strict=True)}


def _value(value: Any) -> Any:
    """A frame cell as a value the database driver takes: NaN/NaT → None, numpy → Python."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, dt.datetime | Decimal | str | list | tuple | dict):
        return value
    if hasattr(value, "item"):  # numpy scalars
        item = value.item()
        return None if isinstance(item, float) and math.isnan(item) else item
    if pd.isna(value):
        return None
    return value


def _decimal(value: Any, where: str) -> Decimal | None:
    if value is None:
        return None
    try:
        amount = Decimal(str(value))
    except ArithmeticError:
        raise SchemaError(f"{where}: budget_amount {value!r} is not a number") from None
    if not amount.is_finite():
        raise SchemaError(f"{where}: budget_amount {value!r} is not a finite number")
    return amount


def _no_duplicates(values: Sequence[str], stage: str, column: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise SchemaError(f"{stage}: {column} {value} appears twice")
        seen.add(value)


__all__ = ["project_rows", "replace_resources", "resource_rows", "store_projects", "store_resources"]
