"""The "messy cloud": one day of Ceilometer samples nobody on the team wrote the way we would,
with every figure it must rate to worked out by hand (issue 15, "Done when").

Day 2026-10-20 (the example rate card's second period: vCPU 0.0230, SSD volumes 0.10), project
`p-shop` unless a sample says `project_id: null`. No inventory: every hour with a sample counts
whole. Each `resource_metadata` shape in ../shared/fixtures/openstack (SUMMARY.md) appears once:

====  ===================  ============================================================  =====================
 id   resource             shape (source)                                                what is messy
====  ===================  ============================================================  =====================
 a    i-polled  shop-web   polled instance, flavor looked up by id (Nova < 2.47 servers)
 b    i-nova247            polled instance, Nova 2.47 embedded flavor (`original_name`)
 c    i-notified           notification meters (meters.yaml `instance_meta`, flavor_name)
 d    i-legacy             legacy `compute.instance.*` payload (instance_type, state)
 e    i-nosize             a `vcpus` sample with no metadata                             no project, no size
 f    i-big                flavor_name + vcpus/memory_mb: 16 vCPU / 32 GiB               no droplet holds it
 g    i-resize             polled, m1.small then m1.large inside 10:00–11:00             resize mid-hour
 h    i-mixed              flavor_name + sizes                                           project in 2 hours,
                                                                                         null in the third
 i    shop-web's vNIC      interface counters (`instance_id` = i-polled, `vnic_name`)
 j    v-api-name           Cinder API < 3.63 volume (type by name: `__DEFAULT__`)
 k    v-api-both           Cinder API ≥ 3.63 volume (`volume_type` ssd + `volume_type_id`)
 l    v-notified           Cinder notification (the type's id in both keys)              id, resolvable
 m    v-lost               a volume type id alone                                        id, unresolvable
 n    fip-orphan           Neutron floating IP (status ACTIVE)                           no project
 o    img-1                Glance image (`name`, status, size)
====  ===================  ============================================================  =====================

Cinder's types (what `stackledger collect --source cinder` stores) are {SSD_ID: ssd}; LOST_ID is
no type anyone lists. Prices: the example card (internal, EUR), AWS us-east-1 families m5/m6i/m7i
and DigitalOcean `s` droplets (USD, no fx configured). Instance types: the cheapest with enough
vCPUs and memory, ties to fewer vCPUs then the name (m5.large before m6i.large at 0.096).
Per-month prices divide GiB-hours by 730, rounded to 9 decimals, then × price rounded half-even
to 6 decimals.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from tests.conftest import OPENSTACK_FIXTURES

DAY: Final = dt.datetime(2026, 10, 20)
SHOP: Final = "p-shop"
SSD_ID: Final = "6a1f5c0e-3b2d-4c1e-9f8a-7b6c5d4e3f21"
LOST_ID: Final = "0c0ffee0-0000-4000-8000-000000000000"
VOLUME_TYPES: Final = {SSD_ID: "ssd"}
VNIC: Final = "instance-00000001-i-polled-tap0a1b2c3d-4e"
GIB: Final = 1024**3
D = Decimal

NOVA = OPENSTACK_FIXTURES / "nova" / "doc" / "api_samples"
CINDER = OPENSTACK_FIXTURES / "cinder" / "api-ref" / "source" / "v3" / "samples"

# ---------------------------------------------------------------- the figures, by hand
# Internal (EUR), per resource and service: (cost, what it is)
INTERNAL: Final = {
    ("i-polled", "compute.instance"): D(0),  # 2 h m1.tiny × 0 (no fee below m1.large)
    ("i-nova247", "compute.instance"): D(0),  # 1 h m1.tiny.specs × 0
    ("i-notified", "compute.instance"): D("0.01"),  # 1 h × 0.0100 (m1.large fee)
    ("i-notified", "compute.vcpu"): D("0.092"),  # 4 vCPU-h × 0.0230
    ("i-notified", "compute.ram"): D("0.036"),  # 8 GiB-h × 0.0045
    ("i-legacy", "compute.instance"): D(0),  # 1 h m1.small × 0
    ("i-legacy", "compute.ram"): D("0.009"),  # 2 GiB-h × 0.0045
    ("i-nosize", "compute.instance"): D(0),  # 3 h, no flavor: the base rate 0 (unallocated)
    ("i-nosize", "compute.vcpu"): D("0.276"),  # 12 vCPU-h × 0.0230 (unallocated)
    ("i-big", "compute.instance"): D(0),  # 2 h c1.2xlarge × 0
    ("i-big", "compute.vcpu"): D("0.736"),  # 32 vCPU-h × 0.0230
    ("i-big", "compute.ram"): D("0.288"),  # 64 GiB-h × 0.0045
    ("i-resize", "compute.instance"): D("0.005"),  # 0.5 h m1.small × 0 + 0.5 h m1.large × 0.0100
    ("i-mixed", "compute.instance"): D(0),  # 2 h p-shop + 1 h unallocated, × 0
    ("i-mixed", "compute.vcpu"): D("0.138"),  # p-shop 4 × 0.0230 = 0.092 + unallocated 2 × 0.0230 = 0.046
    (VNIC, "network.egress"): D(1),  # 150 GiB: tier 1 100 GiB × 0 + tier 2 50 GiB × 0.02
    (VNIC, "network.ingress"): D(0),  # 1 GiB × 0
    ("v-api-name", "block.volume"): D("0.016438"),  # 200 GiB-h /730 = 0.273972603 × 0.06 = 0.016438356…
    ("v-api-both", "block.volume"): D("0.006849"),  # 50 GiB-h /730 = 0.068493151 × 0.10 (ssd) = 0.006849315…
    ("v-notified", "block.volume"): D("0.013699"),  # 100 GiB-h /730 = 0.136986301 × 0.10 (id → ssd) = 0.013698630…
    ("v-lost", "block.volume"): D("0.002466"),  # 30 GiB-h /730 = 0.041095890 × 0.06 (base) = 0.002465753…
    ("fip-orphan", "network.floating_ip"): D("0.008"),  # 2 IP-h × 0.004 (unallocated)
    ("img-1", "image.storage"): D("0.000034"),  # 1 GiB-h /730 = 0.001369863 × 0.025 = 0.000034246…
}
# p-shop 2.307486 + unallocated (0.276 + 0.046 + 0.008 =) 0.330000
INTERNAL_TOTALS: Final = {SHOP: D("2.307486"), None: D("0.33")}
INTERNAL_TOTAL: Final = D("2.637486")

# AWS (USD), per resource: instance types at their hourly price; volumes on EBS gp3 (0.08/GB-month),
# egress 0.09/GB (first 10 TB), public IPv4 0.005/h, images on S3 Standard (0.023/GB-month).
AWS: Final = {
    "i-polled": D("0.192"),  # m1.tiny 1 vCPU 0.5 GiB → m5.large 0.096 × 2 h
    "i-nova247": D("0.096"),  # m5.large × 1 h
    "i-notified": D("0.192"),  # m1.large 4 vCPU 8 GiB → m5.xlarge 0.192 × 1 h (vCPU, RAM included)
    "i-legacy": D("0.096"),  # m1.small 1 vCPU 2 GiB → m5.large × 1 h
    "i-big": D("1.536"),  # 16 vCPU 32 GiB → m5.4xlarge 0.768 × 2 h
    "i-resize": D("0.144"),  # m5.large 0.096 × 0.5 h + m5.xlarge 0.192 × 0.5 h
    "i-mixed": D("0.288"),  # m1.medium 2 vCPU 4 GiB → m5.large: 2 h p-shop 0.192 + 1 h unallocated 0.096
    VNIC: D("13.5"),  # 150 GiB × 0.09 (+ ingress 1 GiB × 0)
    "v-api-name": D("0.021918"),  # 0.273972603 × 0.08 = 0.021917808…
    "v-api-both": D("0.005479"),  # 0.068493151 × 0.08 = 0.005479452…
    "v-notified": D("0.010959"),  # 0.136986301 × 0.08 = 0.010958904…
    "v-lost": D("0.003288"),  # 0.041095890 × 0.08 = 0.003287671…
    "fip-orphan": D("0.01"),  # 2 h × 0.005 (unallocated)
    "img-1": D("0.000032"),  # 0.001369863 × 0.023 = 0.000031506…
}  # i-nosize: no line (size unknown)
AWS_TOTALS: Final = {SHOP: D("15.989676"), None: D("0.106")}  # unallocated: i-mixed 0.096 + fip 0.010

# DigitalOcean (USD): droplets hourly (far below their monthly caps), volumes 0.10/GiB-month, egress
# 0.01/GiB (all priced at the overage rate), reserved IPs 0, Spaces 0.02/GiB-month.
DIGITALOCEAN: Final = {
    "i-polled": D("0.0119"),  # 1 vCPU 0.5 GiB → s-1vcpu-512mb-10gb 0.00595 × 2 h
    "i-nova247": D("0.00595"),  # × 1 h
    "i-notified": D("0.07143"),  # 4 vCPU 8 GiB → s-4vcpu-8gb × 1 h
    "i-legacy": D("0.01786"),  # 1 vCPU 2 GiB → s-1vcpu-2gb × 1 h
    "i-resize": D("0.044645"),  # s-1vcpu-2gb 0.01786 × 0.5 + s-4vcpu-8gb 0.07143 × 0.5
    "i-mixed": D("0.10713"),  # 2 vCPU 4 GiB → s-2vcpu-4gb 0.03571: 2 h p-shop 0.07142 + 1 h unallocated 0.03571
    VNIC: D("1.5"),  # 150 GiB × 0.01
    "v-api-name": D("0.027397"),  # 0.273972603 × 0.10
    "v-api-both": D("0.006849"),
    "v-notified": D("0.013699"),
    "v-lost": D("0.00411"),  # 0.041095890 × 0.10 = 0.004109589
    "fip-orphan": D(0),  # a reserved IP assigned to a droplet costs nothing
    "img-1": D("0.000027"),  # 0.001369863 × 0.02 = 0.000027397…
}  # i-nosize: size unknown; i-big: no `s` droplet has 16 vCPUs
DIGITALOCEAN_TOTALS: Final = {SHOP: D("1.775287"), None: D("0.03571")}

# Every finding: (book, kind, effect, project, resource, service, subject, quantity, unit)
FINDINGS: Final = [
    ("aws", "size unknown", "unpriced", None, "i-nosize", "compute.instance", "(unnamed flavor)", 3.0,
     "instance-hour"),
    ("digitalocean", "no equivalent", "unpriced", SHOP, "i-big", "compute.instance", "c1.2xlarge 16 vCPU 32 GiB",
     2.0, "instance-hour"),
    ("digitalocean", "size unknown", "unpriced", None, "i-nosize", "compute.instance", "(unnamed flavor)", 3.0,
     "instance-hour"),
    ("internal", "volume type unresolved", "base price", SHOP, "v-lost", "block.volume", f"volume type id {LOST_ID}",
     30.0, "GiB-hour"),
]  # fmt: skip


# ---------------------------------------------------------------- the samples


def at(hour: int, minute: int = 10) -> dt.datetime:
    return DAY + dt.timedelta(hours=hour, minutes=minute)


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def polled_instance(name: str, flavor: dict[str, Any]) -> dict[str, Any]:
    """compute/pollsters/util.py's metadata, from the fixture server with `flavor` as looked up."""
    server = _load(NOVA / "servers" / "servers-details-resp.json")["servers"][0]
    return {"display_name": name, "name": server["OS-EXT-SRV-ATTR:instance_name"], "instance_type": flavor["name"],
            "host": server["hostId"], "flavor": flavor, "status": server["status"].lower(),
            "state": server["OS-EXT-STS:vm_state"], "image_ref": server["image"]["id"], "vcpus": flavor["vcpus"],
            "memory_mb": flavor["ram"], "disk_gb": flavor["disk"], "user_metadata": {}}  # fmt: skip


