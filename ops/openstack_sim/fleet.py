"""The simulated cloud: flavors, servers (with resizes and deletions), volumes, snapshots, backups.

A fleet file is JSON (or YAML when PyYAML is importable). Resources name their owner either by
Keystone project name (`"project": "payments"`, resolved against the real Keystone at load time)
or by raw id (`"project_id": "..."`, e.g. for a project that Keystone no longer has). Times are ISO
8601; a missing zone means UTC. See default_fleet.json and README.md for every field.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from .timeutil import parse_ts

DEFAULT_NOVA_MAX = "2.102"
DEFAULT_CINDER_MAX = "3.71"
# vm_state -> (API status, power_state): nova/api/openstack/common.py _STATE_MAP, compute/power_state.py.
VM_STATES = {
    "active": ("ACTIVE", 1),
    "stopped": ("SHUTOFF", 4),
    "paused": ("PAUSED", 3),
    "suspended": ("SUSPENDED", 7),
    "error": ("ERROR", 0),
    "resized": ("VERIFY_RESIZE", 1),
    "shelved_offloaded": ("SHELVED_OFFLOADED", 4),
    "deleted": ("DELETED", 0),
}


class FleetError(ValueError):
    """A fleet document that cannot describe a cloud; the message names the offending entry."""


class Raw:
    """One JSON object of the fleet document with typed, error-naming accessors."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, dict):
            raise FleetError(f"{where}: expected an object")
        self.data, self.where = data, where

    def req(self, key: str) -> Any:
        if self.data.get(key) is None:
            raise FleetError(f"{self.where}: missing '{key}'")
        return self.data[key]

    def get(self, key: str, default: Any = None) -> Any:
        value = self.data.get(key)
        return default if value is None else value

    def time(self, key: str, default: datetime | None = None) -> datetime | None:
        value = self.data.get(key)
        if value is None:
            return default
        try:
            return parse_ts(str(value))
        except ValueError:
            raise FleetError(f"{self.where}: '{key}' is not an ISO 8601 time: {value!r}") from None


@dataclass(frozen=True)
class Flavor:
    id: str
    name: str
    vcpus: int
    ram: int  # MiB
    disk: int  # GiB
    ephemeral: int = 0  # GiB
    swap: int = 0  # MiB
    is_public: bool = True
    description: str | None = None
    extra_specs: dict[str, str] = field(default_factory=dict)
    deleted: bool = False  # deleted flavors vanish from /flavors but servers keep their copy


@dataclass(frozen=True)
class Resize:
    at: datetime
    flavor_id: str


@dataclass(frozen=True)
class Server:
    id: str
    name: str
    project_id: str
    user_id: str
    flavor_id: str  # the flavor it was booted with; resizes change it later
    created: datetime
    launched_at: datetime | None  # None: never became active (e.g. failed build)
    terminated_at: datetime | None
    vm_state: str
    host: str
    availability_zone: str
    image_id: str | None  # None: boot from volume, Nova then shows image ""
    metadata: dict[str, str]
    tags: list[str]
    resizes: tuple[Resize, ...]
    key_name: str | None
    description: str | None

    @property
    def deleted(self) -> bool:
        return self.terminated_at is not None

    @property
    def current_flavor_id(self) -> str:
        return self.resizes[-1].flavor_id if self.resizes else self.flavor_id

    @property
    def api_launched_at(self) -> datetime | None:
        # Nova's _finish_resize sets launched_at = utcnow(), so after a resize the API (and
        # simple-tenant-usage) only know the resize time, not the original launch.
        return self.resizes[-1].at if self.resizes and self.launched_at else self.launched_at

    @property
    def updated(self) -> datetime:
        events = [self.created, self.launched_at, self.terminated_at, *(r.at for r in self.resizes)]
        return max(e for e in events if e is not None)

    def flavor_at(self, when: datetime) -> str:
        """Flavor id in force at `when` (the truth a usage collector should reconstruct)."""
        current = self.flavor_id
        for resize in self.resizes:
            if resize.at <= when:
                current = resize.flavor_id
        return current


