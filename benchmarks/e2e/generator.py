"""A benchmark fleet's Ceilometer samples, streamed to (gzip) JSON lines for `stackledger ingest FILE`.

One raw sample per line, keys in `publisher/utils.py::meter_message_from_counter` order
(`source`, `counter_*`, `user_id`, `user_name`, `project_id`, `project_name`, `resource_id`,
`timestamp`, `resource_metadata`, `message_id`, `monotonic_time`, `message_signature`), as the
polling agents publish them every 10 minutes:

- per instance: `vcpus`, `memory`, `disk.root.size` (gauges) and `cpu` (cumulative ns), with the
  polled instance metadata of `compute/pollsters/util.py::_get_metadata_from_object`
  (`display_name`, `instance_type`, the `flavor` dict, `vcpus`, `memory_mb`, `disk_gb`, `status`,
  `host`, `image_ref`, …);
- per instance interface (one each): `network.incoming.bytes` / `network.outgoing.bytes`
  (cumulative B), resource id `<domain>-<instance>-<tap>`, the instance metadata plus
  `instance_id`, `vnic_name`, `mac`, `fref`, `parameters`;
- per volume, from the central agent: `volume.size` with the Cinder pollster's fields
  (`name`, `status`, `volume_type` by name, `os-vol-host-attr:host`, `attachments`, …) and
  `display_name`. Its unit is meters.yaml's `GiB` (the pollster's own `GB` is not what
  StackLedger accepts for this meter).

Timestamps are each polling cycle's naive `utcnow().isoformat()`; message ids are uuid1 strings
from the poll time (one 100 ns tick per sample) and a node per agent, so they are unique and
deterministic. A resize changes the flavor in the metadata from the next poll on and, like a
reboot, restarts the cumulative counters (a counter reset).

Streaming: each (resource, meter) line is three pre-encoded pieces around the sample's volume,
timestamp and message id, built once per resource revision; lines go out one agent poll at a
time to a compressing thread (deflate level 1, on the other core). Memory does not grow with
the window.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import queue
import random
import sys
import threading
import time
import zlib
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Final

from benchmarks.common import emit, peak_rss_mib
from benchmarks.e2e.fleet import (
    POLL,
    Agent,
    Churn,
    Event,
    Flavor,
    Fleet,
    FleetSpec,
    Instance,
    Kind,
    Volume,
    build_fleet,
)
from benchmarks.e2e.payloads import (
    INSTANCE_METERS,
    VNIC_METERS,
    VOLUME_METER,
    instance_metadata,
    template,
    vnic_metadata,
    volume_metadata,
)

GENERATOR_VERSION: Final = 2  # part of cached file names: bump when the output changes
_UUID_EPOCH: Final = dt.datetime(1582, 10, 15)


def _fastest_deflate() -> ModuleType:
    try:
        from isal import isal_zlib  # an optional accelerator, the same gzip format

        return isal_zlib
    except ImportError:
        return zlib


_deflate = _fastest_deflate()


@dataclasses.dataclass
class Generated:
    """What a generation wrote; also stored beside the file as `<file>.json`."""

    path: str
    instances: int
    days: int
    month: str
    seed: int
    samples: int
    per_meter: dict[str, int]
    raw_bytes: int  # uncompressed JSON lines
    file_bytes: int
    seconds: float

    @property
    def samples_per_s(self) -> float:
        return self.samples / self.seconds if self.seconds else 0.0


def generate(spec: FleetSpec, path: Path) -> Generated:
    """Write the fleet's samples to `path` (gzip when it ends in .gz), atomically: a partial file
    is never left under the final name. Also writes `<path>.json` (`Generated`)."""
    started = time.perf_counter()
    fleet = build_fleet(spec)
    partial = path.with_name(path.name + ".partial")
    with _Sink(partial) as sink:
        per_meter = _Stream(fleet).write(sink)
    partial.replace(path)
    result = Generated(
        path=str(path),
        instances=spec.instances,
        days=spec.days,
        month=spec.month,
        seed=spec.seed,
        samples=sum(per_meter.values()),
        per_meter=dict(sorted(per_meter.items())),
        raw_bytes=sink.raw_bytes,
        file_bytes=path.stat().st_size,
        seconds=time.perf_counter() - started,
    )
    sidecar(path).write_text(json.dumps(dataclasses.asdict(result), indent=1) + "\n", encoding="utf-8")
    return result


def sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def read_generated(path: Path) -> Generated | None:
    """The sidecar of a complete earlier generation, or None."""
    try:
        return Generated(**json.loads(sidecar(path).read_text(encoding="utf-8"))) if path.exists() else None
    except (OSError, ValueError, TypeError):
        return None


# ---------------------------------------------------------------- output


class _Sink:
    """Bytes to a file: for .gz names, deflated at level 1 into one gzip member by a thread (the
    compressor releases the GIL, so it runs beside the generator on another core), through a
    bounded queue so memory stays flat. ISA-L's deflate (`isal`, when installed) is about six
    times faster than zlib's at level 1. Counts the bytes it was given."""

    CHUNK: Final = 1 << 20  # bytes gathered before handing them to the compressor
    QUEUED: Final = 8  # chunks waiting at most

    def __init__(self, path: Path) -> None:
        self.raw_bytes = 0
        self._file = open(path, "wb")  # noqa: SIM115  # closed in close()
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._queue: queue.Queue[bytes | None] = queue.Queue(self.QUEUED)
        self._failure: BaseException | None = None
        self._thread: threading.Thread | None = None
        if path.name.endswith(".gz.partial"):
            self._thread = threading.Thread(target=self._compress, name="gzip", daemon=True)
            self._thread.start()

    def write(self, data: bytes) -> None:
        self.raw_bytes += len(data)
        self._pending.append(data)
        self._pending_bytes += len(data)
        if self._pending_bytes >= self.CHUNK:
            self._flush()

    def _flush(self) -> None:
        chunk = b"".join(self._pending)
        self._pending.clear()
        self._pending_bytes = 0
        if self._thread is None:
            self._file.write(chunk)
            return
        if self._failure is not None:
            raise OSError(f"compressing failed: {self._failure}") from self._failure
        self._queue.put(chunk)

    def _compress(self) -> None:
        # wbits 31: a gzip member, with mtime 0 in its header, so the same samples give the same bytes.
        deflate = _deflate.compressobj(1, _deflate.DEFLATED, 31)
        received_all = False
        try:
            while (chunk := self._queue.get()) is not None:
                self._file.write(deflate.compress(chunk))
            received_all = True
            self._file.write(deflate.flush())
        except BaseException as exc:  # reported to the writing thread (write, close)
            self._failure = exc
            while not received_all and self._queue.get() is not None:  # up to close's None: no writer blocks
                pass

    def close(self) -> None:
        self._flush()
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
        self._file.close()
        if self._failure is not None:
            raise OSError(f"compressing failed: {self._failure}") from self._failure

    def __enter__(self) -> _Sink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------- the stream


