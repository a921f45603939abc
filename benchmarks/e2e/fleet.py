"""The benchmark cloud: N instances, N/2 volumes in N/20 projects over a window, with churn.

The ratio is issue 14's (1,000 instances and 500 volumes in 50 projects). Instances run on
compute hosts of 40 each; every host's polling agent and the central agent (volumes) poll every
10 minutes at their own phase. Churn, as rates per resource and day (`Churn`): long-lived
instances are deleted and replaced, a share of instance slots runs short-lived instances all
window long, instances are resized (a new flavor mid-hour) and rebooted (cumulative counters
restart), volumes are replaced, retyped (standard <-> ssd) and extended.

Deterministic for a `FleetSpec`: every draw comes from one `random.Random` seeded from the
spec, in a fixed order. The fleet holds O(N + events) objects; `generator` turns it into
samples poll by poll, never holding the window.
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import math
import random
import uuid
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Final

POLL: Final = dt.timedelta(minutes=10)
POLLS_PER_DAY: Final = 144
INSTANCES_PER_HOST: Final = 40
_DAY_S: Final = 86_400.0


@dataclass(frozen=True)
class Flavor:
    flavor_id: str
    name: str
    vcpus: int
    ram_mib: int
    disk_gib: int


# The example rate card prices every one of these (m1.large and m1.xlarge carry an instance fee).
FLAVORS: Final = (
    Flavor("2", "m1.small", 1, 2048, 20),
    Flavor("3", "m1.medium", 2, 4096, 40),
    Flavor("4", "m1.large", 4, 8192, 80),
    Flavor("5", "m1.xlarge", 8, 16384, 160),
)
FLAVOR_WEIGHTS: Final = (40, 30, 20, 10)
# Names, as Cinder's API (and so the volume pollster) gives them; the example card has an ssd override.
VOLUME_TYPES: Final = ("standard", "ssd")
VOLUME_TYPE_WEIGHTS: Final = (75, 25)
VOLUME_SIZES: Final = (10, 20, 50, 100, 200, 500)  # GiB


@dataclass(frozen=True)
class Churn:
    """Per-resource rates per day (Poisson processes), and the share of short-lived instance slots."""

    instance_replace: float = 0.01  # a long-lived instance is deleted, another takes its place
    ephemeral_share: float = 0.05  # slots running instances of 1-36 hours back to back
    resize: float = 0.002
    reboot: float = 0.003  # the instance's cpu and network counters restart from zero
    volume_replace: float = 0.003
    volume_retype: float = 0.0015
    volume_extend: float = 0.003

    @classmethod
    def none(cls) -> Churn:
        """Every resource alive the whole window, unchanged: exactly 144 polls a day each."""
        return cls(0, 0, 0, 0, 0, 0, 0)


@dataclass(frozen=True)
class FleetSpec:
    instances: int
    days: int
    month: str = "2026-10"  # YYYY-MM: the window starts on its first day
    seed: int = 0
    churn: Churn = Churn()

    def __post_init__(self) -> None:
        if self.instances < 1:
            raise ValueError(f"instances must be at least 1, got {self.instances}")
        if not 1 <= self.days <= self.month_days:
            raise ValueError(f"days must be 1-{self.month_days} for {self.month}, got {self.days}")

    @property
    def start(self) -> dt.datetime:
        return dt.datetime.strptime(self.month, "%Y-%m")

    @property
    def end(self) -> dt.datetime:
        return self.start + dt.timedelta(days=self.days)

    @property
    def month_days(self) -> int:
        year, month = (int(part) for part in self.month.split("-"))
        return calendar.monthrange(year, month)[1]

    @property
    def volumes(self) -> int:
        return self.instances // 2

    @property
    def projects(self) -> int:
        return max(1, self.instances // 20)

    @property
    def polls(self) -> int:
        return self.days * POLLS_PER_DAY


class Kind(IntEnum):
    """What an event does; the value orders simultaneous events (a delete before a create)."""

    DELETE = 0
    CREATE = 1
    RESIZE = 2
    REBOOT = 3
    RETYPE = 4
    EXTEND = 5


@dataclass(frozen=True)
class Project:
    project_id: str
    name: str
    users: tuple[str, ...]


@dataclass(frozen=True)
class Agent:
    """A polling agent: a compute host's (its instances) or the central one (volumes)."""

    name: str
    offset: dt.timedelta  # its polls fall at window start + k * POLL + offset
    node: int  # the uuid1 node of its message ids: distinct per agent


