"""Cinder JSON views after api-ref/source/v3/samples (volumes, snapshots, backups, types)."""

from __future__ import annotations

from typing import Any

from .app import Call
from .fleet import Backup, Snapshot, Volume, VolumeType
from .timeutil import naive_us


def _links(call: Call, collection: str, ident: str) -> list[dict[str, str]]:
    return [
        {"href": call.link(collection, ident), "rel": "self"},
        {"href": call.bookmark(collection, ident), "rel": "bookmark"},
    ]


def _since(call: Call, fields: list[tuple[str, str, Any]]) -> dict[str, Any]:
    """The (min microversion, key, value) fields this request's version shows."""
    return {key: value for version, key, value in fields if call.at_least(version)}


def volume_summary(call: Call, volume: Volume) -> dict[str, Any]:
    return {"id": volume.id, "name": volume.name, "links": _links(call, "volumes", volume.id)}


def volume_detail(call: Call, volume: Volume) -> dict[str, Any]:
    admin = call.token.is_admin
    body: dict[str, Any] = volume_summary(call, volume) | {
        "attachments": _attachments(volume),
        "availability_zone": volume.availability_zone,
        "bootable": "true" if volume.bootable else "false",
        "consistencygroup_id": None,
        "created_at": naive_us(volume.created_at),
        "description": volume.description,
        "encrypted": False,
        "metadata": volume.metadata,
        "migration_status": None,
        "multiattach": False,
        "os-vol-tenant-attr:tenant_id": volume.project_id,
        "replication_status": None,
        "size": volume.size,
        "snapshot_id": None,
        "source_volid": None,
        "status": volume.status,
        "updated_at": naive_us(volume.updated_at),
        "user_id": volume.user_id,
        "volume_type": volume.volume_type,  # the type NAME
    }
    if admin:  # host and migration attributes are admin-only extensions
        body.update(
            {
                "os-vol-host-attr:host": volume.host,
                "os-vol-mig-status-attr:migstat": None,
                "os-vol-mig-status-attr:name_id": None,
            }
        )
    body.update(
        _since(
            call,
            [
                ("3.13", "group_id", None),
                ("3.48", "shared_targets", False),
                ("3.63", "volume_type_id", call.fleet.volume_types[volume.volume_type].id),
                ("3.65", "consumes_quota", True),
            ],
        )
    )
    if admin:
        body.update(
            _since(
                call, [("3.21", "provider_id", None), ("3.48", "service_uuid", None), ("3.61", "cluster_name", None)]
            )
        )
    return body


def _attachments(volume: Volume) -> list[dict[str, Any]]:
    if not volume.attached_to:
        return []
    return [
        {
            "server_id": volume.attached_to,
            "attachment_id": volume.id[::-1],
            "attached_at": naive_us(volume.attached_at),
            "host_name": None,
            "volume_id": volume.id,
            "device": volume.device,
            "id": volume.id,
        }
    ]


def snapshot_summary(call: Call, snap: Snapshot) -> dict[str, Any]:
    return {
        "id": snap.id,
        "name": snap.name,
        "description": snap.description,
        "created_at": naive_us(snap.created_at),
        "updated_at": naive_us(snap.created_at),
        "metadata": snap.metadata,
        "size": snap.size,
        "status": snap.status,
        "volume_id": snap.volume_id,
    } | _since(
        call, [("3.14", "group_snapshot_id", None), ("3.41", "user_id", snap.user_id), ("3.65", "consumes_quota", True)]
    )


def snapshot_detail(call: Call, snap: Snapshot) -> dict[str, Any]:
    return snapshot_summary(call, snap) | {
        "os-extended-snapshot-attributes:progress": "100%",
        "os-extended-snapshot-attributes:project_id": snap.project_id,
    }


def backup_summary(call: Call, backup: Backup) -> dict[str, Any]:
    return {"id": backup.id, "name": backup.name, "links": _links(call, "backups", backup.id)}


def backup_detail(call: Call, backup: Backup) -> dict[str, Any]:
    created = naive_us(backup.created_at)
    return (
        backup_summary(call, backup)
        | {
            "availability_zone": backup.availability_zone,
            "container": backup.container,
            "created_at": created,
            "data_timestamp": created,
            "description": backup.description,
            "fail_reason": None,
            "has_dependent_backups": False,
            "is_incremental": backup.is_incremental,
            "object_count": backup.object_count,
            "size": backup.size,
            "snapshot_id": backup.snapshot_id,
            "status": backup.status,
            "updated_at": created,
            "volume_id": backup.volume_id,
        }
        | _since(
            call,
            [
                # the owner shows up only from 3.18 -- older microversions cannot attribute a backup
                ("3.18", "os-backup-project-attr:project_id", backup.project_id),
                ("3.43", "metadata", {}),
                ("3.56", "user_id", backup.user_id),
                ("3.64", "encryption_key_id", None),
            ],
        )
    )


def volume_type(call: Call, vtype: VolumeType) -> dict[str, Any]:
    return {
        "id": vtype.id,
        "name": vtype.name,
        "description": vtype.description,
        "extra_specs": vtype.extra_specs,
        "is_public": vtype.is_public,
        "os-volume-type-access:is_public": vtype.is_public,
        "qos_specs_id": None,
    }
