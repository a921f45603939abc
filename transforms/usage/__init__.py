"""Hourly usage from Ceilometer samples (DESIGN §4 — the rules finance checks).

`hourly_usage(samples, resources, window)` turns raw samples (SAMPLE_COLUMNS) and the
inventory (RESOURCE_COLUMNS, one row per revision, may be empty) — and `usage_from_readings`
the same samples in their compact form plus the attribute revisions their statements built
(what the store keeps) — into usage rows
(USAGE_COLUMNS): one per resource, service and hour [h, h+1h) inside the window — and, for
instance-hours only, per flavor, so a resize inside an hour gives one row per flavor.
Pure: no I/O, no clock. Quantities are in the service's unit (`schema.SERVICES`), converted
from the meter's declared unit only through `schema.unit_factor`.

Rules
-----
- **Gauge sizes** (vcpus, memory, disk.*.size, volume/snapshot/backup.size, image.size):
  quantity = mean reading in the hour × unit factor × fraction of the hour the resource
  existed (inventory `started_at`/`ended_at`; 1 when the resource is not in the inventory).
  An hour without a reading has no row; nor has an hour the inventory says the resource did
  not exist at all (a trailing sample after deletion).
- **Instance-hours** (compute.instance): an hour with a reading of any
  INSTANCE_PRESENCE_METER is the fraction of the hour the instance existed. With inventory,
  that fraction is split over the revisions in force (a resize at 10:30 gives two half-hour
  rows, one per flavor); each revision holds until the next one's `valid_from`, the first
  one since the beginning of time. Without inventory, the flavor comes from each reading's
  metadata (METADATA_KEYS) and a mixed hour is split by each flavor's share of the readings.
- **Cumulative counters** (network.*.bytes): the difference between consecutive readings of
  one resource, booked to the hour of the later reading. A drop is a counter reset (the
  instance rebooted or moved): the delta is then the new reading itself — the counter
  restarted from zero and counted up to it — the rule of Ceilometer's own
  RateOfChangeTransformer ("the current volume gives a lower bound on growth"). Readings
  before the window (the caller's lookback) only serve as the first predecessor; the first
  reading a resource ever has gives no delta. `cpu` is cumulative but only marks presence.
- **Delta meters** (network.*.bytes.delta): summed per hour. A resource that reports both
  a counter and its `.delta` twin for a service in an hour is booked from the counter
  (a lost counter reading loses nothing; a lost delta reading loses its bytes).
- **ip.floating**: the reading is a status code (1 active, 3 down, 7 error, -1 unknown).
  It is treated as the gauge "is active" (1 or 0), so quantity = share of the hour's
  readings that were active × lifetime fraction: an hour active throughout is exactly one
  IP-hour, and an IP detached at 10:20 is not billed for the rest of the hour. Hours
  without an active reading have no row.
- **One reading per instant**: samples of one resource and meter sharing a timestamp count
  once — the mean of their values for gauges and status codes, the largest for counters.
- **Attributes**: flavor_name, vcpus and ram_mib (instances) and volume_type (volumes,
  snapshots, backups) come from the inventory revision in force at the hour's last reading
  (for instance-hours: the revision of that split), else from what the samples said about the
  resource: the attribute revision (`revisions`) in force at the describing reading — for an
  instance, the hour's last presence reading, else the row's own last reading; for an
  instance-hour split by the samples' flavors, that flavor's last reading. An attribute a
  sample does not state is the one in force (a `vcpus` notification states the vCPUs by its
  volume); volume_type is the type's name, else its id. Region from inventory, else
  `default_region`. `flavor_name` is '' when unknown (it is in the usage unique key); the other
  attributes are None/NaN.

Modules
-------
`compact` (samples as arrays of codes: `Readings`), `statements` (what a sample's metadata
says), `revisions` + `revision_codes` + `revision_steps` (effective-dated attribute revisions, any
arrival order),
`readings` (sorted integer readings, one per instant), `rules` (gauge, counter and
instance-hour quantities), `inventory` (lifetimes, revisions in force), `attributes` (rating
attributes, region, project), `lookup` (as-of searches), `output` (the usage frame), `codes`
(meters and services as integer codes, time as ns).
"""

