"""Usage step: stored samples + inventory → hourly usage rows, replaced per window.

`compute_usage(settings, window)` loads the window's samples (cumulative counters from
`usage.cumulative_lookback_hours` earlier, so the window's first delta has a predecessor) and
the inventory of resources alive in or just before the window, runs the pure
`transforms.usage.hourly_usage`, and replaces the window's "ceilometer" usage rows in ONE
transaction: a re-run replaces, never adds. `load_usage(settings, window)` reads them back.
`prepare_usage` is what rating calls: it computes "ceilometer" usage, or — with
`usage.source: gnocchi` — only counts the rows `stackledger collect` stored.
The window must start and end on whole hours (rating passes whole UTC days).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Final

import numpy as np
import pandas as pd
from sqlalchemy import ColumnElement, and_, func, or_, select

from stackledger.pipeline.base import store_for
from stackledger.schema import METERS, RESOURCE_COLUMNS, SAMPLE_COLUMNS, USAGE_COLUMNS, validate_frame
from stackledger.settings import Settings
from stackledger.store import Store, tables
from stackledger.transforms.usage import hourly_usage
from stackledger.window import Window

log = logging.getLogger(__name__)

# The sources that own the inventory (Nova's servers, Cinder's volumes): their revision wins over
# another source's revision of the same resource from the same instant.
INVENTORY_FIRST: Final = ("nova", "cinder")

SOURCE: Final = "ceilometer"  # the usage rows this step owns (Gnocchi-derived usage would be another)
# Only counters with a service need their previous reading; `cpu` only marks presence.
LOOKBACK_METERS: Final = tuple(name for name, m in METERS.items() if m.kind == "cumulative" and m.service)


def compute_usage(settings: Settings, window: Window) -> int:
    """Recompute the hourly usage of `window` and replace its stored rows. Returns the row count."""
    store = store_for(settings)
    lookback = dt.timedelta(hours=settings.usage.cumulative_lookback_hours)
    samples = _load_samples(store, window, lookback)
    resources = _load_resources(store, window, lookback)
    usage = hourly_usage(samples, resources, window, source=SOURCE, default_region=settings.usage.region)
    rows = usage_records(usage)
    with store.transaction() as conn:
        count = store.replace(conn, tables.usage, _stored(window, SOURCE), rows)
    log.info(
        "usage %s: %d samples, %d resource revisions -> %d usage rows",
        window.label,
        len(samples),
        len(resources),
        count,
    )
    return count


def prepare_usage(settings: Settings, window: Window) -> int:
    """Make the usage rating reads (`usage.source`) ready for `window`; returns its row count.

    "ceilometer": computed here from stored samples (`compute_usage`). Any other source (e.g.
    "gnocchi") is collected ready-made by `stackledger collect`: this only counts its rows."""
    if settings.usage.source == SOURCE:
        return compute_usage(settings, window)
    usage = tables.usage
    query = select(func.count()).select_from(usage).where(_stored(window, settings.usage.source))
    with store_for(settings).engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def load_usage(settings: Settings, window: Window, *, source: str | None = None) -> pd.DataFrame:
    """Stored usage rows whose hour starts in `window` (every source unless one is named),
    ordered by hour, resource, service and flavor. Rating passes `settings.usage.source`:
    Gnocchi's and Ceilometer's usage describe the same cloud, and only one may be priced."""
    usage = tables.usage
    query = (
        select(*(usage.c[name] for name in USAGE_COLUMNS))
        .where(_stored(window, source))
        .order_by(usage.c.charge_period_start, usage.c.resource_id, usage.c.service, usage.c.flavor_name)
    )
    return canonical_frame(store_for(settings).frame(query), USAGE_COLUMNS, stage="stored usage")


def usage_records(usage: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows for the usage table: Python datetimes, None (never NaN) for unknown values."""
    columns: dict[str, list[Any]] = {}
    for name, dtype in USAGE_COLUMNS.items():
        values = usage[name]
        if dtype.startswith("datetime64"):
            columns[name] = list(values.dt.to_pydatetime())
        elif dtype == "float64":
            columns[name] = [None if np.isnan(v) else v for v in values.to_numpy(dtype=float).tolist()]
        else:
            columns[name] = values.astype(object).where(values.notna(), None).tolist()
    names = list(columns)
    return [dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True)]


def canonical_frame(frame: pd.DataFrame, columns: dict[str, str], *, stage: str) -> pd.DataFrame:
    """A frame read from the store, with the canonical dtypes (an empty or all-NULL column
    comes back as objects; datetimes may come back in µs)."""
    converted = {}
    for name, dtype in columns.items():
        values = frame[name] if name in frame else pd.Series(None, index=frame.index, dtype=object)
        if dtype.startswith("datetime64"):
            values = pd.to_datetime(values).astype("datetime64[ns]")
        elif dtype == "float64":
            values = pd.to_numeric(values).astype("float64")
        converted[name] = values
    return validate_frame(pd.DataFrame(converted, index=frame.index), columns, stage=stage)


def _stored(window: Window, source: str | None) -> ColumnElement[bool]:
    """The usage rows of `window` (by the hour they start), of one source or all."""
    usage = tables.usage
    clauses = [usage.c.charge_period_start >= window.start, usage.c.charge_period_start < window.end]
    if source is not None:
        clauses.append(usage.c.source == source)
    return and_(*clauses)


def _load_samples(store: Store, window: Window, lookback: dt.timedelta) -> pd.DataFrame:
    samples = tables.samples
    query = select(*(samples.c[name] for name in SAMPLE_COLUMNS)).where(
        samples.c.meter.in_(list(METERS)),
        samples.c.timestamp < window.end,
        or_(
            samples.c.timestamp >= window.start,
            and_(samples.c.meter.in_(LOOKBACK_METERS), samples.c.timestamp >= window.start - lookback),
        ),
    )
    return canonical_frame(store.frame(query), SAMPLE_COLUMNS, stage="stored samples")


def _load_resources(store: Store, window: Window, lookback: dt.timedelta) -> pd.DataFrame:
    """Every revision of the resources whose lifetime (earliest started_at, latest ended_at,
    as the transform reads it) overlaps the window — or ended within the lookback before it,
    so a trailing sample just after a deletion meets the lifetime that excludes it."""
    resources = tables.resources
    started, ended = func.min(resources.c.started_at), func.max(resources.c.ended_at)
    alive = (
        select(resources.c.resource_id)
        .group_by(resources.c.resource_id)
        .having(
            or_(started.is_(None), started < window.end),
            or_(ended.is_(None), ended > window.start - lookback),
        )
    )
    columns = [resources.c[name] for name in RESOURCE_COLUMNS]
    query = select(*columns, resources.c.source).where(resources.c.resource_id.in_(alive))
    return canonical_frame(_one_revision_per_instant(store.frame(query)), RESOURCE_COLUMNS, stage="stored resources")


def _one_revision_per_instant(frame: pd.DataFrame) -> pd.DataFrame:
    """Each source keeps its own revisions; where two hold one from the same instant, the
    inventory APIs' (INVENTORY_FIRST) wins, else the first source by name — so the transform
    never sees two revisions starting together, and which one it sees does not depend on row order."""
    rank = frame["source"].map({name: n for n, name in enumerate(INVENTORY_FIRST)}).fillna(len(INVENTORY_FIRST))
    ordered = frame.assign(_rank=rank).sort_values(["resource_id", "valid_from", "_rank", "source"], kind="stable")
    return ordered.drop_duplicates(["resource_id", "valid_from"]).drop(columns=["_rank", "source"])