@dataclass
class Instance:
    instance_id: str
    display_name: str
    domain: str  # libvirt domain name, `instance-%08x`
    agent: Agent
    project: Project
    user_id: str
    flavor: Flavor  # at creation; RESIZE events carry the later ones
    image_id: str
    port_id: str
    mac: str
    created_at: dt.datetime
    deleted_at: dt.datetime | None
    cpu_util: float  # share of its vCPUs busy
    rx_rate: float  # bytes/s in
    tx_rate: float  # bytes/s out
    events: list[tuple[dt.datetime, Kind, Flavor | None]] = field(default_factory=list)

    @property
    def vnic_name(self) -> str:
        return f"tap{self.port_id[:11]}"

    @property
    def vnic_id(self) -> str:
        """Ceilometer's interface resource id: `<domain>-<instance uuid>-<vnic name>`."""
        return f"{self.domain}-{self.instance_id}-{self.vnic_name}"


@dataclass
class Volume:
    volume_id: str
    display_name: str
    project: Project
    user_id: str
    volume_type: str
    size_gib: int
    attached_to: str | None  # an instance of the same project, at creation
    created_at: dt.datetime
    deleted_at: dt.datetime | None
    events: list[tuple[dt.datetime, Kind, str | int]] = field(default_factory=list)


@dataclass(frozen=True)
class Event:
    at: dt.datetime
    kind: Kind
    serial: int  # creation order: ties broken deterministically
    resource: Instance | Volume
    value: Flavor | str | int | None = None


@dataclass
class Fleet:
    spec: FleetSpec
    projects: list[Project]
    hosts: list[Agent]
    central: Agent
    instances: list[Instance]
    volumes: list[Volume]

    def agents(self) -> list[Agent]:
        """Every polling agent, in the order their polls fall within a 10-minute cycle."""
        return sorted([*self.hosts, self.central], key=lambda agent: agent.offset)

    def events(self) -> list[Event]:
        """Creations, deletions and changes of every resource, in time order."""
        found: list[Event] = []
        resources: list[Instance | Volume] = [*self.instances, *self.volumes]
        for resource in resources:
            found.append(Event(resource.created_at, Kind.CREATE, len(found), resource))
            for at, kind, value in resource.events:
                found.append(Event(at, kind, len(found), resource, value))
            if resource.deleted_at is not None:
                found.append(Event(resource.deleted_at, Kind.DELETE, len(found), resource))
        found.sort(key=lambda event: (event.at, event.kind, event.serial))
        return found


