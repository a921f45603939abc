"""The usage core on compact readings at the scale of issue 14: one day of a 10,000-instance cloud
(Ceilometer's 10-minute polling: cpu, vcpus, memory, disk.root.size per instance, incoming and
outgoing bytes per network interface, volume.size for 5,000 volumes: 9.36 M readings, plus each
counter's last reading of the day before), generated in memory as arrays, with the attribute
revisions ingest would have built (10% of the instances resized at noon) and no inventory.

Rated in chunks of `--chunk` instances (their interfaces and half as many volumes with them), each
configuration in a fresh process, so its peak RSS is its own. Prints, per chunk size: CPU and wall
seconds for the whole day, usage rows, and peak RSS.

    python -m benchmarks.bench_usage_core                 # chunk sizes 10000, 2500, 1000, 250
    python -m benchmarks.bench_usage_core --chunk 1000    # one configuration, in this process
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from typing import Final

import numpy as np
import pandas as pd

from benchmarks.common import emit, peak_rss_mib
from stackledger.schema import RESOURCE_COLUMNS
from stackledger.transforms.usage import Readings, usage_from_readings
from stackledger.transforms.usage.codes import DAWN, DUSK, METER_NAMES
from stackledger.transforms.usage.revisions import REVISION_COLUMNS, typed
from stackledger.window import Window

INSTANCES: Final = 10_000
DAY: Final = Window(pd.Timestamp("2026-10-15").to_pydatetime(), pd.Timestamp("2026-10-16").to_pydatetime())
POLL_NS: Final = 600 * 10**9
POLLS: Final = 144
PROJECTS: Final = 50
FLAVORS: Final = (("m1.small", 1, 2048), ("m1.medium", 2, 4096), ("m1.large", 4, 8192), ("m1.xlarge", 8, 16384))
INSTANCE_METERS: Final = ("cpu", "vcpus", "memory", "disk.root.size")
VNIC_METERS: Final = ("network.incoming.bytes", "network.outgoing.bytes")
CHUNKS: Final = (10_000, 2_500, 1_000, 250)


def resource_ids(count: int) -> np.ndarray:
    """Codes 3i, 3i+1 = instance i and its interface; 3i+2 = a volume for every other instance."""
    ids = np.empty(3 * count, dtype=object)
    ids[0::3] = [f"inst-{n:05d}" for n in range(count)]
    ids[1::3] = [f"vnic-{n:05d}" for n in range(count)]
    ids[2::3] = [f"vol-{n:05d}" for n in range(count)]
    return ids


def chunk_readings(first: int, count: int, ids: np.ndarray) -> Readings:
    """Readings of instances [first, first + count): the day's polls and each counter's last reading before it."""
    start = pd.Timestamp(DAY.start).value
    instance = np.arange(first, first + count)
    offset = (instance % 600) * 10**9  # each instance polled at its own second of the cycle
    polls = np.arange(-1, POLLS)  # -1: the last poll of the day before (counters only)
    parts: list[tuple[np.ndarray, ...]] = []

    def series(codes: np.ndarray, meter: str, values: np.ndarray, with_lookback: bool) -> None:
        steps = polls if with_lookback else polls[1:]
        ts = start + steps[None, :] * POLL_NS + offset[:, None]
        mcode = np.full(ts.size, METER_NAMES.index(meter), dtype=np.int16)
        value = np.broadcast_to(values, ts.shape).ravel() if values.ndim == 2 else np.repeat(values, len(steps))
        parts.append((np.repeat(codes, len(steps)), mcode, ts.ravel(), value.astype(float)))

    flavor = instance % len(FLAVORS)
    vcpus = np.array([f[1] for f in FLAVORS])[flavor].astype(float)
    ram = np.array([f[2] for f in FLAVORS])[flavor].astype(float)
    counter = (instance[:, None] + 1.0) * 1e6 * (polls[None, :] + POLLS)
    series(3 * instance, "cpu", counter[:, 1:], with_lookback=False)
    series(3 * instance, "vcpus", vcpus, with_lookback=False)
    series(3 * instance, "memory", ram, with_lookback=False)
    series(3 * instance, "disk.root.size", np.full(count, 20.0), with_lookback=False)
    series(3 * instance + 1, "network.incoming.bytes", counter * 3, with_lookback=True)
    series(3 * instance + 1, "network.outgoing.bytes", counter * 5, with_lookback=True)
    volume = instance[instance % 2 == 0]
    offset = (volume % 600) * 10**9
    ts = start + polls[1:][None, :] * POLL_NS + offset[:, None]
    parts.append((np.repeat(3 * volume + 2, POLLS), np.full(ts.size, METER_NAMES.index("volume.size"), np.int16),
                  ts.ravel(), np.repeat(10.0 + volume % 90, POLLS)))  # fmt: skip
    resource, meter, stamp, value = (np.concatenate(column) for column in zip(*parts, strict=True))
    projects = np.array([f"project-{p:02d}" for p in range(PROJECTS)], dtype=object)
    return Readings(resource.astype(np.int64), meter, stamp.astype(np.int64), value,
                    (resource // 3) % PROJECTS, ids, projects)  # fmt: skip


def chunk_revisions(first: int, count: int) -> pd.DataFrame:
    """What ingest's statements built: one revision per resource, two for the 10% resized at noon."""
    instance = np.arange(first, first + count)
    flavor = instance % len(FLAVORS)
    resized = instance % 10 == 0
    noon = pd.Timestamp(DAY.start).value + 12 * 3600 * 10**9
    rows = []
    for n, f, r in zip(instance.tolist(), flavor.tolist(), resized.tolist(), strict=True):
        name, cpus, ram = FLAVORS[f]
        base = {"display_name": f"server-{n}", "project_id": f"project-{n % PROJECTS:02d}", "status": "active"}
        rows.append({"rcode": 3 * n, "valid_from": DAWN, "flavor_name": name, "vcpus": cpus, "ram_mib": ram, **base})
        if r:
            rows[-1]["valid_to"] = noon
            big = FLAVORS[-1]
            rows.append({"rcode": 3 * n, "valid_from": noon, "flavor_name": big[0], "vcpus": big[1], "ram_mib": big[2],
                         **base})  # fmt: skip
        rows.append({"rcode": 3 * n + 1, "valid_from": DAWN, "flavor_name": name, "vcpus": cpus, "ram_mib": ram,
                     "instance_id": f"inst-{n:05d}", **base})  # fmt: skip
        if n % 2 == 0:
            rows.append({"rcode": 3 * n + 2, "valid_from": DAWN, "volume_type_id": "3f0d-ssd", **base})
    frame = pd.DataFrame(rows)
    frame["valid_to"] = frame.get("valid_to", pd.Series(dtype=float)).fillna(DUSK).astype(np.int64)
    frame["seen_to"] = pd.Timestamp(DAY.end).value
    return typed({name: frame[name].to_numpy() if name in frame else np.full(len(frame), None)
                  for name in REVISION_COLUMNS})  # fmt: skip