from __future__ import annotations

import pandas as pd

from stackledger.errors import ConfigError
from stackledger.schema import RESOURCE_COLUMNS, SAMPLE_COLUMNS, USAGE_COLUMNS, empty_frame, validate_frame
from stackledger.transforms.usage.attributes import ATTRIBUTE_TYPES, Described
from stackledger.transforms.usage.codes import INSTANCE_SERVICE
from stackledger.transforms.usage.compact import Readings, compact_samples
from stackledger.transforms.usage.inventory import Inventory
from stackledger.transforms.usage.output import usage_frame
from stackledger.transforms.usage.readings import readings, stack
from stackledger.transforms.usage.revisions import REVISION_COLUMNS, revisions_of
from stackledger.transforms.usage.rules import counter_hours, gauge_hours, instance_hours
from stackledger.window import Window

__all__ = ["ATTRIBUTE_TYPES", "INSTANCE_SERVICE", "REVISION_COLUMNS", "Readings", "hourly_usage", "usage_from_readings"]


def hourly_usage(
    samples: pd.DataFrame,
    resources: pd.DataFrame,
    window: Window,
    *,
    source: str = "ceilometer",
    default_region: str | None = None,
) -> pd.DataFrame:
    """Usage rows for every hour of `window` (the rules are in the module docstring), from
    samples as frames: their compact readings, and the attribute revisions their statements
    build, through `usage_from_readings`.

    `samples` may reach back before the window (the lookback for cumulative counters);
    everything else outside [window.start, window.end) is ignored, as are unknown meters.
    """
    _bounds(window)
    samples = validate_frame(samples, SAMPLE_COLUMNS, stage="usage samples")
    compact, said = compact_samples(samples)
    return usage_from_readings(
        compact, revisions_of(said), resources, window, source=source, default_region=default_region
    )


def usage_from_readings(
    compact: Readings,
    revisions: pd.DataFrame,
    resources: pd.DataFrame,
    window: Window,
    *,
    source: str = "ceilometer",
    default_region: str | None = None,
) -> pd.DataFrame:
    """Usage rows for every hour of `window` from compact readings, the attribute revisions of
    their resources (REVISION_COLUMNS, `rcode` in the readings' resource codes; may be empty)
    and the inventory (RESOURCE_COLUMNS, may be empty). Rows and their order are those of
    `hourly_usage`; readings of resources or meters outside the window are ignored, except
    cumulative counters before it (their previous reading).

    Memory and time grow with the readings given: rating calls it per chunk of resources."""
    start, end = _bounds(window)
    resources = validate_frame(resources, RESOURCE_COLUMNS, stage="usage resources")
    sampled = readings(compact, start, end)
    inventory = Inventory(resources, compact.resource_ids)
    described = Described(revisions)
    in_window = sampled[sampled["ts"] >= start]
    rows = stack(
        [
            gauge_hours(in_window, inventory),
            counter_hours(sampled, start),
            instance_hours(in_window, inventory, described),
        ]
    )
    if rows.empty:
        return empty_frame(USAGE_COLUMNS)
    return usage_frame(rows, compact, inventory, described, source, default_region)


def _bounds(window: Window) -> tuple[int, int]:
    """The window (naive UTC, as `Window` keeps it) as integer nanoseconds, checked to be on whole hours."""
    start, end = pd.Timestamp(window.start), pd.Timestamp(window.end)
    if start != start.floor("h") or end != end.floor("h"):
        raise ConfigError(f"usage is hourly: window {start}–{end} must start and end on the hour")
    return start.value, end.value