@dataclass(frozen=True)
class VolumeType:
    id: str
    name: str
    description: str | None
    extra_specs: dict[str, str]
    is_public: bool


@dataclass(frozen=True)
class Volume:
    id: str
    name: str
    project_id: str
    user_id: str
    size: int  # GiB
    volume_type: str  # type name, as the API shows it
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None  # deleted volumes are not listed (Cinder has no deleted listing)
    status: str
    bootable: bool
    attached_to: str | None  # server id
    attached_at: datetime | None
    device: str
    availability_zone: str
    host: str
    description: str | None
    metadata: dict[str, str]


@dataclass(frozen=True)
class Snapshot:
    id: str
    name: str
    project_id: str
    user_id: str
    volume_id: str
    size: int
    created_at: datetime
    deleted_at: datetime | None
    status: str
    description: str | None
    metadata: dict[str, str]


@dataclass(frozen=True)
class Backup:
    id: str
    name: str
    project_id: str
    user_id: str
    volume_id: str
    snapshot_id: str | None
    size: int
    created_at: datetime
    deleted_at: datetime | None
    status: str
    is_incremental: bool
    object_count: int
    container: str | None
    availability_zone: str | None
    description: str | None


@dataclass(frozen=True)
class Fleet:
    source: str
    nova_max: str
    cinder_max: str
    flavors: dict[str, Flavor]
    servers: list[Server]
    volume_types: dict[str, VolumeType]  # by name
    volumes: list[Volume]
    snapshots: list[Snapshot]
    backups: list[Backup]

    def summary(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "nova_max_version": self.nova_max,
            "cinder_max_version": self.cinder_max,
            "flavors": len(self.flavors),
            "servers": len(self.servers),
            "volume_types": len(self.volume_types),
            "volumes": len(self.volumes),
            "snapshots": len(self.snapshots),
            "backups": len(self.backups),
        }


def read_document(path: Path) -> Any:
    """The parsed fleet file; SimState checks that it is an object."""
    text = path.read_text()
    if path.suffix in (".yaml", ".yml"):
        import yaml  # optional: only YAML fleets need PyYAML

        return yaml.safe_load(text)
    return json.loads(text)


Resolver = Callable[[], Mapping[str, str]]  # Keystone project name -> id, fetched on demand


class Owners:
    """Resolves `project` names lazily so a fleet of raw ids never needs Keystone credentials."""

    def __init__(self, resolver: Resolver) -> None:
        self._resolver = resolver
        self._names: Mapping[str, str] | None = None

    def project_id(self, raw: Raw) -> str:
        if raw.get("project_id"):
            return str(raw.req("project_id"))
        name = str(raw.req("project"))
        if self._names is None:
            self._names = self._resolver()
        if name not in self._names:
            known = ", ".join(sorted(self._names))
            raise FleetError(f"{raw.where}: project '{name}' is not in Keystone (known: {known})")
        return self._names[name]

    @staticmethod
    def user_id(raw: Raw, project_id: str) -> str:
        # Users do not matter for cost; a stable per-project id keeps responses realistic.
        default = uuid.uuid5(uuid.NAMESPACE_URL, f"stackledger-sim-user/{project_id}").hex
        return str(raw.get("user_id", default))


def _where(kind: str, index: int, data: Any) -> str:
    name = data.get("name") if isinstance(data, dict) else None
    return f"{kind}[{index}]" + (f" ({name})" if name else "")


def entries(doc: dict[str, Any], kind: str) -> list[Raw]:
    entries = doc.get(kind) or []
    if not isinstance(entries, list):
        raise FleetError(f"'{kind}' must be a list")
    return [Raw(item, _where(kind, i, item)) for i, item in enumerate(entries)]