def fixture_flavor(name: str, **changes: Any) -> dict[str, Any]:
    flavors = {f["name"]: f for f in _load(NOVA / "flavors" / "flavors-detail-resp.json")["flavors"]}
    return {key: value for key, value in flavors[name].items() if key != "links"} | changes


def cinder_volume(path: Path, name: str, **changes: Any) -> dict[str, Any]:
    """ceilometer/volume/cinder.py VolumeSizePollster's FIELDS (+ volume_type_id), read from a fixture volume."""
    volume = _load(path)["volume"] | {"name": name, **changes}
    fields = ("name", "status", "volume_type", "volume_type_id", "os-vol-host-attr:host", "migration_status",
              "attachments", "snapshot_id", "source_volid")  # fmt: skip
    return {key: volume[key] for key in fields if key in volume}


class Samples:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.count = 0

    def add(self, meter: str, kind: str, unit: str, volume: float, resource: str, when: dt.datetime,
            metadata: dict[str, Any], project: str | None = SHOP) -> dict[str, Any]:  # fmt: skip
        self.count += 1
        sample = {"source": "openstack", "counter_name": meter, "counter_type": kind, "counter_unit": unit,
                  "counter_volume": volume, "user_id": "u-1", "project_id": project, "resource_id": resource,
                  "timestamp": when.isoformat(), "resource_metadata": metadata,
                  "message_id": f"{resource}-{meter}-{self.count}", "message_signature": ""}  # fmt: skip
        self.lines.append(json.dumps(sample))
        return sample


