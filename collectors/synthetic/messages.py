"""The synthetic cloud's telemetry, message by message, as Ceilometer would publish it.

Two streams, in time order:

- **polled** samples (compute agents: `cpu`, `network.incoming.bytes`, `network.outgoing.bytes`;
  the central agent: `image.size`, `ip.floating` every `poll_minutes`, and `volume.size` hourly —
  `polling.yaml` interval 3600 s — a few minutes past the hour), one raw
  `meter_message_from_counter` dict per message, with the polling cycle's naive
  `utcnow().isoformat()` timestamp, `monotonic_time` and project/user names
  (`tenant_name_discovery` on). The volume pollster's metadata is the Cinder API's volume: the
  type's *name* in `volume_type` and its id in `volume_type_id`;
- **notification** samples (`vcpus`, `memory`, `disk.root.size`, `volume.size`, `snapshot.size`,
  `backup.size`, `image.size`) from Nova's hourly `compute.instance.exists` audit, Cinder's hourly
  `snapshot.exists` / `backup.exists` audit and the create/resize/delete events, batched by the
  notification agent into oslo.messaging 2.0 envelopes (`notifier://?driver=kafka`): `+00:00`
  timestamps, no names, no `monotonic_time`, and — as in real Cinder — the volume type's *id* in
  `volume_type` (a volume's create/resize/delete events).

Every sample's `resource_metadata` carries `"synthetic": true`. Message ids are uuid1 built from
the sample time and a per-agent node derived from the seed, so they are deterministic and unique.
Metadata dicts are shared between samples of one resource: treat yielded messages as read-only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import uuid
from collections.abc import Iterable, Iterator
from typing import Any, Final, TypeVar

from stackledger.collectors.synthetic.cloud import CONTROLLER, Resource, SyntheticCloud
from stackledger.collectors.synthetic.counters import CounterSeries, counter_series, cycle_times
from stackledger.collectors.synthetic.metadata import FIP_ACTIVE, FIP_DOWN, MetadataCache

NOTIFICATION_BATCH: Final = 100  # the notification agent's batch_size
NOVA_AUDIT_DELAY: Final = dt.timedelta(minutes=2)
CINDER_AUDIT_DELAY: Final = dt.timedelta(minutes=5)
PUBLISH_DELAY: Final = dt.timedelta(milliseconds=350)
_UUID_EPOCH: Final = dt.datetime(1582, 10, 15)
_HOUR: Final = dt.timedelta(hours=1)

Message = dict[str, Any]
T = TypeVar("T")


def messages(cloud: SyntheticCloud) -> Iterator[Message]:
    """Every message of the window, in publishing order (one dict per JSON line / Kafka record)."""
    stream = _Stream(cloud)
    hour = cloud.window.start
    while hour < cloud.window.end:
        batch = stream.hour(hour)
        batch.sort(key=lambda item: item[0])
        for _, message in batch:
            yield message
        hour += _HOUR


class _Stream:
    def __init__(self, cloud: SyntheticCloud) -> None:
        self.cloud = cloud
        self.rng = random.Random(f"{cloud.seed}/envelopes")
        self.serial = 0
        self.nodes = {agent: _node(cloud.seed, agent) for agent in (*cloud.hosts, CONTROLLER)}
        self.cycles = {agent: cycle_times(cloud, agent) for agent in self.nodes}
        self.series: dict[str, CounterSeries] = {
            i.resource_id: counter_series(cloud, i, self.cycles[i.host or ""]) for i in cloud.of_type("instance")
        }
        self.position = dict.fromkeys(self.series, 0)  # the next reading of each instance's series
        self.boot = {agent: 86_400.0 * (3 + n) + 0.5 * n for n, agent in enumerate(self.nodes)}  # uptime, s
        self.meta = MetadataCache(cloud)
        self.polls = _by_hour((at, agent) for agent, cycles in self.cycles.items() for at in cycles)
        # Neutron's floating IP events are not metered (only the pollster sees IPs).
        self.lifecycle = _by_hour(
            (at, (event, r)) for r in cloud.resources if r.resource_type != "floating_ip" for at, event in _lifecycle(r)
        )

    # ------------------------------------------------------------ one hour

    def hour(self, hour: dt.datetime) -> list[tuple[dt.datetime, Message]]:
        out: list[tuple[dt.datetime, Message]] = []
        for at, agent in self.polls.get(hour, []):
            out.extend((at, m) for m in self.poll(agent, at))
        out.extend(self.audits(hour))
        out.extend(self.events(hour))
        return out

    def poll(self, agent: str, at: dt.datetime) -> list[Message]:
        stamp = at.isoformat()
        monotonic = round(self.boot[agent] + (at - self.cloud.window.start).total_seconds(), 6)
        found: list[Message] = []

        def sample(meter: str, kind: str, unit: str, volume: float, r: Resource, rid: str, meta: dict) -> None:
            found.append(self.sample(meter, kind, unit, volume, r, rid, stamp, meta, agent, at, monotonic, names=True))

        if agent == CONTROLLER:
            for r in self.cloud.resources:
                if r.resource_type == "image" and r.alive(at):
                    sample("image.size", "gauge", "B", r.size_bytes or 0, r, r.resource_id, self.meta.image(r))
                elif r.resource_type == "floating_ip" and r.alive(at):
                    status = FIP_DOWN if r.down and r.down[0] <= at < r.down[1] else FIP_ACTIVE
                    sample("ip.floating", "gauge", "ip", status, r, r.resource_id, self.meta.floating_ip(r, status))
            return found
        for r in self.cloud.resources:
            if r.host != agent or r.resource_type != "instance" or not r.alive(at):
                continue
            series, i = self.series[r.resource_id], self.position[r.resource_id]
            self.position[r.resource_id] = i + 1
            meta = self.meta.polled(r, at)
            vnic = r.vnic_id
            sample("cpu", "cumulative", "ns", int(series.cpu_ns[i]), r, r.resource_id, meta)
            vnic_meta = self.meta.vnic(r, at)
            sample("network.incoming.bytes", "cumulative", "B", int(series.rx_bytes[i]), r, vnic, vnic_meta)
            sample("network.outgoing.bytes", "cumulative", "B", int(series.tx_bytes[i]), r, vnic, vnic_meta)
        return found

    def audits(self, hour: dt.datetime) -> list[tuple[dt.datetime, Message]]:
        """Nova's and Cinder's hourly `*.exists` for the period [hour - 1h, hour), and the central
        agent's hourly volume poll at Cinder's audit instant (the volumes alive then)."""
        nova: list[Message] = []
        cinder: list[Message] = []
        polled: list[tuple[dt.datetime, Message]] = []
        period_start = hour - _HOUR
        nova_at = hour + NOVA_AUDIT_DELAY + dt.timedelta(microseconds=self.rng.randrange(10**6))
        cinder_at = hour + CINDER_AUDIT_DELAY + dt.timedelta(microseconds=self.rng.randrange(10**6))
        for r in self.cloud.resources:
            if not (r.started_at < hour and (r.ended_at is None or r.ended_at > period_start)):
                continue
            if r.resource_type == "instance":
                nova.extend(self.instance_samples(r, nova_at, "compute.instance.exists"))
            elif r.resource_type == "volume":
                if r.alive(cinder_at):
                    polled.append((cinder_at, self.volume_poll(r, cinder_at)))
            elif r.resource_type in ("snapshot", "backup"):
                cinder.append(self.storage_sample(r, cinder_at, f"{r.resource_type}.exists"))
        return [*self.envelopes(nova, nova_at), *self.envelopes(cinder, cinder_at), *polled]

    def volume_poll(self, r: Resource, at: dt.datetime) -> Message:
        """ceilometer/volume/cinder.py VolumeSizePollster: the volume as the Cinder API lists it."""
        size = r.revision_at(at).size_gib or 0
        value = int(size) if float(size).is_integer() else size
        monotonic = round(self.boot[CONTROLLER] + (at - self.cloud.window.start).total_seconds(), 6)
        meta = self.meta.polled_volume(r, at)
        return self.sample("volume.size", "gauge", "GiB", value, r, r.resource_id, at.isoformat(), meta, CONTROLLER, at,
                           monotonic, names=True)  # fmt: skip

    def events(self, hour: dt.datetime) -> list[tuple[dt.datetime, Message]]:
        """Create, resize and delete notifications that happened in [hour, hour + 1h)."""
        out: list[tuple[dt.datetime, Message]] = []
        for at, (event, r) in self.lifecycle.get(hour, []):
            if r.resource_type == "instance":
                found = self.instance_samples(r, at, event)
            elif r.resource_type == "image":
                found = [self.image_notification(r, at, event)]
            else:
                found = [self.storage_sample(r, at, event)]
            out.extend(self.envelopes(found, at))
        return out

    # ------------------------------------------------------------ notification samples

    def instance_samples(self, r: Resource, at: dt.datetime, event: str) -> list[Message]:
        flavor = r.revision_at(at).flavor
        assert flavor is not None
        meta = self.meta.notified_instance(r, at, event)
        stamp = _aware(at)
        return [
            self.sample(meter, "gauge", unit, value, r, r.resource_id, stamp, meta, CONTROLLER, at, None)
            for meter, unit, value in (
                ("memory", "MiB", flavor.ram_mib),
                ("vcpus", "vcpu", flavor.vcpus),
                ("disk.root.size", "GiB", flavor.disk_gib),
            )
        ]

    def storage_sample(self, r: Resource, at: dt.datetime, event: str) -> Message:
        meter = f"{r.resource_type}.size"
        size = r.revision_at(at).size_gib or 0
        value = int(size) if float(size).is_integer() else size
        meta = self.meta.storage(r, at, event)
        return self.sample(meter, "gauge", "GiB", value, r, r.resource_id, _aware(at), meta, CONTROLLER, at, None)

    def image_notification(self, r: Resource, at: dt.datetime, event: str) -> Message:
        meta = {**self.meta.image(r), "event_type": event, "host": "image.glance-api-01"}
        return self.sample(
            "image.size", "gauge", "B", r.size_bytes or 0, r, r.resource_id, _aware(at), meta, CONTROLLER, at, None
        )

    # ------------------------------------------------------------ wire format

    def sample(
        self,
        meter: str,
        kind: str,
        unit: str,
        volume: float,
        r: Resource,
        resource_id: str,
        stamp: str,
        meta: dict[str, Any],
        agent: str,
        at: dt.datetime,
        monotonic: float | None,
        *,
        names: bool = False,
    ) -> Message:
        """One sample, keys in `meter_message_from_counter` order; no telemetry_secret, so no signature."""
        self.serial += 1
        user = r.user
        return {
            "source": "openstack",
            "counter_name": meter,
            "counter_type": kind,
            "counter_unit": unit,
            "counter_volume": volume,
            "user_id": user.user_id if user else None,
            "user_name": user.name if user and names else None,
            "project_id": r.project.project_id,
            "project_name": r.project.name if names else None,
            "resource_id": resource_id,
            "timestamp": stamp,
            "resource_metadata": meta,
            "message_id": _uuid1(at, self.serial, self.nodes[agent]),
            "monotonic_time": monotonic,
            "message_signature": "",
        }

    def envelopes(self, samples: list[Message], at: dt.datetime) -> list[tuple[dt.datetime, Message]]:
        """The notification agent's Kafka records: batches of samples in oslo.messaging 2.0 envelopes."""
        out = []
        published = at + PUBLISH_DELAY
        for start in range(0, len(samples), NOTIFICATION_BATCH):
            inner = {
                "message_id": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
                "publisher_id": f"telemetry.publisher.{CONTROLLER}",
                "event_type": "metering",
                "priority": "SAMPLE",
                "payload": samples[start : start + NOTIFICATION_BATCH],
                "timestamp": str(published),
                "_context": {},
            }
            out.append((published, {"oslo.version": "2.0", "oslo.message": json.dumps(inner)}))
        return out


