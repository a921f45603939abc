"""The concrete synthetic cloud: the spec's layout with ids, times, hosts and traffic chosen by a seed.

Every random choice comes from one `random.Random(seed)` consumed in a fixed order, so the same
seed and month always give the same cloud. Event times avoid the first and last five minutes of
an hour so a lifecycle notification and the hour it describes never straddle a boundary.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import dataclass, field
from decimal import Decimal

from stackledger.collectors.synthetic.spec import CloudSpec, Flavor, Lifecycle
from stackledger.window import Window

HOSTS = ("compute-01", "compute-02", "compute-03", "compute-04")
CONTROLLER = "ctl-01"  # runs the central polling agent and the notification agent


@dataclass(frozen=True)
class User:
    user_id: str
    name: str


@dataclass(frozen=True)
class Project:
    project_id: str
    name: str
    team: str
    cost_center: str
    env: str
    parent_id: str | None
    budget: Decimal
    users: tuple[User, ...]


@dataclass(frozen=True)
class VolumeType:
    type_id: str
    name: str


@dataclass(frozen=True)
class Revision:
    """What a resource looked like from `valid_from` until the next revision."""

    valid_from: dt.datetime
    flavor: Flavor | None = None
    size_gib: float | None = None


@dataclass(frozen=True)
class Resource:
    """One instance, volume, snapshot, backup, image or floating IP and its whole life."""

    resource_id: str
    resource_type: str
    name: str
    project: Project
    user: User | None
    started_at: dt.datetime
    ended_at: dt.datetime | None  # None: still alive after the window
    revisions: tuple[Revision, ...]
    volume_type: VolumeType | None = None
    host: str | None = None
    instance_name: str | None = None  # libvirt domain name (instances)
    image_id: str | None = None
    parent_id: str | None = None  # source volume (snapshot, backup); attached instance (volume, IP)
    traffic_mbps: float = 0.0  # mean egress, Mbit/s
    cpu_util: float = 0.0  # mean share of its vCPUs in use
    reboot_at: dt.datetime | None = None  # a hard reboot: cumulative counters restart at zero
    size_bytes: int | None = None  # images
    address: str | None = None  # floating IPs: the public address
    fixed_address: str | None = None
    port_id: str | None = None
    mac: str | None = None
    down: tuple[dt.datetime, dt.datetime] | None = None  # floating IP status DOWN in [start, end)

    @property
    def vnic_id(self) -> str:
        """The resource id Ceilometer gives an instance's network interface (its traffic counters)."""
        return f"{self.instance_name}-{self.resource_id}-tap{(self.port_id or '')[:11]}"

    def alive(self, at: dt.datetime) -> bool:
        return self.started_at <= at and (self.ended_at is None or at < self.ended_at)

    def revision_at(self, at: dt.datetime) -> Revision:
        current = self.revisions[0]
        for revision in self.revisions[1:]:
            if revision.valid_from <= at:
                current = revision
        return current


@dataclass(frozen=True)
class SyntheticCloud:
    window: Window
    seed: int
    poll_minutes: int
    region: str
    currency: str
    projects: tuple[Project, ...]
    resources: tuple[Resource, ...]
    volume_types: tuple[VolumeType, ...]
    public_image_id: str
    hosts: tuple[str, ...] = HOSTS
    by_id: dict[str, Resource] = field(default_factory=dict, compare=False, repr=False)
    # The month after this one when several are generated (`months.generate_months`): the
    # counters of the instances both hold run on into its first readings. None: the last month.
    next_month: SyntheticCloud | None = field(default=None, compare=False, repr=False)

    def of_type(self, resource_type: str) -> list[Resource]:
        return [r for r in self.resources if r.resource_type == resource_type]


def build_cloud(
    spec: CloudSpec, window: Window, *, seed: int, poll_minutes: int, region: str, currency: str
) -> SyntheticCloud:
    builder = _Builder(spec, window, random.Random(seed))
    projects = builder.projects()
    volume_types = tuple(VolumeType(builder.uuid(), name) for name in spec.volume_types)
    public_image = builder.uuid()
    instances = builder.instances(projects, public_image)
    volumes = builder.volumes(projects, volume_types, instances)
    resources = (
        *instances,
        *volumes,
        *builder.copies(volumes),
        *builder.images(projects),
        *builder.floating_ips(projects, instances),
    )
    return SyntheticCloud(
        window=window,
        seed=seed,
        poll_minutes=poll_minutes,
        region=region,
        currency=currency,
        projects=tuple(projects.values()),
        resources=resources,
        volume_types=volume_types,
        public_image_id=public_image,
        by_id={r.resource_id: r for r in resources},
    )


