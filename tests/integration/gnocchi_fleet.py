"""A generated cloud pushed into the real Gnocchi, and the usage DESIGN §4 says it gives.

`Fleet.generate(...)` makes instances (each with a network interface), volumes, floating IPs and
images with known lifetimes and revisions (resizes, a retype, a project transfer, creations and
deletions in mid-hour). `fleet.push(gnocchi)` creates them the way Ceilometer does — resources
through the REST API, readings every 20 minutes through the batch endpoint — and waits for
metricd. `fleet.truth(window)` works the usage out from the readings themselves with plain
loops, independently of `transforms.usage` and of the collector.

Backdating: Gnocchi stamps a revision with the wall-clock time of the API call that made it.
Ceilometer makes those calls as things happen, so in production a resize at 10:30 is a revision
from about 10:30. To build days of history in seconds we make the same calls now, then set
`revision_start`/`revision_end` in Gnocchi's indexer (its PostgreSQL database) to the times the
calls stand for. Nothing else in Gnocchi is touched.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import random
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import psycopg
import requests

HOUR = dt.timedelta(hours=1)
STEP = dt.timedelta(minutes=20)  # Ceilometer-like polling; 3 readings an hour
GIB = 1024**3
LOOKBACK = dt.timedelta(hours=24)  # usage.cumulative_lookback_hours default
PROCESSING_DEADLINE_S = 300


@dataclass(frozen=True)
class Flavor:
    name: str
    id: str
    vcpus: int
    ram_mib: int
    root_gib: int
    ephemeral_gib: int


FLAVORS = (
    Flavor("m1.small", "2", 1, 2048, 20, 0),
    Flavor("m1.medium", "3", 2, 4096, 40, 0),
    Flavor("m1.large", "4", 4, 8192, 80, 10),
)
BY_NAME = {f.name: f for f in FLAVORS}


@dataclass
class Tracked:
    """One Gnocchi resource: its lifetime, its revisions (the first at `started`) and readings."""

    id: str  # the original resource id
    gnocchi_type: str
    started: dt.datetime
    ended: dt.datetime | None
    revisions: list[tuple[dt.datetime, dict[str, Any]]]  # (from, attributes); the first holds every attribute
    offset: dt.timedelta  # readings at offset, offset + 20 min, … past each hour
    readings: dict[str, list[tuple[dt.datetime, float]]] = field(default_factory=dict)
    gnocchi_id: str = ""

    def at(self, instant: dt.datetime) -> dict[str, Any]:
        """Attributes in force at `instant` (the latest revision starting at or before it)."""
        merged: dict[str, Any] = {}
        for start, attributes in self.revisions:
            if start <= instant:
                merged.update(attributes)
        return merged

    def alive(self, instant: dt.datetime) -> bool:
        return self.started <= instant and (self.ended is None or instant < self.ended)

    def lifetime_fraction(self, hour: dt.datetime) -> float:
        low = max(hour, self.started)
        high = min(hour + HOUR, self.ended or hour + HOUR)
        return max((high - low).total_seconds(), 0.0) / 3600

    def times(self, begin: dt.datetime, end: dt.datetime) -> Iterator[dt.datetime]:
        t = begin.replace(minute=0, second=0, microsecond=0) + self.offset
        while t < end:
            if self.alive(t):
                yield t
            t += STEP


@dataclass
class Fleet:
    projects: list[str]
    start: dt.datetime  # the window's start (readings begin LOOKBACK-ish earlier)
    end: dt.datetime  # the window's end (readings go on a little after it)
    resources: list[Tracked]

    # ------------------------------------------------------------ generation

    @classmethod
    def generate(
        cls, *, instances: int, start: dt.datetime, hours: int, volumes: int = 0, floating_ips: int = 0,
        images: int = 0, seed: int = 7, gauges_only: bool = False,
    ) -> Fleet:  # fmt: skip
        rng = random.Random(seed)
        projects = [str(uuid.uuid4()) for _ in range(3)]
        end = start + hours * HOUR
        lead, tail = start - 6 * HOUR, end + 2 * HOUR  # data before the window (counters) and after it
        fleet = cls(projects, start, end, [])

        def moment() -> dt.datetime:  # a random minute inside the window, never on the hour
            return start + dt.timedelta(hours=rng.randrange(hours), minutes=rng.randrange(1, 60))

        for n in range(instances):
            flavor = FLAVORS[n % len(FLAVORS)]
            other = FLAVORS[(n + 1) % len(FLAVORS)]
            born, dies, changes = lead, None, []
            case = n % 10
            if case == 1:  # resized mid-hour
                changes = [(moment(), other)]
            elif case == 2:  # created mid-hour
                born = moment()
            elif case == 3:  # deleted mid-hour
                dies = moment()
            elif case == 4:  # created and deleted inside one hour
                born = moment().replace(minute=rng.randrange(1, 20))
                dies = born + dt.timedelta(minutes=rng.randrange(10, 40))
            elif case == 5:  # resized and back again, hours apart
                first = start + dt.timedelta(hours=rng.randrange(hours // 2), minutes=rng.randrange(1, 60))
                changes = [(first, other), (first + dt.timedelta(hours=5, minutes=7), flavor)]
            elif case == 6:  # resized, then deleted, in the same hour
                first = moment().replace(minute=rng.randrange(5, 30))
                changes, dies = [(first, other)], first + dt.timedelta(minutes=rng.randrange(5, 25))
            project = projects[n % len(projects)]
            instance_id = str(uuid.uuid4())
            revisions: list[tuple[dt.datetime, dict[str, Any]]] = [(born, {
                "project_id": project, "flavor_name": flavor.name, "flavor_id": flavor.id,
                "display_name": f"vm-{n}", "host": f"compute{n % 4}", "image_ref": str(uuid.uuid4()),
            })]  # fmt: skip
            revisions += [(t, {"flavor_name": f.name, "flavor_id": f.id}) for t, f in changes]
            if dies is not None:
                revisions.append((dies, {}))  # Ceilometer's ended_at patch is a revision of its own
            offset = dt.timedelta(minutes=rng.randrange(20), seconds=rng.randrange(60))
            vm = Tracked(instance_id, "instance", born, dies, revisions, offset)
            for t in vm.times(lead, tail):
                size = BY_NAME[vm.at(t)["flavor_name"]]
                for meter, value in (("vcpus", size.vcpus), ("memory", size.ram_mib), ("disk.root.size", size.root_gib),
                                     ("disk.ephemeral.size", size.ephemeral_gib)):  # fmt: skip
                    vm.readings.setdefault(meter, []).append((t, float(value)))
            fleet.resources.append(vm)
            if not gauges_only:
                fleet.resources.append(_interface(n, vm, project, lead, tail, rng))
        for n in range(volumes):
            fleet.resources.append(_volume(n, projects, lead, tail, moment, rng))
        for n in range(floating_ips):
            fleet.resources.append(_floating_ip(n, projects, lead, tail, moment, rng))
        for n in range(images):
            fleet.resources.append(_image(n, projects, lead, tail, rng))
        return fleet

    # ------------------------------------------------------------ into Gnocchi

    def push(self, url: str, user: str) -> None:
        """Create, post, backdate, wait for metricd (module docstring)."""
        http = requests.Session()
        http.auth = (user, "")
        http.headers["Accept"] = "application/json"
        # A connection per request: gunicorn drops keep-alive connections idle for 2 s, and a POST
        # on a dropped one fails with no way to know whether it was applied.
        http.headers["Connection"] = "close"
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda r: _create(http, url, r), self.resources))
        batch: dict[str, Any] = {}
        for resource in self.resources:
            batch[resource.id] = {
                meter: [{"timestamp": t.replace(tzinfo=dt.UTC).isoformat(), "value": v} for t, v in points]
                for meter, points in resource.readings.items()
            }
            if len(batch) >= 100:
                _post_batch(http, url, batch)
                batch = {}
        if batch:
            _post_batch(http, url, batch)
        backdate(self.resources)
        wait_processed(http, url, self.projects)

    def delete(self, url: str, user: str) -> None:
        # Through `generic`: in 4.7.1 a search delete on /v1/resource/<type> wipes that type's
        # attributes for every resource (see tests/integration/test_gnocchi_service.py).
        requests.delete(
            f"{url}/v1/resource/generic", json={"in": {"project_id": self.projects}}, auth=(user, ""), timeout=120
        ).raise_for_status()

    # ------------------------------------------------------------ the truth

    def truth(self, window_start: dt.datetime, window_end: dt.datetime, region: str = "RegionOne") -> pd.DataFrame:
        """Hourly usage per DESIGN §4 (the collector's documented reading of hourly points)."""
        rows: list[dict[str, Any]] = []
        hours = [window_start + h * HOUR for h in range(int((window_end - window_start) / HOUR))]
        for resource in self.resources:
            for hour in hours:
                rows.extend(_truth_rows(resource, hour))
        frame = pd.DataFrame(rows)
        frame["region"] = region
        return frame.sort_values(["charge_period_start", "resource_id", "service", "flavor_name"]).reset_index(
            drop=True
        )


# ---------------------------------------------------------------- resource kinds


def _interface(n: int, vm: Tracked, project: str, lead: dt.datetime, tail: dt.datetime, rng: random.Random) -> Tracked:
    nic = Tracked(
        f"instance-{n:08x}-{vm.id}-tap{n:04d}", "instance_network_interface", vm.started, vm.ended,
        [(vm.started, {"project_id": project, "name": f"tap{n:04d}", "instance_id": vm.id})],
        vm.offset,
    )  # fmt: skip
    if vm.ended is not None:
        nic.revisions.append((vm.ended, {}))
    for meter, rate in (("network.incoming.bytes", 1_000_003), ("network.outgoing.bytes", 250_007)):
        value, reset = float(rng.randrange(10**9)), n % 7 == 0  # every 7th counter restarts once
        reset_at = lead + (tail - lead) / 2
        for t in nic.times(lead, tail):
            if reset and t >= reset_at:
                value, reset = float(rate), False  # rebooted: counting from zero again
            else:
                value += rate * (1 + (t.minute % 3))
            nic.readings.setdefault(meter, []).append((t, value))
    return nic


def _volume(n: int, projects: list[str], lead: dt.datetime, tail: dt.datetime, moment: Any,
            rng: random.Random) -> Tracked:  # fmt: skip
    born, dies = (moment(), None) if n % 5 == 1 else (lead, None)
    if n % 5 == 2:
        dies = moment()
    first = {"project_id": projects[n % 3], "display_name": f"vol-{n}", "volume_type": "standard" if n % 2 else "ssd"}
    revisions: list[tuple[dt.datetime, dict[str, Any]]] = [(born, first)]
    if n % 5 == 3:  # retyped mid-hour
        revisions.append((moment(), {"volume_type": "ssd" if n % 2 else "standard"}))
    if n % 5 == 4:  # transferred to another project mid-hour
        revisions.append((moment(), {"project_id": projects[(n + 1) % 3]}))
    if dies is not None:
        revisions.append((dies, {}))
    volume = Tracked(str(uuid.uuid4()), "volume", born, dies, revisions,
                     dt.timedelta(minutes=rng.randrange(20), seconds=rng.randrange(60)))  # fmt: skip
    size, grown = float(10 * (1 + n % 20)), lead + (tail - lead) * 0.6
    for t in volume.times(lead, tail):
        volume.readings.setdefault("volume.size", []).append((t, size * 2 if (n % 5 == 0 and t >= grown) else size))
    return volume


def _floating_ip(n: int, projects: list[str], lead: dt.datetime, tail: dt.datetime, moment: Any,
                 rng: random.Random) -> Tracked:  # fmt: skip
    born = moment() if n % 4 == 1 else lead
    ip = Tracked(str(uuid.uuid4()), "network", born, None, [(born, {"project_id": projects[n % 3]})],
                 dt.timedelta(minutes=rng.randrange(20)))  # fmt: skip
    for k, t in enumerate(ip.times(lead, tail)):
        status = 3.0 if (n % 4 == 2 and k % 11 == 5) else 1.0  # now and then a "down" reading
        ip.readings.setdefault("ip.floating", []).append((t, status))
    return ip


def _image(n: int, projects: list[str], lead: dt.datetime, tail: dt.datetime, rng: random.Random) -> Tracked:
    image = Tracked(str(uuid.uuid4()), "image", lead, None,
                    [(lead, {"project_id": projects[n % 3], "name": f"image-{n}", "container_format": "bare",
                             "disk_format": "qcow2"})], dt.timedelta(minutes=rng.randrange(20)))  # fmt: skip
    for t in image.times(lead, tail):
        image.readings.setdefault("image.size", []).append((t, float(GIB * (n + 1) + 12345)))
    return image


# ---------------------------------------------------------------- HTTP and SQL


def _create(http: requests.Session, url: str, resource: Tracked) -> None:
    first = resource.revisions[0][1]
    body = {"id": resource.id, "user_id": "u-fleet", "started_at": _iso(resource.started), **first}
    response = http.post(f"{url}/v1/resource/{resource.gnocchi_type}", json=body, timeout=60)
    assert response.status_code == 201, response.text
    resource.gnocchi_id = response.json()["id"]
    for at, change in resource.revisions[1:]:
        patch = dict(change) if change else {"ended_at": _iso(at)}
        where = f"{url}/v1/resource/{resource.gnocchi_type}/{resource.gnocchi_id}"
        response = http.patch(where, json=patch, timeout=60)
        assert response.status_code == 200, response.text


def _post_batch(http: requests.Session, url: str, batch: dict[str, Any]) -> None:
    response = http.post(f"{url}/v1/batch/resources/metrics/measures?create_metrics=true", json=batch, timeout=300)
    assert response.status_code == 202, response.text


def backdate(resources: list[Tracked]) -> None:
    """Give each revision the time it stands for (module docstring)."""
    port = os.environ.get("STACKLEDGER_PG_PORT", "55432")
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/gnocchi", autocommit=False) as conn:
        ids = [r.gnocchi_id for r in resources]
        history: dict[str, list[int]] = {}
        for revision, rid in conn.execute(
            "SELECT revision, id::text FROM resource_history WHERE id = ANY(%s::uuid[]) ORDER BY revision", [ids]
        ):
            history.setdefault(rid, []).append(revision)
        updates = []
        for resource in resources:
            starts = [at for at, _ in resource.revisions]
            past = history.get(resource.gnocchi_id, [])
            assert len(past) == len(starts) - 1, (resource.id, past, starts)
            updates += [(starts[k], starts[k + 1], revision) for k, revision in enumerate(past)]
        with conn.cursor() as cursor:
            cursor.executemany("UPDATE resource_history SET revision_start = %s, revision_end = %s WHERE revision = %s",
                               updates)  # fmt: skip
            cursor.executemany("UPDATE resource SET revision_start = %s WHERE id = %s::uuid",
                               [(r.revisions[-1][0], r.gnocchi_id) for r in resources])  # fmt: skip


def wait_processed(http: requests.Session, url: str, projects: list[str]) -> float:
    """Seconds until metricd has processed every measure of the fleet's metrics (no `refresh` on
    /v1/aggregates in 4.7.1: /v1/status?details=true lists the metrics with pending measures)."""
    began = time.monotonic()
    found = http.post(f"{url}/v1/search/resource/generic", json={"in": {"project_id": projects}},
                      params={"limit": 1000}, timeout=60)  # fmt: skip
    metric_ids: set[str] = set()
    marker_page = found
    while True:
        metric_ids |= {m for r in marker_page.json() for m in r["metrics"].values()}
        following = marker_page.links.get("next", {}).get("url")
        if not following or not marker_page.json():
            break
        marker_page = http.post(following, json={"in": {"project_id": projects}}, timeout=60)
    while True:
        pending = set(http.get(f"{url}/v1/status", params={"details": "true"}, timeout=60).json()["storage"][
            "measures_to_process"])  # fmt: skip
        if not pending & metric_ids:
            return time.monotonic() - began
        if time.monotonic() - began > PROCESSING_DEADLINE_S:
            raise AssertionError(f"gnocchi-metricd left {len(pending & metric_ids)} metrics unprocessed")
        time.sleep(0.5)


def _iso(t: dt.datetime) -> str:
    return t.replace(tzinfo=dt.UTC).isoformat()


# ---------------------------------------------------------------- the truth, by hand

_GAUGES = {  # meter -> (service, factor to the service unit)
    "vcpus": ("compute.vcpu", 1.0),
    "memory": ("compute.ram", 1 / 1024),
    "disk.root.size": ("compute.disk.root", 1.0),
    "disk.ephemeral.size": ("compute.disk.ephemeral", 1.0),
    "volume.size": ("block.volume", 1.0),
    "image.size": ("image.storage", 1 / GIB),
}
_COUNTERS = {"network.incoming.bytes": "network.ingress", "network.outgoing.bytes": "network.egress"}
_TYPE = {"instance": "instance", "volume": "volume", "image": "image", "network": "floating_ip",
         "instance_network_interface": "instance"}  # fmt: skip


def _truth_rows(resource: Tracked, hour: dt.datetime) -> list[dict[str, Any]]:
    rows = []
    fraction = resource.lifetime_fraction(hour)
    # Attributes: the revision in force at the end of the hour, or just before the resource ended.
    last = min(hour + HOUR, resource.ended or hour + HOUR) - dt.timedelta(seconds=1)
    attributes = resource.at(last)

    def row(service: str, quantity: float, **extra: Any) -> dict[str, Any]:
        base = {"charge_period_start": hour, "resource_id": resource.id, "service": service,
                "resource_type": _TYPE[resource.gnocchi_type], "consumed_quantity": quantity,
                "project_id": attributes.get("project_id"), "flavor_name": "", "vcpus": math.nan,
                "ram_mib": math.nan, "volume_type": attributes.get("volume_type")}  # fmt: skip
        if resource.gnocchi_type == "instance":
            flavor = BY_NAME[attributes["flavor_name"]]
            base |= {"flavor_name": flavor.name, "vcpus": float(flavor.vcpus), "ram_mib": float(flavor.ram_mib)}
        return base | extra

    for meter, points in resource.readings.items():
        inside = [v for t, v in points if hour <= t < hour + HOUR]
        if meter in _GAUGES and inside and fraction > 0:
            service, factor = _GAUGES[meter]
            rows.append(row(service, sum(inside) / len(inside) * factor * fraction))
        elif meter == "ip.floating" and inside and fraction > 0 and all(v == 1.0 for v in inside):
            rows.append(row("network.floating_ip", fraction))
        elif meter in _COUNTERS and inside:
            before = [v for t, v in points if hour - LOOKBACK <= t.replace(minute=0, second=0) < hour]
            if before:
                now, then = inside[-1], before[-1]  # a drop is a counter reset: the new value counts
                grown = (now - then if now >= then else now) / GIB
                rows.append(row(_COUNTERS[meter], grown, project_id=resource.revisions[0][1]["project_id"]))
    present = any(hour <= t < hour + HOUR for t, _ in resource.readings.get("vcpus", []))
    if resource.gnocchi_type == "instance" and present:
        rows.extend(_instance_hours(resource, hour))
    return rows


def _instance_hours(resource: Tracked, hour: dt.datetime) -> list[dict[str, Any]]:
    """The hour's lifetime, split between the flavors by the revisions' times."""
    shares: dict[str, float] = {}
    starts = [at for at, _ in resource.revisions] + [hour + HOUR]
    for k, (at, _) in enumerate(resource.revisions):
        low = max(hour, at if k else hour, resource.started)
        high = min(hour + HOUR, starts[k + 1], resource.ended or hour + HOUR)
        if high > low:
            flavor = resource.at(at)["flavor_name"]
            shares[flavor] = shares.get(flavor, 0.0) + (high - low).total_seconds() / 3600
    project = resource.revisions[0][1]["project_id"]
    return [
        {"charge_period_start": hour, "resource_id": resource.id, "service": "compute.instance",
         "resource_type": "instance", "consumed_quantity": share, "project_id": project, "flavor_name": name,
         "vcpus": float(BY_NAME[name].vcpus), "ram_mib": float(BY_NAME[name].ram_mib), "volume_type": None}
        for name, share in shares.items()
    ]  # fmt: skip
