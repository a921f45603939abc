"""Builds a validated Fleet from a fleet document (see fleet.py for the model)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from .fleet import (
    DEFAULT_CINDER_MAX,
    DEFAULT_NOVA_MAX,
    VM_STATES,
    Backup,
    Flavor,
    Fleet,
    FleetError,
    Owners,
    Raw,
    Resize,
    Resolver,
    Server,
    Snapshot,
    Volume,
    VolumeType,
    entries,
)

BOOT_SECONDS = 14  # created -> launched_at when a fleet gives no launched_at, like a quick boot
_OWNER = "project project_id user_id "
# Every key a fleet may use, so a typo ("terminated" for "terminated_at") fails instead of quietly
# describing another cloud. Keys starting with "_" are comments.
KEYS: dict[str, frozenset[str]] = {
    kind: frozenset(names.split())
    for kind, names in {
        "": "api flavors servers volume_types volumes snapshots backups",
        "api": "nova_max_version cinder_max_version",
        "flavors": "id name vcpus ram disk ephemeral swap is_public description extra_specs deleted",
        "servers": _OWNER + "id name flavor created launched_at terminated_at vm_state host availability_zone "
        "image_id metadata tags resizes key_name description",
        "resizes": "at flavor",
        "volume_types": "id name description extra_specs is_public",
        "volumes": _OWNER + "id name size volume_type created_at updated_at deleted_at status bootable "
        "attached_to attached_at device availability_zone host description metadata",
        "snapshots": _OWNER + "id name volume_id size created_at deleted_at status description metadata",
        "backups": _OWNER + "id name volume_id snapshot_id size created_at deleted_at status is_incremental "
        "object_count container availability_zone description",
    }.items()
}


def _check_keys(data: dict[str, Any], kind: str, where: str) -> None:
    unknown = sorted(k for k in data if k not in KEYS[kind] and not k.startswith("_"))
    if unknown:
        raise FleetError(f"{where}: unknown keys {unknown} (known: {sorted(KEYS[kind])})")


def build_fleet(doc: dict[str, Any], resolver: Resolver, source: str) -> Fleet:
    _check_keys(doc, "", "fleet")
    for kind in KEYS[""] - {"api"}:
        for raw in entries(doc, kind):
            _check_keys(raw.data, kind, raw.where)
    owners = Owners(resolver)
    api = Raw(doc.get("api") or {}, "api")
    _check_keys(api.data, "api", "api")
    flavor_list = [_flavor(raw) for raw in entries(doc, "flavors")]
    type_list = [_volume_type(raw) for raw in entries(doc, "volume_types")]
    _check_unique("flavors", [f.id for f in flavor_list])
    _check_unique("volume_types", [t.id for t in type_list] + [t.name for t in type_list])
    flavors = {f.id: f for f in flavor_list}
    types = {t.name: t for t in type_list}
    servers = [_server(raw, owners, flavors) for raw in entries(doc, "servers")]
    server_ids = {s.id for s in servers}
    volumes = [_volume(raw, owners, types, server_ids) for raw in entries(doc, "volumes")]
    sizes = {v.id: v.size for v in volumes}
    fleet = Fleet(
        source=source,
        nova_max=str(api.get("nova_max_version", DEFAULT_NOVA_MAX)),
        cinder_max=str(api.get("cinder_max_version", DEFAULT_CINDER_MAX)),
        flavors=flavors,
        servers=servers,
        volume_types=types,
        volumes=volumes,
        snapshots=[_snapshot(raw, owners, sizes) for raw in entries(doc, "snapshots")],
        backups=[_backup(raw, owners, sizes) for raw in entries(doc, "backups")],
    )
    for kind, ids in (
        ("servers", [s.id for s in fleet.servers]),
        ("volumes", [v.id for v in fleet.volumes]),
        ("snapshots", [s.id for s in fleet.snapshots]),
        ("backups", [b.id for b in fleet.backups]),
    ):
        _check_unique(kind, ids)
    return fleet


def _flavor(raw: Raw) -> Flavor:
    return Flavor(
        id=str(raw.req("id")),
        name=str(raw.req("name")),
        vcpus=int(raw.req("vcpus")),
        ram=int(raw.req("ram")),
        disk=int(raw.req("disk")),
        ephemeral=int(raw.get("ephemeral", 0)),
        swap=int(raw.get("swap", 0)),
        is_public=bool(raw.get("is_public", True)),
        description=raw.get("description"),
        extra_specs=dict(raw.get("extra_specs", {})),
        deleted=bool(raw.get("deleted", False)),
    )


def _flavor_ref(raw: Raw, value: Any, flavors: dict[str, Flavor]) -> str:
    # Accept a flavor id or a unique name, so fleet files read naturally ("flavor": "m1.small").
    if str(value) in flavors:
        return str(value)
    matches = [f.id for f in flavors.values() if f.name == value]
    if len(matches) != 1:
        raise FleetError(f"{raw.where}: flavor {value!r} matches {len(matches)} fleet flavors")
    return matches[0]


def _resizes(raw: Raw, flavors: dict[str, Flavor], created: datetime) -> tuple[Resize, ...]:
    out: list[Resize] = []
    for i, item in enumerate(raw.get("resizes", [])):
        step = Raw(item, f"{raw.where}.resizes[{i}]")
        _check_keys(step.data, "resizes", step.where)
        at = step.time("at") or _missing(step, "at")
        if at <= (out[-1].at if out else created):
            raise FleetError(f"{step.where}: resizes must be in time order after 'created'")
        out.append(Resize(at=at, flavor_id=_flavor_ref(step, step.req("flavor"), flavors)))
    return tuple(out)


def _server(raw: Raw, owners: Owners, flavors: dict[str, Flavor]) -> Server:
    created = raw.time("created") or _missing(raw, "created")
    state = str(raw.get("vm_state", "active"))
    launched = None if state == "error" else raw.time("launched_at", created + timedelta(seconds=BOOT_SECONDS))
    terminated = raw.time("terminated_at")
    if state not in VM_STATES or state == "deleted":
        raise FleetError(
            f"{raw.where}: vm_state must be one of {sorted(set(VM_STATES) - {'deleted'})} (deletion is terminated_at)"
        )
    if terminated and terminated < (launched or created):
        raise FleetError(f"{raw.where}: terminated_at is before launched_at")
    project_id = owners.project_id(raw)
    resizes = _resizes(raw, flavors, created)
    if terminated and resizes and resizes[-1].at > terminated:
        raise FleetError(f"{raw.where}: a resize happens after terminated_at")
    return Server(
        id=str(raw.req("id")),
        name=str(raw.req("name")),
        project_id=project_id,
        user_id=owners.user_id(raw, project_id),
        flavor_id=_flavor_ref(raw, raw.req("flavor"), flavors),
        created=created,
        launched_at=launched,
        terminated_at=terminated,
        vm_state=state,
        host=str(raw.get("host", "compute-1")),
        availability_zone=str(raw.get("availability_zone", "nova")),
        image_id=raw.get("image_id", "70a599e0-31e7-49b7-b260-868f441e862b"),
        metadata=dict(raw.get("metadata", {})),
        tags=list(raw.get("tags", [])),
        resizes=resizes,
        key_name=raw.get("key_name"),
        description=raw.get("description"),
    )


def _volume_type(raw: Raw) -> VolumeType:
    return VolumeType(
        id=str(raw.req("id")),
        name=str(raw.req("name")),
        description=raw.get("description"),
        extra_specs=dict(raw.get("extra_specs", {})),
        is_public=bool(raw.get("is_public", True)),
    )


def _volume(raw: Raw, owners: Owners, types: dict[str, VolumeType], servers: set[str]) -> Volume:
    vtype = str(raw.get("volume_type", "__DEFAULT__"))
    if vtype not in types:
        raise FleetError(f"{raw.where}: volume_type '{vtype}' is not in volume_types")
    attached_to = raw.get("attached_to")
    if attached_to is not None and attached_to not in servers:
        raise FleetError(f"{raw.where}: attached_to '{attached_to}' is not a fleet server")
    created = raw.time("created_at") or _missing(raw, "created_at")
    project_id = owners.project_id(raw)
    return Volume(
        id=str(raw.req("id")),
        name=str(raw.get("name", "")),
        project_id=project_id,
        user_id=owners.user_id(raw, project_id),
        size=int(raw.req("size")),
        volume_type=vtype,
        created_at=created,
        updated_at=raw.time("updated_at") or created,
        deleted_at=raw.time("deleted_at"),
        status=str(raw.get("status", "in-use" if attached_to else "available")),
        bootable=bool(raw.get("bootable", False)),
        attached_to=attached_to,
        attached_at=raw.time("attached_at", created) if attached_to else None,
        device=str(raw.get("device", "/dev/vdb")),
        availability_zone=str(raw.get("availability_zone", "nova")),
        host=str(raw.get("host", "storage-1@lvm#lvm")),
        description=raw.get("description"),
        metadata=dict(raw.get("metadata", {})),
    )


def _parent_size(raw: Raw, sizes: dict[str, int]) -> tuple[str, int]:
    volume_id = str(raw.req("volume_id"))
    if volume_id not in sizes:
        raise FleetError(f"{raw.where}: volume_id '{volume_id}' is not a fleet volume")
    return volume_id, int(raw.get("size", sizes[volume_id]))


def _snapshot(raw: Raw, owners: Owners, sizes: dict[str, int]) -> Snapshot:
    volume_id, size = _parent_size(raw, sizes)
    project_id = owners.project_id(raw)
    return Snapshot(
        id=str(raw.req("id")),
        name=str(raw.get("name", "")),
        project_id=project_id,
        user_id=owners.user_id(raw, project_id),
        volume_id=volume_id,
        size=size,
        created_at=raw.time("created_at") or _missing(raw, "created_at"),
        deleted_at=raw.time("deleted_at"),
        status=str(raw.get("status", "available")),
        description=raw.get("description"),
        metadata=dict(raw.get("metadata", {})),
    )


def _backup(raw: Raw, owners: Owners, sizes: dict[str, int]) -> Backup:
    volume_id, size = _parent_size(raw, sizes)
    project_id = owners.project_id(raw)
    return Backup(
        id=str(raw.req("id")),
        name=str(raw.get("name", "")),
        project_id=project_id,
        user_id=owners.user_id(raw, project_id),
        volume_id=volume_id,
        snapshot_id=raw.get("snapshot_id"),
        size=size,
        created_at=raw.time("created_at") or _missing(raw, "created_at"),
        deleted_at=raw.time("deleted_at"),
        status=str(raw.get("status", "available")),
        is_incremental=bool(raw.get("is_incremental", False)),
        object_count=int(raw.get("object_count", 0)),
        container=raw.get("container"),
        availability_zone=raw.get("availability_zone"),
        description=raw.get("description"),
    )


def _missing(raw: Raw, key: str) -> datetime:
    raise FleetError(f"{raw.where}: missing '{key}'")


def _check_unique(kind: str, ids: list[str]) -> None:
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise FleetError(f"{kind}: duplicate ids or names {dupes}")
