"""hourly_usage on a synthetic month: 1,000 instances (10% resized mid-month), 200 volumes,
100 floating IPs, Ceilometer-like cadence (cpu and network counters every 30 min; vcpus,
memory, disk.root.size hourly), plus a 24 h lookback for the counters.

Prints the time with the inventory known (the normal path) and without it (flavors from
sample metadata), the samples in and the usage rows out.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.common import emit, peak_rss_mib, timed
from stackledger.schema import METERS, RESOURCE_COLUMNS, SAMPLE_COLUMNS
from stackledger.transforms.usage import hourly_usage
from stackledger.window import Window

WINDOW = Window.month("2026-10")
INSTANCES, VOLUMES, FLOATING_IPS = 1000, 200, 100
LOOKBACK = pd.Timedelta(hours=24)
FLAVORS = (("m1.small", 1, 2048), ("m1.medium", 2, 4096), ("m1.large", 4, 8192))
HALF_HOURLY = ("cpu", "network.incoming.bytes", "network.outgoing.bytes")
HOURLY = ("vcpus", "memory", "disk.root.size")


def _series(ids: np.ndarray, meter: str, every: str, start: pd.Timestamp, volume: Any) -> pd.DataFrame:
    """One sample of `meter` per id per step, offset by a few minutes per resource."""
    steps = pd.date_range(start, pd.Timestamp(WINDOW.end), freq=every, inclusive="left").to_numpy()
    offset = (np.arange(len(ids)) % 9 + 1) * np.timedelta64(60, "s")
    stamps = (steps[None, :] + offset[:, None]).ravel()
    rid = np.repeat(ids, len(steps))
    values = volume(np.repeat(np.arange(len(ids)), len(steps)), np.tile(np.arange(len(steps)), len(ids)))
    known = METERS[meter]
    return pd.DataFrame(
        {"meter": meter, "type": known.kind, "unit": known.unit, "volume": values.astype(float), "resource_id": rid,
         "timestamp": stamps}
    )  # fmt: skip


def synthetic_month() -> tuple[pd.DataFrame, pd.DataFrame]:
    start = pd.Timestamp(WINDOW.start)
    instances = np.array([f"inst-{n:04d}" for n in range(INSTANCES)], dtype=object)
    flavor = np.arange(INSTANCES) % len(FLAVORS)
    vcpus = np.array([f[1] for f in FLAVORS])[flavor]
    ram = np.array([f[2] for f in FLAVORS])[flavor]
    parts = [_series(instances, m, "30min", start - LOOKBACK, lambda i, s: (i + 1) * 1e6 * s) for m in HALF_HOURLY]
    parts += [
        _series(instances, "vcpus", "1h", start, lambda i, s: vcpus[i]),
        _series(instances, "memory", "1h", start, lambda i, s: ram[i]),
        _series(instances, "disk.root.size", "1h", start, lambda i, s: np.full(len(i), 20)),
        _series(np.array([f"vol-{n}" for n in range(VOLUMES)], dtype=object), "volume.size", "1h", start,
                lambda i, s: 10 + i % 50),
        _series(np.array([f"fip-{n}" for n in range(FLOATING_IPS)], dtype=object), "ip.floating", "1h", start,
                lambda i, s: np.where(s % 5 == 0, 3, 1)),
    ]  # fmt: skip
    samples = pd.concat(parts, ignore_index=True)
    meta = {rid: {"instance_type": FLAVORS[n % 3][0], "vcpus": int(vcpus[n]), "memory_mb": int(ram[n])}
            for n, rid in enumerate(instances)}  # fmt: skip
    samples = samples.assign(
        message_id=np.arange(len(samples)).astype(str),
        project_id="p" + (samples["resource_id"].str.len() % 7).astype(str),
        user_id="u1",
        metadata=samples["resource_id"].map(meta),  # one dict per instance, shared like a cache would
        source="openstack",
    )
    return samples[list(SAMPLE_COLUMNS)].astype(SAMPLE_COLUMNS), _inventory(instances, flavor)


def _inventory(instances: np.ndarray, flavor: np.ndarray) -> pd.DataFrame:
    rows = []
    resize = pd.Timestamp(WINDOW.start) + pd.Timedelta(days=15, minutes=30)
    for n, rid in enumerate(instances):
        base = {"resource_id": rid, "resource_type": "instance", "project_id": "p", "name": rid, "region": "RegionOne",
                "disk_gib": 20.0, "volume_type": None, "size_gib": None, "started_at": pd.Timestamp("2026-09-01"),
                "ended_at": pd.NaT, "valid_from": pd.Timestamp("2026-09-01"), "valid_to": pd.NaT}  # fmt: skip
        name, cpus, ram = FLAVORS[flavor[n]]
        if n % 10:
            rows.append({**base, "flavor_name": name, "vcpus": cpus, "ram_mib": ram})
            continue
        rows.append({**base, "flavor_name": name, "vcpus": cpus, "ram_mib": ram, "valid_to": resize})
        rows.append({**base, "flavor_name": "m1.xlarge", "vcpus": 8, "ram_mib": 16384, "valid_from": resize})
    return pd.DataFrame(rows)[list(RESOURCE_COLUMNS)].astype(RESOURCE_COLUMNS)


def main() -> None:
    samples, inventory = synthetic_month()
    context = {"samples": len(samples), "instances": INSTANCES, "window": WINDOW.label}
    for label, resources in (("inventory", inventory), ("metadata", inventory.iloc[0:0])):
        cpu = time.process_time()
        with timed() as timer:
            usage = hourly_usage(samples, resources, WINDOW, default_region="RegionOne")
        cpu = time.process_time() - cpu  # wall time on a shared, loaded machine says little alone
        instance_hours = usage.loc[usage["service"] == "compute.instance", "consumed_quantity"].sum()
        emit("usage", f"hourly_usage_{label}", timer.seconds, "s", cpu_seconds=round(cpu, 2), rows=len(usage),
             instance_hours=round(float(instance_hours), 3), **context)  # fmt: skip
    emit("usage", "peak_rss", peak_rss_mib(), "MiB", **context)


if __name__ == "__main__":
    main()