def build_fleet(spec: FleetSpec) -> Fleet:
    rng = random.Random(f"stackledger-bench-e2e/{spec.instances}/{spec.month}/{spec.days}/{spec.seed}")
    builder = _Builder(spec, rng)
    projects = [builder.project(n) for n in range(spec.projects)]
    hosts = [builder.agent(f"compute-{n:04d}", n + 1) for n in range(math.ceil(spec.instances / INSTANCES_PER_HOST))]
    central = builder.agent("central-agent", 0)
    instances: list[Instance] = []
    for slot in range(spec.instances):
        agent = hosts[slot // INSTANCES_PER_HOST]
        project = projects[slot % len(projects)]
        ephemeral = rng.random() < spec.churn.ephemeral_share
        instances += builder.instance_slot(agent, project, ephemeral)
    servers: dict[str, list[Instance]] = {}  # per project: what a volume may be attached to
    for instance in instances:
        servers.setdefault(instance.project.project_id, []).append(instance)
    volumes: list[Volume] = []
    for slot in range(spec.volumes):
        project = projects[slot % len(projects)]
        volumes += builder.volume_slot(project, servers.get(project.project_id, [])[:8])
    return Fleet(spec, projects, hosts, central, instances, volumes)


class _Builder:
    def __init__(self, spec: FleetSpec, rng: random.Random) -> None:
        self.spec = spec
        self.rng = rng
        self.domains = 0

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def project(self, n: int) -> Project:
        users = tuple(uuid.UUID(int=self.rng.getrandbits(128), version=4).hex for _ in range(1 + n % 3))
        return Project(uuid.UUID(int=self.rng.getrandbits(128), version=4).hex, f"project-{n:04d}", users)

    def agent(self, name: str, index: int) -> Agent:
        offset = dt.timedelta(microseconds=self.rng.randrange(POLL // dt.timedelta(microseconds=1)))
        seed = hashlib.sha256(f"{self.spec.seed}/{name}".encode()).digest()
        node = 0x010000000000 | (int.from_bytes(seed[:3], "big") << 16) | index  # multicast bit: not a real MAC
        return Agent(name, offset, node)

    def instance_slot(self, agent: Agent, project: Project, ephemeral: bool) -> list[Instance]:
        """The instances one slot runs over the window, one after another."""
        spec, rng, churn = self.spec, self.rng, self.spec.churn
        found: list[Instance] = []
        # A long-lived slot's first instance predates the window; a short-lived one's starts early in it.
        created = spec.start + self._hours(0, 6) if ephemeral else spec.start - dt.timedelta(days=rng.uniform(1, 90))
        while created < spec.end:
            if ephemeral:
                deleted: dt.datetime | None = created + self._hours(1, 36)
            else:
                deleted = self._next(max(created, spec.start), churn.instance_replace)
            if deleted is not None and deleted >= spec.end:
                deleted = None
            found.append(self.instance(agent, project, created, deleted))
            if deleted is None:
                break
            created = deleted + (self._hours(1 / 6, 4) if ephemeral else self._hours(1 / 12, 3))
        return found

    def instance(self, agent: Agent, project: Project, created: dt.datetime, deleted: dt.datetime | None) -> Instance:
        rng, churn = self.rng, self.spec.churn
        self.domains += 1
        flavor = rng.choices(FLAVORS, FLAVOR_WEIGHTS)[0]
        port = self.uuid()
        found = Instance(
            instance_id=self.uuid(),
            display_name=f"{project.name}-vm-{self.domains:05d}",
            domain=f"instance-{self.domains:08x}",
            agent=agent,
            project=project,
            user_id=rng.choice(project.users),
            flavor=flavor,
            image_id=self.uuid(),
            port_id=port,
            mac="fa:16:3e:" + ":".join(f"{rng.randrange(256):02x}" for _ in range(3)),
            created_at=created,
            deleted_at=deleted,
            cpu_util=rng.uniform(0.02, 0.9),
            rx_rate=rng.lognormvariate(math.log(20_000), 1.2),
            tx_rate=rng.lognormvariate(math.log(15_000), 1.2),
        )
        alive_from, alive_to = max(created, self.spec.start), deleted or self.spec.end
        current = FLAVORS.index(flavor)
        for at in self._times(alive_from, alive_to, churn.resize):
            current = min(len(FLAVORS) - 1, current + 1) if rng.random() < 0.7 or current == 0 else current - 1
            found.events.append((at, Kind.RESIZE, FLAVORS[current]))
        found.events += [(at, Kind.REBOOT, None) for at in self._times(alive_from, alive_to, churn.reboot)]
        return found

    def volume_slot(self, project: Project, owned: list[Instance]) -> list[Volume]:
        spec, rng = self.spec, self.rng
        found: list[Volume] = []
        created = spec.start - dt.timedelta(days=rng.uniform(1, 120))
        while created < spec.end:
            deleted = self._next(max(created, spec.start), spec.churn.volume_replace)
            found.append(self.volume(project, owned, created, deleted))
            if deleted is None:
                break
            created = deleted + self._hours(1 / 12, 2)
        return found

    def volume(
        self, project: Project, owned: list[Instance], created: dt.datetime, deleted: dt.datetime | None
    ) -> Volume:
        rng, churn = self.rng, self.spec.churn
        volume_type = rng.choices(VOLUME_TYPES, VOLUME_TYPE_WEIGHTS)[0]
        size = rng.choice(VOLUME_SIZES)
        attached = rng.choice(owned).instance_id if owned and rng.random() < 0.6 else None
        found = Volume(
            volume_id=self.uuid(),
            display_name=f"{project.name}-vol-{rng.randrange(10**6):06d}",
            project=project,
            user_id=rng.choice(project.users),
            volume_type=volume_type,
            size_gib=size,
            attached_to=attached,
            created_at=created,
            deleted_at=deleted,
        )
        alive_from, alive_to = max(created, self.spec.start), deleted or self.spec.end
        changes = [(at, Kind.RETYPE) for at in self._times(alive_from, alive_to, churn.volume_retype)]
        changes += [(at, Kind.EXTEND) for at in self._times(alive_from, alive_to, churn.volume_extend)]
        for at, kind in sorted(changes):
            if kind is Kind.RETYPE:
                volume_type = VOLUME_TYPES[1 - VOLUME_TYPES.index(volume_type)]
                found.events.append((at, kind, volume_type))
            else:
                size = next((s for s in VOLUME_SIZES if s > size), size * 2)
                found.events.append((at, kind, size))
        return found

    # ------------------------------------------------------------ random times

    def _hours(self, low: float, high: float) -> dt.timedelta:
        return dt.timedelta(seconds=round(self.rng.uniform(low, high) * 3600, 6))

    def _next(self, after: dt.datetime, per_day: float) -> dt.datetime | None:
        """The next event of a Poisson process of `per_day` events a day, None past the window."""
        if per_day <= 0:
            return None
        at = after + dt.timedelta(seconds=round(self.rng.expovariate(per_day) * _DAY_S, 6))
        return at if at < self.spec.end else None

    def _times(self, start: dt.datetime, end: dt.datetime, per_day: float) -> list[dt.datetime]:
        found: list[dt.datetime] = []
        at = self._next(start, per_day)
        while at is not None and at < end:
            found.append(at)
            at = self._next(at, per_day)
        return found
