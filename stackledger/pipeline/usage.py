"""Usage step: stored samples + revisions + inventory → hourly usage rows, replaced per window.

`compute_usage(settings, window)` reads load → transform → save, a chunk of resources at a time
as rating does (`pipeline.readings`, `pipeline.rate_units`): the window's compact sample rows
(cumulative counters' previous reading from `usage.cumulative_lookback_hours` earlier, so the
window's first delta has a predecessor), the attribute revisions the samples stated and the
inventory of resources alive in or just before the window, through the pure
`transforms.usage.usage_from_readings`; it replaces the window's "ceilometer" usage rows in ONE
transaction: a re-run replaces, never adds. `load_usage(settings, window)` reads stored rows
back. Rating (`pipeline.rate`) computes and saves the same usage together with its cost lines.
The window must start and end on whole hours (rating passes whole UTC days).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Final

import pandas as pd

from stackledger.pipeline.base import store_for
from stackledger.schema import METERS, RESOURCE_COLUMNS
from stackledger.settings import Settings
from stackledger.store import Connection, Store, inventory, sample_days
from stackledger.store import usage as usage_store
from stackledger.store.frames import canonical_frame
from stackledger.store.revisions import read_revisions
from stackledger.transforms.usage.revisions import REVISION_COLUMNS, typed
from stackledger.window import Window

log = logging.getLogger(__name__)

# The sources that own the inventory (Nova's servers, Cinder's volumes): their revision wins over
# another source's revision of the same resource from the same instant.
INVENTORY_FIRST: Final = ("nova", "cinder")

SOURCE: Final = "ceilometer"  # the usage rows this step owns (Gnocchi-derived usage would be another)
# Only counters with a service need their previous reading; `cpu` only marks presence.
LOOKBACK_METERS: Final = tuple(name for name, m in METERS.items() if m.kind == "cumulative" and m.service)


def computes_usage(settings: Settings) -> bool:
    """Whether the usage rating reads is computed here from samples (`usage.source: ceilometer`);
    any other source's usage is collected ready-made by `stackledger collect`."""
    return settings.usage.source == SOURCE


def compute_usage(settings: Settings, window: Window) -> int:
    """Recompute the hourly usage of `window` and replace its stored rows. Returns the row count."""
    from stackledger.pipeline.rate_units import Runner, make_unit
    from stackledger.pipeline.readings import Codes, read_buckets

    store = store_for(settings)
    lookback = dt.timedelta(hours=settings.usage.cumulative_lookback_hours)
    budget = settings.rate.chunk_samples
    runner = Runner((), source=SOURCE, region=settings.usage.region)
    count = 0
    with store.transaction() as conn:
        codes = Codes.read(conn)
        chunks = max(1, -(-sample_days.count_samples(conn, window) // budget))
        buckets = read_buckets(conn, window, meters=codes.meter_codes(list(METERS)), lookback=lookback,
                               lookback_meters=codes.meter_codes(LOOKBACK_METERS), count=chunks,
                               spill_rows=4 * budget)  # fmt: skip
        try:
            stored = read_revisions(conn, window=window)
            revisions = typed({name: stored[name].to_numpy() for name in REVISION_COLUMNS})
            inventory = load_inventory(conn, window, lookback)
            units = (make_unit(window, buckets.take(k), codes, revisions, inventory) for k in range(chunks))
            usage_store.delete_usage(conn, window, SOURCE)
            for result in runner.map(units):
                count += usage_store.append_usage(conn, result.hourly)
        finally:
            buckets.close()
    log.info("usage %s: %d usage rows", window.label, count)
    return count


def load_usage(settings: Settings, window: Window, *, source: str | None = None) -> pd.DataFrame:
    """Stored usage rows whose hour starts in `window` (every source unless one is named),
    ordered by hour, resource, service and flavor. Rating passes `settings.usage.source`:
    Gnocchi's and Ceilometer's usage describe the same cloud, and only one may be priced."""
    return usage_store.read_usage(store_for(settings), window, source)


def load_inventory(store: Store | Connection, window: Window, lookback: dt.timedelta) -> pd.DataFrame:
    """Every revision of the resources whose lifetime (earliest started_at, latest ended_at, as
    the transform reads it) overlaps the window — or ended within the lookback before it, so a
    trailing sample just after a deletion meets the lifetime that excludes it. One revision per
    (resource, instant): `one_revision_per_instant`."""
    stored = inventory.resources_alive(store, window, ended_since=window.start - lookback)
    return canonical_frame(one_revision_per_instant(stored), RESOURCE_COLUMNS, stage="stored resources")


def one_revision_per_instant(frame: pd.DataFrame) -> pd.DataFrame:
    """Each source keeps its own revisions; where two hold one from the same instant, the
    inventory APIs' (INVENTORY_FIRST) wins, else the first source by name — so the transform
    never sees two revisions starting together, and which one it sees does not depend on row order."""
    rank = frame["source"].map({name: n for n, name in enumerate(INVENTORY_FIRST)}).fillna(len(INVENTORY_FIRST))
    ordered = frame.assign(_rank=rank).sort_values(["resource_id", "valid_from", "_rank", "source"], kind="stable")
    return ordered.drop_duplicates(["resource_id", "valid_from"]).drop(columns=["_rank", "source"])


__all__ = [
    "INVENTORY_FIRST", "LOOKBACK_METERS", "SOURCE", "compute_usage", "computes_usage", "load_inventory", "load_usage",
    "one_revision_per_instant",
]  # fmt: skip
