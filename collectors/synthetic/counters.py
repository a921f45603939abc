"""Polling cycles and the cumulative counters the compute agents read at them.

Both the message stream and the ground truth call these, so the truth is computed from exactly
the readings the pipeline will see. Everything here is a pure function of the cloud.
"""

from __future__ import annotations

import datetime as dt
import zlib
from dataclasses import dataclass

import numpy as np

from stackledger.collectors.synthetic.cloud import CONTROLLER, Resource, SyntheticCloud

# Seconds after the cycle start at which each agent takes its readings (agents are not in step).
AGENT_OFFSETS = {"compute-01": 17, "compute-02": 29, "compute-03": 41, "compute-04": 53, CONTROLLER: 8}
INGRESS_SHARE = 0.4  # ingress bytes as a share of egress for a typical server


def cycle_times(cloud: SyntheticCloud, agent: str) -> list[dt.datetime]:
    """The timestamps an agent's polling cycles carry over the window (one `utcnow()` per cycle)."""
    start, end = cloud.window.start, cloud.window.end
    step = dt.timedelta(minutes=cloud.poll_minutes)
    rng = np.random.default_rng([cloud.seed, zlib.crc32(agent.encode())])
    count = int((end - start) / step)
    jitter = rng.integers(0, 10**6, size=count)  # microseconds: agents are never exactly on time
    offset = dt.timedelta(seconds=AGENT_OFFSETS[agent])
    return [start + k * step + offset + dt.timedelta(microseconds=int(jitter[k])) for k in range(count)]


@dataclass(frozen=True)
class CounterSeries:
    """An instance's cumulative readings at the cycles it was alive for (`times[i]` ↔ values[i])."""

    times: list[dt.datetime]
    cpu_ns: np.ndarray
    rx_bytes: np.ndarray
    tx_bytes: np.ndarray


def counter_series(cloud: SyntheticCloud, instance: Resource, cycles: list[dt.datetime]) -> CounterSeries:
    """Readings of cpu (ns), network.incoming/outgoing.bytes at each cycle the instance was alive.

    Traffic and CPU follow a day/night curve with noise; a hard reboot restarts all three
    counters at zero, so the first reading after it is lower than the one before. In a month
    followed by another (`cloud.next_month`), an instance that lives on runs up to exactly its
    first reading there (`_leading_series`), so a counter never jumps between two months.
    """
    times = [t for t in cycles if instance.alive(t)]
    if not times:
        empty = np.zeros(0, dtype=np.int64)
        return CounterSeries([], empty, empty, empty)
    following = cloud.next_month
    if following is not None and instance.resource_id in following.by_id:
        then = counter_series(following, instance, cycle_times(following, instance.host or ""))
        if then.times and (instance.reboot_at is None or instance.reboot_at > then.times[0]):
            return _leading_series(cloud, instance, times, then)
    cpu, ingress, egress, resets = _increments(cloud, instance, times)
    return CounterSeries(times, _accumulate(cpu, resets), _accumulate(ingress, resets), _accumulate(egress, resets))


def _increments(
    cloud: SyntheticCloud, instance: Resource, times: list[dt.datetime]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(cpu ns, ingress bytes, egress bytes) counted up to each reading since the one before (the
    first: since boot or the reboot before it), and where the counters restart at zero."""
    rng = np.random.default_rng([cloud.seed, zlib.crc32(instance.resource_id.encode())])
    boot = instance.started_at
    if instance.reboot_at is not None and instance.reboot_at <= times[0]:
        boot = instance.reboot_at
    previous = [boot, *times[:-1]]
    seconds = np.array([(t - p).total_seconds() for t, p in zip(times, previous, strict=True)])
    if instance.reboot_at is not None:
        for i, (t, p) in enumerate(zip(times, previous, strict=True)):
            if p < instance.reboot_at <= t:
                seconds[i] = (t - instance.reboot_at).total_seconds()  # what the fresh counter saw
                break
    load = _daily_curve(times) * rng.uniform(0.75, 1.25, size=len(times))
    egress = instance.traffic_mbps * 1e6 / 8 * load * seconds
    ingress = egress * INGRESS_SHARE * rng.uniform(0.8, 1.2, size=len(times))
    vcpus = np.array([instance.revision_at(t).flavor.vcpus for t in times])  # type: ignore[union-attr]
    cpu = vcpus * instance.cpu_util * load * seconds * 1e9
    return cpu, ingress, egress, _reset_mask(times, previous, instance.reboot_at)


def _leading_series(
    cloud: SyntheticCloud, instance: Resource, times: list[dt.datetime], then: CounterSeries
) -> CounterSeries:
    """This month's readings of an instance that lives on into the next month, ending on exactly
    the values of its first reading there (`then`).

    The next month is generated on its own (its first reading counts everything since boot), so
    this one is fitted under it: the month's increments keep their day/night shape, scaled so
    that they and the time before the first reading add up to that first reading. The poll
    interval that straddles the month boundary counts nothing: a month's first reading gives
    no traffic (collectors.synthetic.truth), whether or not the month before was generated.
    """
    cpu, ingress, egress, _ = _increments(cloud, instance, times)
    return CounterSeries(
        times,
        _fitted(cpu, int(then.cpu_ns[0])),
        _fitted(ingress, int(then.rx_bytes[0])),
        _fitted(egress, int(then.tx_bytes[0])),
    )


def _fitted(increments: np.ndarray, last: int) -> np.ndarray:
    """Running totals of whole units with these proportions, ending on `last` exactly (the
    rounding remainder is counted before the first reading)."""
    steps = [int(step) for step in np.floor(increments)]
    total = sum(steps)
    scaled = [step * last // total for step in steps] if total else [0] * len(steps)
    scaled[0] += last - sum(scaled)  # integer arithmetic: exact, and never negative
    return np.cumsum(np.array(scaled, dtype=np.int64))


def _daily_curve(times: list[dt.datetime]) -> np.ndarray:
    hours = np.array([t.hour + t.minute / 60 for t in times])
    weekend = np.array([t.weekday() >= 5 for t in times])
    return (1 + 0.5 * np.sin(2 * np.pi * (hours - 9) / 24)) * np.where(weekend, 0.6, 1.0)


def _reset_mask(times: list[dt.datetime], previous: list[dt.datetime], reboot: dt.datetime | None) -> np.ndarray:
    return np.array([reboot is not None and p < reboot <= t for t, p in zip(times, previous, strict=True)])


def _accumulate(increments: np.ndarray, resets: np.ndarray) -> np.ndarray:
    """Running totals of whole units, starting again from the increment at each reset."""
    steps = np.floor(increments).astype(np.int64)
    out = np.empty_like(steps)
    total = 0
    for i, step in enumerate(steps):
        total = int(step) if resets[i] else total + int(step)
        out[i] = total
    return out


def counter_deltas(values: np.ndarray) -> np.ndarray:
    """Bytes between consecutive readings; a drop is a reset, worth the new reading (DESIGN §4)."""
    if len(values) < 2:
        return np.zeros(0)
    step = np.diff(values)
    return np.where(step >= 0, step, values[1:]).astype(float)