class _Server:
    """An instance between polls: its line templates (for its flavor in force) and counters."""

    __slots__ = ("cpu", "cpu_ns_per_s", "gauges", "instance", "last", "rx", "templates", "tx")

    def __init__(self, instance: Instance, at_s: float, age_s: float) -> None:
        self.instance = instance
        self.templates: tuple[tuple[str, str, str], ...] = ()
        self.gauges: tuple[str, str, str] = ("", "", "")
        self.cpu_ns_per_s = 0.0
        self.resize(instance.flavor, at_s)
        # Counters of an instance older than the window hold what it did before it.
        self.cpu = int(self.cpu_ns_per_s * age_s)
        self.rx = int(instance.rx_rate * age_s)
        self.tx = int(instance.tx_rate * age_s)

    def resize(self, flavor: Flavor, at_s: float) -> None:
        i = self.instance
        meta = instance_metadata(i, flavor)
        vnic = vnic_metadata(i, meta)
        own = [template(meter, i.user_id, i.project.project_id, i.instance_id, meta) for meter in INSTANCE_METERS]
        nic = [template(meter, i.user_id, i.project.project_id, i.vnic_id, vnic) for meter in VNIC_METERS]
        self.templates = (*own, *nic)
        self.gauges = (str(flavor.vcpus), str(flavor.ram_mib), str(flavor.disk_gib))
        self.cpu_ns_per_s = flavor.vcpus * i.cpu_util * 1e9
        self.restart(at_s)

    def restart(self, at_s: float) -> None:
        """A new libvirt domain (reboot, resize): the cumulative counters start again from zero."""
        self.cpu = self.rx = self.tx = 0
        self.last = at_s


class _Disk:
    __slots__ = ("size", "template", "volume")

    def __init__(self, volume: Volume) -> None:
        self.volume = volume
        self.size = str(volume.size_gib)
        self.template = ("", "", "")
        self.retype(volume.volume_type)

    def retype(self, volume_type: str) -> None:
        v = self.volume
        meta = volume_metadata(v, volume_type)
        self.template = template(VOLUME_METER, v.user_id, v.project.project_id, v.volume_id, meta)


