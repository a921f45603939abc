"""The shape of the synthetic cloud: teams, projects, flavors and what each project runs.

This is data, not randomness: the layout is fixed so the demo always shows the same story
(a resize, deletions, short-lived CI runners, a counter reset …). The seed only picks ids,
the exact times of events, hosts and traffic. Flavors are Nova's classic m1.* set, the names
the example rate card prices.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final, Literal

Lifecycle = Literal["steady", "late", "brief", "retired"]
"""steady: running before the month and after it; late: created mid-month, still running;
brief: created and deleted inside the month; retired: running before, deleted mid-month."""


@dataclass(frozen=True)
class Flavor:
    flavor_id: str
    name: str
    vcpus: int
    ram_mib: int
    disk_gib: int


@dataclass(frozen=True)
class ProjectSpec:
    name: str
    team: str
    env: str
    budget: Decimal  # per month, in the rate card's currency; a few are set to be overrun
    parent: str | None = None


@dataclass(frozen=True)
class InstanceSpec:
    project: str
    name: str
    flavor: str
    lifecycle: Lifecycle
    resize_to: str | None = None  # flavor name after a mid-month resize
    reboot: bool = False  # a hard reboot mid-month resets its cumulative counters
    traffic_mbps: float = 2.0  # mean egress in Mbit/s; ingress is a fraction of it


@dataclass(frozen=True)
class VolumeSpec:
    project: str
    name: str
    volume_type: str
    size_gib: int
    lifecycle: Lifecycle
    extend_to: int | None = None  # GiB after a mid-month extend
    attached_to: str | None = None  # instance name


@dataclass(frozen=True)
class CopySpec:
    """A snapshot or backup of a volume (size = the volume's size at creation)."""

    kind: Literal["snapshot", "backup"]
    name: str
    volume: str
    lifecycle: Lifecycle


@dataclass(frozen=True)
class ImageSpec:
    project: str
    name: str
    size_bytes: int
    lifecycle: Lifecycle


@dataclass(frozen=True)
class FloatingIpSpec:
    project: str
    lifecycle: Lifecycle
    down_hours: int = 0  # a spell of status DOWN (3) of this many whole hours mid-month
    attached_to: str | None = None


@dataclass(frozen=True)
class CloudSpec:
    teams: dict[str, str]  # team -> cost center
    projects: tuple[ProjectSpec, ...]
    flavors: tuple[Flavor, ...]
    volume_types: tuple[str, ...]
    instances: tuple[InstanceSpec, ...]
    volumes: tuple[VolumeSpec, ...]
    copies: tuple[CopySpec, ...]
    images: tuple[ImageSpec, ...]
    floating_ips: tuple[FloatingIpSpec, ...]
    users: dict[str, tuple[str, ...]] = field(default_factory=dict)  # team -> user names

    def flavor(self, name: str) -> Flavor:
        return next(f for f in self.flavors if f.name == name)


GIB: Final = 1024**3

FLAVORS: Final = (
    Flavor("1", "m1.tiny", 1, 512, 1),
    Flavor("2", "m1.small", 1, 2048, 20),
    Flavor("3", "m1.medium", 2, 4096, 40),
    Flavor("4", "m1.large", 4, 8192, 80),
    Flavor("5", "m1.xlarge", 8, 16384, 160),
)


def _i(project: str, name: str, flavor: str, lifecycle: Lifecycle, **kw: object) -> InstanceSpec:
    return InstanceSpec(project, name, flavor, lifecycle, **kw)  # type: ignore[arg-type]


DEFAULT_SPEC: Final = CloudSpec(
    teams={"payments": "4711", "search": "4820", "ml-research": "5310"},
    users={
        "payments": ("alice", "bob", "payments-ci-bot"),
        "search": ("carol", "dave"),
        "ml-research": ("erin", "frank", "grace"),
    },
    projects=(
        ProjectSpec("payments-prod", "payments", "prod", Decimal("800")),
        ProjectSpec("payments-staging", "payments", "staging", Decimal("150")),
        ProjectSpec("payments-ci", "payments", "ci", Decimal("25"), parent="payments-staging"),
        ProjectSpec("fraud-detection", "payments", "prod", Decimal("200")),
        ProjectSpec("search-prod", "search", "prod", Decimal("1000")),
        ProjectSpec("search-indexer", "search", "prod", Decimal("250")),
        ProjectSpec("search-staging", "search", "staging", Decimal("20")),
        ProjectSpec("web-frontend", "search", "prod", Decimal("200")),
        ProjectSpec("ml-training", "ml-research", "prod", Decimal("120")),
        ProjectSpec("ml-notebooks", "ml-research", "dev", Decimal("150")),
        ProjectSpec("ml-datasets", "ml-research", "prod", Decimal("150")),
        ProjectSpec("ml-sandbox", "ml-research", "dev", Decimal("30"), parent="ml-notebooks"),
    ),
    flavors=FLAVORS,
    volume_types=("standard", "ssd"),
    instances=(
        _i("payments-prod", "pay-api-1", "m1.large", "steady", traffic_mbps=12.0),
        _i("payments-prod", "pay-api-2", "m1.large", "steady", traffic_mbps=11.0, reboot=True),
        _i("payments-prod", "pay-db-1", "m1.xlarge", "steady", traffic_mbps=3.0),
        _i("payments-prod", "pay-worker-1", "m1.medium", "steady", resize_to="m1.large", traffic_mbps=1.5),
        _i("payments-staging", "pay-stg-api", "m1.medium", "steady", traffic_mbps=0.8),
        _i("payments-staging", "pay-stg-db", "m1.large", "retired", traffic_mbps=0.4),
        _i("payments-ci", "ci-runner-1", "m1.medium", "brief", traffic_mbps=6.0),
        _i("payments-ci", "ci-runner-2", "m1.medium", "brief", traffic_mbps=6.0),
        _i("payments-ci", "ci-runner-3", "m1.small", "late", traffic_mbps=4.0),
        _i("fraud-detection", "fraud-scorer", "m1.large", "steady", traffic_mbps=2.5),
        _i("fraud-detection", "fraud-batch", "m1.xlarge", "brief", traffic_mbps=1.0),
        _i("search-prod", "search-node-1", "m1.xlarge", "steady", traffic_mbps=8.0),
        _i("search-prod", "search-node-2", "m1.xlarge", "steady", traffic_mbps=8.0),
        _i("search-prod", "search-node-3", "m1.xlarge", "steady", traffic_mbps=8.0),
        _i("search-prod", "search-lb", "m1.small", "steady", traffic_mbps=25.0),
        _i("search-indexer", "indexer-1", "m1.large", "steady", resize_to="m1.xlarge", traffic_mbps=5.0),
        _i("search-indexer", "indexer-tmp", "m1.large", "brief", traffic_mbps=5.0),
        _i("search-staging", "search-stg", "m1.medium", "late", traffic_mbps=0.5),
        _i("web-frontend", "web-1", "m1.medium", "steady", traffic_mbps=9.0),
        _i("web-frontend", "web-2", "m1.medium", "steady", traffic_mbps=9.0),
        _i("web-frontend", "web-canary", "m1.small", "retired", traffic_mbps=1.0),
        _i("ml-training", "trainer-1", "m1.xlarge", "brief", traffic_mbps=4.0),
        _i("ml-training", "trainer-2", "m1.xlarge", "late", traffic_mbps=4.0),
        _i("ml-notebooks", "jupyter-hub", "m1.large", "steady", traffic_mbps=1.2),
        _i("ml-datasets", "etl-1", "m1.medium", "steady", traffic_mbps=3.0),
        _i("ml-sandbox", "sandbox-tiny", "m1.tiny", "steady", traffic_mbps=0.1),
        _i("ml-sandbox", "sandbox-exp", "m1.small", "brief", traffic_mbps=0.3),
    ),
    volumes=(
        VolumeSpec("payments-prod", "pay-db-1-data", "ssd", 200, "steady", attached_to="pay-db-1"),
        VolumeSpec("payments-prod", "pay-logs", "standard", 50, "steady", attached_to="pay-api-1"),
        VolumeSpec("payments-staging", "pay-stg-db-data", "ssd", 100, "retired", attached_to="pay-stg-db"),
        VolumeSpec("fraud-detection", "fraud-features", "ssd", 80, "late", attached_to="fraud-scorer"),
        VolumeSpec("search-prod", "search-node-1-data", "ssd", 500, "steady", attached_to="search-node-1"),
        VolumeSpec("search-prod", "search-node-2-data", "ssd", 500, "steady", attached_to="search-node-2"),
        VolumeSpec("search-prod", "search-node-3-data", "ssd", 500, "steady", attached_to="search-node-3"),
        VolumeSpec(
            "search-indexer", "indexer-scratch", "standard", 250, "steady", extend_to=500, attached_to="indexer-1"
        ),
        VolumeSpec("ml-training", "checkpoints", "ssd", 200, "brief", attached_to="trainer-1"),
        VolumeSpec("ml-notebooks", "jupyter-home", "standard", 100, "steady", attached_to="jupyter-hub"),
        VolumeSpec("ml-datasets", "raw-data", "standard", 1000, "steady", attached_to="etl-1"),
        VolumeSpec("ml-sandbox", "sandbox-scratch", "standard", 10, "brief"),
    ),
    copies=(
        CopySpec("snapshot", "pay-db-1-data-snap", "pay-db-1-data", "steady"),
        CopySpec("snapshot", "search-node-1-data-pre-upgrade", "search-node-1-data", "late"),
        CopySpec("snapshot", "raw-data-tmp-snap", "raw-data", "brief"),
        CopySpec("backup", "pay-db-1-data-weekly", "pay-db-1-data", "late"),
        CopySpec("backup", "jupyter-home-backup", "jupyter-home", "steady"),
    ),
    images=(
        ImageSpec("payments-prod", "pay-api-golden-2026.09", 2_361_393_152, "steady"),
        ImageSpec("search-prod", "search-node-base", 3_328_599_040, "steady"),
        ImageSpec("ml-notebooks", "cuda-jupyter-12.4", 9_019_431_321, "steady"),
        ImageSpec("ml-sandbox", "sandbox-exp-snapshot", 1_288_490_188, "late"),
        ImageSpec("web-frontend", "web-golden-2026.08", 1_932_735_283, "retired"),
    ),
    floating_ips=(
        FloatingIpSpec("payments-prod", "steady", attached_to="pay-api-1"),
        FloatingIpSpec("payments-prod", "steady", down_hours=7, attached_to="pay-api-2"),
        FloatingIpSpec("search-prod", "steady", attached_to="search-lb"),
        FloatingIpSpec("web-frontend", "steady", attached_to="web-1"),
        FloatingIpSpec("web-frontend", "late"),
        FloatingIpSpec("ml-notebooks", "steady", attached_to="jupyter-hub"),
        FloatingIpSpec("ml-sandbox", "brief"),
    ),
)
