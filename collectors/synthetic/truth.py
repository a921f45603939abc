"""The generator's own ground truth: what each resource really used during the window.

Computed from the cloud's lifetimes and revisions, not from the messages, so a test can check
the whole pipeline against it. Quantities are in the services' units (`schema.SERVICES`):

- instance-hours, vCPU-hours, RAM GiB-hours, root-disk GiB-hours: the exact time each flavor was
  in force while the instance existed, clipped to the window (a resize splits at its instant);
- volume / snapshot / backup / image GiB-hours: size × the time each size was in force;
- floating IP-hours: for each hour in which the IP was polled, the share of its readings that
  were active × the fraction of the hour it existed (a pollster cannot see an IP between its
  allocation and the first poll, so that is not counted);
- network egress/ingress GiB, on the instance's network interface (`Resource.vnic_id`, the
  resource id Ceilometer meters traffic on): the counters' deltas between consecutive readings,
  a drop counted as the new reading (the counter restarted at zero); the first reading gives none.

Every hour a resource exists in has at least one reading (hourly audits plus lifecycle
notifications), so the pipeline's hour-by-hour rules (DESIGN §4) must reproduce instance-hours,
traffic and IP-hours exactly. Gauge sizes (vCPU, RAM, disk, volume GiB-hours) match too, except
in the one hour where a resize or extend happens: there DESIGN's "mean reading in the hour" is
not the time-weighted truth, and the difference is that hour's share of the change.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

import pandas as pd

from stackledger.collectors.synthetic.cloud import CONTROLLER, Resource, SyntheticCloud
from stackledger.collectors.synthetic.counters import counter_deltas, counter_series, cycle_times
from stackledger.schema import SERVICES

TRUTH_COLUMNS = (
    "project_id",
    "resource_id",
    "resource_type",
    "service",
    "flavor_name",
    "volume_type",
    "consumed_quantity",
    "consumed_unit",
)
_HOUR = dt.timedelta(hours=1)
_GIB = 1024**3
_SIZE_SERVICE = {"volume": "block.volume", "snapshot": "block.snapshot", "backup": "block.backup"}


def expected_usage(cloud: SyntheticCloud) -> pd.DataFrame:
    """One row per resource, service and flavor/volume type with the window's total quantity."""
    rows: list[dict[str, Any]] = []
    for r in cloud.resources:
        if r.resource_type == "instance":
            rows += _instance(cloud, r)
        elif r.resource_type in _SIZE_SERVICE:
            rows += _sized(cloud, r, _SIZE_SERVICE[r.resource_type])
        elif r.resource_type == "image":
            rows += _sized(cloud, r, "image.storage")
        elif r.resource_type == "floating_ip":
            rows += _floating_ip(cloud, r)
    frame = pd.DataFrame(rows, columns=list(TRUTH_COLUMNS))
    frame = frame[frame["consumed_quantity"] > 0]
    return frame.sort_values(["project_id", "resource_id", "service", "flavor_name"]).reset_index(drop=True)


def _row(
    r: Resource, service: str, quantity: float, flavor: str = "", resource_id: str | None = None
) -> dict[str, Any]:
    return {
        "project_id": r.project.project_id,
        "resource_id": resource_id or r.resource_id,
        "resource_type": r.resource_type,
        "service": service,
        "flavor_name": flavor,
        "volume_type": r.volume_type.name if r.volume_type and r.resource_type == "volume" else None,
        "consumed_quantity": quantity,
        "consumed_unit": SERVICES[service].unit,
    }


def _spans(cloud: SyntheticCloud, r: Resource) -> list[tuple[Any, float]]:
    """(revision, hours it was in force inside the window while the resource existed)."""
    out = []
    ends = [rev.valid_from for rev in r.revisions[1:]] + [r.ended_at or cloud.window.end]
    for revision, until in zip(r.revisions, ends, strict=True):
        low = max(revision.valid_from, r.started_at, cloud.window.start)
        high = min(until, r.ended_at or cloud.window.end, cloud.window.end)
        if high > low:
            out.append((revision, (high - low) / _HOUR))
    return out


def _instance(cloud: SyntheticCloud, r: Resource) -> list[dict[str, Any]]:
    totals: dict[tuple[str, str], float] = defaultdict(float)
    for revision, hours in _spans(cloud, r):
        f = revision.flavor
        totals[("compute.instance", f.name)] += hours
        totals[("compute.vcpu", f.name)] += f.vcpus * hours
        totals[("compute.ram", f.name)] += f.ram_mib / 1024 * hours
        totals[("compute.disk.root", f.name)] += f.disk_gib * hours
    rows = [_row(r, service, quantity, flavor) for (service, flavor), quantity in totals.items()]
    series = counter_series(cloud, r, cycle_times(cloud, r.host or ""))
    # Traffic is metered on the instance's network interface, a resource of its own.
    rows.append(_row(r, "network.egress", float(counter_deltas(series.tx_bytes).sum()) / _GIB, resource_id=r.vnic_id))
    rows.append(_row(r, "network.ingress", float(counter_deltas(series.rx_bytes).sum()) / _GIB, resource_id=r.vnic_id))
    return rows


def _sized(cloud: SyntheticCloud, r: Resource, service: str) -> list[dict[str, Any]]:
    quantity = sum((revision.size_gib or 0.0) * hours for revision, hours in _spans(cloud, r))
    return [_row(r, service, quantity)]


def _floating_ip(cloud: SyntheticCloud, r: Resource) -> list[dict[str, Any]]:
    readings: dict[dt.datetime, list[bool]] = defaultdict(list)
    for at in cycle_times(cloud, CONTROLLER):
        if r.alive(at):
            active = not (r.down and r.down[0] <= at < r.down[1])
            readings[at.replace(minute=0, second=0, microsecond=0)].append(active)
    quantity = 0.0
    for hour, states in readings.items():
        low, high = max(hour, r.started_at), min(hour + _HOUR, r.ended_at or hour + _HOUR)
        quantity += sum(states) / len(states) * max((high - low) / _HOUR, 0.0)
    return [_row(r, "network.floating_ip", quantity)]