# ---------------------------------------------------------------- lifecycle


def _by_hour(items: Iterable[tuple[dt.datetime, T]]) -> dict[dt.datetime, list[tuple[dt.datetime, T]]]:
    """Group (time, item) pairs by the hour they fall in, keeping their order."""
    hours: dict[dt.datetime, list[tuple[dt.datetime, T]]] = {}
    for at, item in items:
        hours.setdefault(at.replace(minute=0, second=0, microsecond=0), []).append((at, item))
    return hours


def _lifecycle(r: Resource) -> list[tuple[dt.datetime, str]]:
    """(time the notification was emitted, event_type) for a resource's create/resize/delete."""
    second = dt.timedelta(seconds=1)
    if r.resource_type == "instance":
        create, resize, delete = (
            "compute.instance.create.end",
            "compute.instance.resize_finish.end",
            ("compute.instance.delete.end"),
        )
    elif r.resource_type == "image":
        create, resize, delete = "image.upload", "image.update", "image.delete"
    else:
        create, resize, delete = (f"{r.resource_type}.{e}.end" for e in ("create", "resize", "delete"))
    events = [(r.started_at + 2 * second, create)]
    events += [(rev.valid_from + second, resize) for rev in r.revisions[1:]]
    if r.ended_at is not None:
        events.append((r.ended_at + second, delete))
    return events


# ---------------------------------------------------------------- ids and timestamps


def _aware(at: dt.datetime) -> str:
    """A notification meter's timestamp: parse_isotime(...).isoformat() → `…+00:00`."""
    return at.replace(tzinfo=dt.UTC).isoformat()


def _node(seed: int, agent: str) -> int:
    digest = hashlib.sha256(f"{seed}/{agent}".encode()).digest()
    return int.from_bytes(digest[:6], "big") | 0x010000000000  # multicast bit: not a real MAC


def _uuid1(at: dt.datetime, serial: int, node: int) -> str:
    """A version-1 uuid for `at` (100 ns ticks since 1582-10-15), clock_seq from a serial number."""
    ticks = (at - _UUID_EPOCH) // dt.timedelta(microseconds=1) * 10 + serial % 10
    clock_seq = (serial // 10) & 0x3FFF
    time_hi = ((ticks >> 48) & 0x0FFF) | 0x1000  # version 1
    variant = 0x8000 | clock_seq  # RFC 4122 variant bits over the 14-bit clock_seq
    return f"{ticks & 0xFFFFFFFF:08x}-{(ticks >> 32) & 0xFFFF:04x}-{time_hi:04x}-{variant:04x}-{node:012x}"