def write_corpus(path: Path) -> Path:
    """The corpus as a JSON-lines file (one raw sample per line), as `stackledger ingest` reads it."""
    s = Samples()
    tiny = fixture_flavor("m1.tiny")  # 1 vCPU, 512 MiB, 1 GiB
    web = polled_instance("shop-web", tiny)
    s.add("cpu", "cumulative", "ns", 1e9, "i-polled", at(0), web)  # (a) 00 and 01
    s.add("cpu", "cumulative", "ns", 2e9, "i-polled", at(1), web)
    v247 = _load(NOVA / "servers" / "v2.47" / "servers-details-resp.json")["servers"][0]
    api = {"display_name": "shop-api", "flavor": v247["flavor"], "status": "active"}
    s.add("cpu", "cumulative", "ns", 1e9, "i-nova247", at(0), api)  # (b)
    notified = {"flavor_name": "m1.large", "instance_flavor_id": "4", "display_name": "shop-db", "host": "compute-2",
                "launched_at": "2026-10-01T10:00:00.000000", "created_at": "", "deleted_at": ""}  # fmt: skip
    s.add("vcpus", "gauge", "vcpu", 4, "i-notified", at(3, 2), notified)  # (c)
    s.add("memory", "gauge", "MiB", 8192, "i-notified", at(3, 2), notified)
    legacy = {"instance_type": "m1.small", "vcpus": 1, "memory_mb": 2048, "state": "active", "display_name": "cron"}
    s.add("memory", "gauge", "MiB", 2048, "i-legacy", at(4, 2), legacy)  # (d)
    for hour in (5, 6, 7):  # (e) no project, no flavor: only its vCPUs, by the volume
        s.add("vcpus", "gauge", "vcpu", 4, "i-nosize", at(hour), {}, project=None)
    big = {"flavor_name": "c1.2xlarge", "vcpus": 16, "memory_mb": 32768, "display_name": "shop-search"}
    for hour in (8, 9):  # (f)
        s.add("vcpus", "gauge", "vcpu", 16, "i-big", at(hour), big)
        s.add("memory", "gauge", "MiB", 32768, "i-big", at(hour), big)
    small = polled_instance("shop-batch", fixture_flavor("m1.small"))  # (g) m1.small, then m1.large
    large = polled_instance("shop-batch", fixture_flavor("m1.large"))
    for minute, meta in ((10, small), (20, small), (40, large), (50, large)):
        s.add("cpu", "cumulative", "ns", minute * 1e9, "i-resize", at(10, minute), meta)
    mixed = {"flavor_name": "m1.medium", "vcpus": 2, "memory_mb": 4096, "display_name": "shop-worker"}
    for hour, project in ((11, SHOP), (12, SHOP), (13, None)):  # (h)
        s.add("vcpus", "gauge", "vcpu", 2, "i-mixed", at(hour), mixed, project=project)
    vnic = {**web, "instance_id": "i-polled", "vnic_name": "tap0a1b2c3d-4e", "mac": "fa:16:3e:00:00:01"}
    for hour, sent, received in ((0, 0, 0), (1, 50 * GIB, GIB), (2, 150 * GIB, GIB)):  # (i) 50 + 100 GiB out
        s.add("network.outgoing.bytes", "cumulative", "B", sent, VNIC, at(hour), vnic)
        s.add("network.incoming.bytes", "cumulative", "B", received, VNIC, at(hour), vnic)
    by_name = cinder_volume(CINDER / "volumes" / "volume-show-response.json", "shop-logs")  # (j) __DEFAULT__
    for hour in (0, 1):
        s.add("volume.size", "gauge", "GiB", 100, "v-api-name", at(hour, 5), by_name)
    both = cinder_volume(CINDER / "volumes" / "v3.69" / "volume-show-response.json", "shop-db-data",
                         volume_type="ssd", volume_type_id=SSD_ID)  # fmt: skip
    s.add("volume.size", "gauge", "GiB", 50, "v-api-both", at(0, 5), both)  # (k)
    notification = {"display_name": "shop-cache", "volume_type": SSD_ID, "volume_type_id": SSD_ID,
                    "instance_id": "i-polled", "image_id": None}  # fmt: skip
    s.add("volume.size", "gauge", "GiB", 100, "v-notified", at(0, 5), notification)  # (l)
    for hour in (0, 1, 2):  # (m)
        s.add("volume.size", "gauge", "GiB", 10, "v-lost", at(hour, 5), {"volume_type": LOST_ID})
    fip = {"floating_ip_address": "203.0.113.7", "status": "ACTIVE", "router_id": None, "port_id": None}
    for hour in (0, 1):  # (n)
        s.add("ip.floating", "gauge", "ip", 1, "fip-orphan", at(hour), fip, project=None)
    image = {"name": "shop-golden", "status": "active", "size": GIB, "container_format": "bare"}
    s.add("image.size", "gauge", "B", GIB, "img-1", at(0), image)  # (o)
    path.write_text("\n".join(s.lines) + "\n", encoding="utf-8")
    return path