def run(chunk: int) -> None:
    ids = resource_ids(INSTANCES)
    inventory = pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in RESOURCE_COLUMNS.items()})
    cpu, wall, rows, readings = time.process_time(), time.perf_counter(), 0, 0
    prepare = 0.0
    for first in range(0, INSTANCES, chunk):
        began = time.process_time()
        compact = chunk_readings(first, min(chunk, INSTANCES - first), ids)
        revisions = chunk_revisions(first, min(chunk, INSTANCES - first))
        prepare += time.process_time() - began
        usage = usage_from_readings(compact, revisions, inventory, DAY, default_region="RegionOne")
        rows += len(usage)
        readings += len(compact)
        del usage, compact
    cpu = time.process_time() - cpu - prepare  # the core alone: generating the arrays is not its work
    emit("usage_core", "day_10k_instances", cpu, "cpu_s", wall_s=round(time.perf_counter() - wall - prepare, 2),
         chunk_instances=chunk, readings=readings, usage_rows=rows, peak_rss_mib=round(peak_rss_mib()),
         per_reading_us=round(cpu / readings * 1e6, 3))  # fmt: skip


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chunk", type=int, help=f"instances per chunk (default: each of {CHUNKS} in turn)")
    args = parser.parse_args(argv)
    if args.chunk:
        run(args.chunk)
        return 0
    for chunk in CHUNKS:
        subprocess.run([sys.executable, "-m", "benchmarks.bench_usage_core", "--chunk", str(chunk)], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