class _Builder:
    def __init__(self, spec: CloudSpec, window: Window, rng: random.Random) -> None:
        self.spec, self.window, self.rng = spec, window, rng
        self.month = window.end - window.start
        self.domain_serial = rng.randrange(0x200, 0x800)  # libvirt instance-%08x numbering

    # ------------------------------------------------------------ ids and times

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def hex_id(self) -> str:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4).hex  # Keystone ids: 32 hex digits

    def moment(self, low: dt.datetime, high: dt.datetime) -> dt.datetime:
        """A time in [low, high) at minute 5–54 of its hour, with seconds and microseconds."""
        base = low + (high - low) * self.rng.random()
        hour = base.replace(minute=0, second=0, microsecond=0)
        at = hour + dt.timedelta(
            minutes=self.rng.randint(5, 54), seconds=self.rng.randint(0, 59), microseconds=self.rng.randrange(10**6)
        )
        return at if at >= low else at + dt.timedelta(hours=1)

    def lifetime(self, lifecycle: Lifecycle) -> tuple[dt.datetime, dt.datetime | None]:
        start, month, day = self.window.start, self.month, dt.timedelta(days=1)
        if lifecycle == "steady":
            return self.moment(start - 300 * day, start - 20 * day), None
        if lifecycle == "late":
            return self.moment(start + 0.1 * month, start + 0.8 * month), None
        if lifecycle == "retired":
            ended = self.moment(start + 0.2 * month, start + 0.8 * month)
            return self.moment(start - 200 * day, start - 30 * day), ended
        begin = self.moment(start + 0.05 * month, start + 0.75 * month)
        hours = dt.timedelta(hours=3)
        return begin, self.moment(begin + hours, min(begin + 6 * day, self.window.end - day))

    def midlife(self, started: dt.datetime, ended: dt.datetime | None) -> dt.datetime:
        """A time well inside the part of a life that falls in the window."""
        low = max(started, self.window.start) + dt.timedelta(days=1)
        high = min(ended or self.window.end, self.window.end) - dt.timedelta(days=1)
        return self.moment(low, max(high, low + dt.timedelta(hours=2)))

    # ------------------------------------------------------------ projects

    def projects(self) -> dict[str, Project]:
        users = {team: tuple(User(self.hex_id(), name) for name in names) for team, names in self.spec.users.items()}
        projects: dict[str, Project] = {}
        for p in self.spec.projects:
            parent = projects[p.parent].project_id if p.parent else None
            projects[p.name] = Project(
                self.hex_id(), p.name, p.team, self.spec.teams[p.team], p.env, parent, p.budget, users[p.team]
            )
        return projects

    # ------------------------------------------------------------ resources

    def instances(self, projects: dict[str, Project], public_image: str) -> list[Resource]:
        out = []
        for spec in self.spec.instances:
            project = projects[spec.project]
            started, ended = self.lifetime(spec.lifecycle)
            revisions = [Revision(started, flavor=self.spec.flavor(spec.flavor))]
            if spec.resize_to:
                revisions.append(Revision(self.midlife(started, ended), flavor=self.spec.flavor(spec.resize_to)))
            self.domain_serial += self.rng.randint(1, 9)
            out.append(
                Resource(
                    resource_id=self.uuid(),
                    resource_type="instance",
                    name=spec.name,
                    project=project,
                    user=self.rng.choice(project.users),
                    started_at=started,
                    ended_at=ended,
                    revisions=tuple(revisions),
                    host=self.rng.choice(HOSTS),
                    instance_name=f"instance-{self.domain_serial:08x}",
                    image_id=public_image,
                    traffic_mbps=spec.traffic_mbps,
                    cpu_util=round(self.rng.uniform(0.05, 0.65), 3),
                    reboot_at=self.midlife(started, ended) if spec.reboot else None,
                    fixed_address=f"10.{self.rng.randint(0, 3)}.{self.rng.randint(0, 255)}.{self.rng.randint(2, 254)}",
                    port_id=self.uuid(),
                    mac="fa:16:3e:" + ":".join(f"{self.rng.randrange(256):02x}" for _ in range(3)),
                )
            )
        return out

    def volumes(
        self, projects: dict[str, Project], types: tuple[VolumeType, ...], instances: list[Resource]
    ) -> list[Resource]:
        by_name = {i.name: i for i in instances}
        out = []
        for spec in self.spec.volumes:
            project = projects[spec.project]
            server = by_name.get(spec.attached_to or "")
            started, ended = self.lifetime(spec.lifecycle)
            if server is not None and spec.lifecycle != "steady" and server.ended_at is not None:
                # A volume made for a server lives and dies with it, give or take a few minutes.
                started = server.started_at - dt.timedelta(minutes=3, seconds=self.rng.randint(0, 59))
                ended = server.ended_at + dt.timedelta(minutes=2, seconds=self.rng.randint(0, 59))
            revisions = [Revision(started, size_gib=float(spec.size_gib))]
            if spec.extend_to:
                revisions.append(Revision(self.midlife(started, ended), size_gib=float(spec.extend_to)))
            out.append(
                Resource(
                    resource_id=self.uuid(),
                    resource_type="volume",
                    name=spec.name,
                    project=project,
                    user=self.rng.choice(project.users),
                    started_at=started,
                    ended_at=ended,
                    revisions=tuple(revisions),
                    volume_type=next(t for t in types if t.name == spec.volume_type),
                    host="cinder-volume-01@lvm#LVM",
                    parent_id=server.resource_id if server else None,
                )
            )
        return out

    def copies(self, volumes: list[Resource]) -> list[Resource]:
        by_name = {v.name: v for v in volumes}
        out = []
        for spec in self.spec.copies:
            volume = by_name[spec.volume]
            started, ended = self.lifetime(spec.lifecycle)
            started = max(started, volume.started_at + dt.timedelta(hours=1))
            size = volume.revision_at(started).size_gib
            out.append(
                Resource(
                    resource_id=self.uuid(),
                    resource_type=spec.kind,
                    name=spec.name,
                    project=volume.project,
                    user=volume.user,
                    started_at=started,
                    ended_at=ended,
                    revisions=(Revision(started, size_gib=size),),
                    host="cinder-volume-01@lvm" if spec.kind == "snapshot" else "cinder-backup-01",
                    parent_id=volume.resource_id,
                )
            )
        return out

    def images(self, projects: dict[str, Project]) -> list[Resource]:
        out = []
        for spec in self.spec.images:
            started, ended = self.lifetime(spec.lifecycle)
            out.append(
                Resource(
                    resource_id=self.uuid(),
                    resource_type="image",
                    name=spec.name,
                    project=projects[spec.project],
                    user=None,
                    started_at=started,
                    ended_at=ended,
                    revisions=(Revision(started, size_gib=spec.size_bytes / 1024**3),),
                    size_bytes=spec.size_bytes,
                )
            )
        return out

    def floating_ips(self, projects: dict[str, Project], instances: list[Resource]) -> list[Resource]:
        by_name = {i.name: i for i in instances}
        out = []
        for number, spec in enumerate(self.spec.floating_ips, start=10):
            started, ended = self.lifetime(spec.lifecycle)
            down = None
            if spec.down_hours:
                begin = self.midlife(started, ended).replace(minute=0, second=0, microsecond=0)
                down = (begin, begin + dt.timedelta(hours=spec.down_hours))
            server = by_name.get(spec.attached_to or "")
            out.append(
                Resource(
                    resource_id=self.uuid(),
                    resource_type="floating_ip",
                    name=f"203.0.113.{number}",  # TEST-NET-3: documentation addresses, never routed
                    project=projects[spec.project],
                    user=None,
                    started_at=started,
                    ended_at=ended,
                    revisions=(Revision(started),),
                    parent_id=server.resource_id if server else None,
                    address=f"203.0.113.{number}",
                    fixed_address=server.fixed_address if server else None,
                    port_id=server.port_id if server else None,
                    down=down,
                )
            )
        return out
