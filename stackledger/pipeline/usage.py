"""Usage step: stored samples + inventory → hourly usage rows, replaced per window.

`compute_usage(settings, window)` reads load → transform → save: it loads the window's samples
(cumulative counters from `usage.cumulative_lookback_hours` earlier, so the window's first delta
has a predecessor) and the inventory of resources alive in or just before the window
(`load_inputs`), runs the pure `transforms.usage.hourly_usage` (`ceilometer_usage`), and replaces
the window's "ceilometer" usage rows in ONE transaction: a re-run replaces, never adds.
`load_usage(settings, window)` reads stored rows back. Rating (`pipeline.rate`) uses the same
load and transform, and saves the usage together with its cost lines.
The window must start and end on whole hours (rating passes whole UTC days).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Final

import pandas as pd

from stackledger.pipeline.base import store_for
from stackledger.schema import METERS, RESOURCE_COLUMNS
from stackledger.settings import Settings
from stackledger.store import Store, inventory, samples
from stackledger.store import usage as usage_store
from stackledger.store.frames import canonical_frame
from stackledger.transforms.usage import hourly_usage
from stackledger.window import Window

log = logging.getLogger(__name__)

# The sources that own the inventory (Nova's servers, Cinder's volumes): their revision wins over
# another source's revision of the same resource from the same instant.
INVENTORY_FIRST: Final = ("nova", "cinder")

SOURCE: Final = "ceilometer"  # the usage rows this step owns (Gnocchi-derived usage would be another)
# Only counters with a service need their previous reading; `cpu` only marks presence.
LOOKBACK_METERS: Final = tuple(name for name, m in METERS.items() if m.kind == "cumulative" and m.service)


@dataclass(frozen=True)
class UsageInputs:
    """What the usage transform reads for a window: samples (SAMPLE_COLUMNS) and inventory (RESOURCE_COLUMNS)."""

    window: Window
    samples: pd.DataFrame
    resources: pd.DataFrame


def computes_usage(settings: Settings) -> bool:
    """Whether the usage rating reads is computed here from samples (`usage.source: ceilometer`);
    any other source's usage is collected ready-made by `stackledger collect`."""
    return settings.usage.source == SOURCE


def compute_usage(settings: Settings, window: Window) -> int:
    """Recompute the hourly usage of `window` and replace its stored rows. Returns the row count."""
    store = store_for(settings)
    inputs = load_inputs(store, settings, window)
    usage = ceilometer_usage(settings, inputs)
    with store.transaction() as conn:
        count = usage_store.replace_usage(store, conn, window, SOURCE, usage)
    return count


def load_inputs(store: Store, settings: Settings, window: Window) -> UsageInputs:
    """The stored samples and inventory the usage of `window` is computed from."""
    lookback = dt.timedelta(hours=settings.usage.cumulative_lookback_hours)
    found = samples.read_samples(store, window, meters=list(METERS), lookback=lookback, lookback_meters=LOOKBACK_METERS)
    return UsageInputs(window, found, load_inventory(store, window, lookback))


def ceilometer_usage(settings: Settings, inputs: UsageInputs) -> pd.DataFrame:
    """The "ceilometer" usage of the inputs' window (pure: `transforms.usage.hourly_usage`)."""
    usage = hourly_usage(inputs.samples, inputs.resources, inputs.window, source=SOURCE,
                         default_region=settings.usage.region)  # fmt: skip
    log.info("usage %s: %d samples, %d resource revisions -> %d usage rows", inputs.window.label,
             len(inputs.samples), len(inputs.resources), len(usage))  # fmt: skip
    return usage


def load_usage(settings: Settings, window: Window, *, source: str | None = None) -> pd.DataFrame:
    """Stored usage rows whose hour starts in `window` (every source unless one is named),
    ordered by hour, resource, service and flavor. Rating passes `settings.usage.source`:
    Gnocchi's and Ceilometer's usage describe the same cloud, and only one may be priced."""
    return usage_store.read_usage(store_for(settings), window, source)


def load_inventory(store: Store, window: Window, lookback: dt.timedelta) -> pd.DataFrame:
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
    "INVENTORY_FIRST", "LOOKBACK_METERS", "SOURCE", "UsageInputs", "ceilometer_usage", "compute_usage",
    "computes_usage", "load_inputs", "load_inventory", "load_usage", "one_revision_per_instant",
]  # fmt: skip