class _Stream:
    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.start = fleet.spec.start
        self.rng = random.Random(f"stackledger-bench-e2e/noise/{fleet.spec.seed}")
        self.servers: dict[str, dict[str, _Server]] = {agent.name: {} for agent in fleet.hosts}
        self.disks: dict[str, _Disk] = {}
        self.counts: Counter[str] = Counter()

    def write(self, sink: _Sink) -> Counter[str]:
        events, next_event = self.fleet.events(), 0
        agents = self.fleet.agents()
        boot = {agent.name: 86_400.0 * (5 + n) + 0.25 * n for n, agent in enumerate(agents)}  # uptime, s
        for cycle in range(self.fleet.spec.polls):
            base = self.start + cycle * POLL
            for agent in agents:
                at = base + agent.offset
                while next_event < len(events) and events[next_event].at <= at:
                    self.apply(events[next_event])
                    next_event += 1
                at_s = (at - self.start).total_seconds()
                ticks = (at - _UUID_EPOCH) // dt.timedelta(microseconds=1) * 10
                clock = f"-{0x8000 | (agent.node & 0x3FFF):04x}-{agent.node:012x}"
                tail = f'{clock}","monotonic_time":{round(boot[agent.name] + at_s, 6)!r},"message_signature":""}}\n'
                parts = self.poll_volumes(at.isoformat(), ticks, tail) if agent is self.fleet.central else (
                    self.poll_servers(agent, at_s, at.isoformat(), ticks, tail))  # fmt: skip
                if parts:
                    sink.write("".join(parts).encode())
        return self.counts

    def apply(self, event: Event) -> None:
        resource = event.resource
        at_s = (event.at - self.start).total_seconds()
        if isinstance(resource, Instance):
            servers = self.servers[resource.agent.name]
            if event.kind is Kind.CREATE:
                servers[resource.instance_id] = _Server(resource, max(at_s, 0.0), max(-at_s, 0.0))
            elif event.kind is Kind.DELETE:
                del servers[resource.instance_id]
            elif event.kind is Kind.RESIZE:
                assert isinstance(event.value, Flavor)
                servers[resource.instance_id].resize(event.value, at_s)
            elif event.kind is Kind.REBOOT:
                servers[resource.instance_id].restart(at_s)
        elif event.kind is Kind.CREATE:
            self.disks[resource.volume_id] = _Disk(resource)
        elif event.kind is Kind.DELETE:
            del self.disks[resource.volume_id]
        elif event.kind is Kind.RETYPE:
            self.disks[resource.volume_id].retype(str(event.value))
        elif event.kind is Kind.EXTEND:
            self.disks[resource.volume_id].size = str(event.value)

    def poll_servers(self, agent: Agent, at_s: float, stamp: str, ticks: int, tail: str) -> list[str]:
        parts: list[str] = []
        extend, noise = parts.extend, self.rng.random
        t = ticks
        servers = self.servers[agent.name].values()
        for s in servers:
            elapsed, s.last = at_s - s.last, at_s
            s.cpu += int(s.cpu_ns_per_s * elapsed * (0.75 + 0.5 * noise()))
            s.rx += int(s.instance.rx_rate * elapsed * (0.5 + noise()))
            s.tx += int(s.instance.tx_rate * elapsed * (0.5 + noise()))
            values = (*s.gauges, str(s.cpu), str(s.rx), str(s.tx))
            for (head, ids, meta), value in zip(s.templates, values, strict=True):
                uuid_time = f"{t & 0xFFFFFFFF:08x}-{t >> 32 & 0xFFFF:04x}-{t >> 48 & 0x0FFF | 0x1000:04x}"  # version 1
                extend((head, value, ids, stamp, meta, uuid_time, tail))
                t += 1
        if servers:
            for meter, _, _ in (*INSTANCE_METERS, *VNIC_METERS):
                self.counts[meter] += len(servers)
        return parts

    def poll_volumes(self, stamp: str, ticks: int, tail: str) -> list[str]:
        parts: list[str] = []
        extend = parts.extend
        t = ticks
        for d in self.disks.values():
            head, ids, meta = d.template
            uuid_time = f"{t & 0xFFFFFFFF:08x}-{t >> 32 & 0xFFFF:04x}-{t >> 48 & 0x0FFF | 0x1000:04x}"
            extend((head, d.size, ids, stamp, meta, uuid_time, tail))
            t += 1
        self.counts[VOLUME_METER[0]] += len(self.disks)
        return parts


# ---------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--days", type=int, help="days from the month's first (default: the whole month)")
    parser.add_argument("--month", default="2026-10", metavar="YYYY-MM")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-churn", action="store_true", help="every resource alive and unchanged all window")
    parser.add_argument("--out", type=Path, required=True, help="output file (.gz: gzip, deflate level 1)")
    args = parser.parse_args(argv)
    churn = Churn.none() if args.no_churn else Churn()
    try:
        month_days = FleetSpec(1, 1, args.month).month_days
        spec = FleetSpec(args.instances, args.days or month_days, args.month, args.seed, churn)
    except ValueError as exc:
        parser.error(f"{exc} (--month YYYY-MM, --instances ≥ 1, --days within the month)")
    result = generate(spec, args.out)
    context = {"instances": spec.instances, "days": spec.days, "month": spec.month, "seed": spec.seed}
    emit("e2e_generator", "samples", result.samples, "samples", **context)
    emit("e2e_generator", "samples_per_s", result.samples_per_s, "samples/s", seconds=round(result.seconds, 2))
    emit("e2e_generator", "raw_bytes_per_sample", result.raw_bytes / max(result.samples, 1), "B/sample")
    emit("e2e_generator", "file_bytes", result.file_bytes, "B", path=str(args.out))
    emit("e2e_generator", "peak_rss", peak_rss_mib(), "MiB", pid=os.getpid())
    return 0


if __name__ == "__main__":
    sys.exit(main())
