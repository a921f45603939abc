"""What one sample line holds: the meters, Ceilometer's metadata of each resource, and the
pre-encoded pieces of a line around its volume, timestamp and message id."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any, Final

import msgspec

from benchmarks.e2e.fleet import Flavor, Instance, Volume

INSTANCE_METERS: Final = (
    ("vcpus", "gauge", "vcpu"),
    ("memory", "gauge", "MiB"),
    ("disk.root.size", "gauge", "GiB"),
    ("cpu", "cumulative", "ns"),
)
VNIC_METERS: Final = (("network.incoming.bytes", "cumulative", "B"), ("network.outgoing.bytes", "cumulative", "B"))
VOLUME_METER: Final = ("volume.size", "gauge", "GiB")
_encode = msgspec.json.encode


def template(meter: tuple[str, str, str], user: str, project: str, resource: str, meta: dict) -> tuple[str, str, str]:
    """(text before the volume, text between volume and timestamp, text between timestamp and message id)."""
    name, kind, unit = meter
    head = (f'{{"source":"openstack","counter_name":"{name}","counter_type":"{kind}",'
            f'"counter_unit":"{unit}","counter_volume":')  # fmt: skip
    ids = (f',"user_id":{_encode(user).decode()},"user_name":null,"project_id":{_encode(project).decode()},'
           f'"project_name":null,"resource_id":{_encode(resource).decode()},"timestamp":"')  # fmt: skip
    return head, ids, f'","resource_metadata":{_encode(meta).decode()},"message_id":"'


def instance_metadata(i: Instance, flavor: Flavor) -> dict[str, Any]:
    """compute/pollsters/util.py::_get_metadata_from_object for a running server."""
    return {
        "display_name": i.display_name,
        "name": i.domain,
        "instance_id": i.instance_id,
        "instance_type": flavor.name,
        "host": hashlib.sha224((i.project.project_id + i.agent.name).encode()).hexdigest(),  # Nova's hostId
        "instance_host": i.agent.name,
        "flavor": {
            "id": flavor.flavor_id,
            "name": flavor.name,
            "vcpus": flavor.vcpus,
            "ram": flavor.ram_mib,
            "disk": flavor.disk_gib,
            "ephemeral": 0,
            "swap": 0,
        },
        "status": "active",
        "state": "active",
        "task_state": None,
        "image": {"id": i.image_id},
        "image_ref": i.image_id,
        "image_ref_url": None,
        "architecture": "x86_64",
        "OS-EXT-AZ:availability_zone": "nova",
        "kernel_id": None,
        "os_type": "linux",
        "ramdisk_id": None,
        "vcpus": flavor.vcpus,
        "memory_mb": flavor.ram_mib,
        "disk_gb": flavor.disk_gib,
        "ephemeral_gb": 0,
        "root_gb": flavor.disk_gib,
    }


def vnic_metadata(i: Instance, instance: dict[str, Any]) -> dict[str, Any]:
    """The network pollsters' metadata: the instance's, and the interface's own fields over it."""
    interface = {"name": i.vnic_name, "mac": i.mac, "fref": None, "parameters": {"interfaceid": i.port_id}}
    return {**instance, **interface, "vnic_name": i.vnic_name, "instance_id": i.instance_id}


def volume_metadata(v: Volume, volume_type: str) -> dict[str, Any]:
    """volume/cinder.py::VolumeSizePollster.FIELDS of the Cinder API's volume, and its display name."""
    attachments = []
    if v.attached_to:
        attachment = str(uuid.uuid5(uuid.NAMESPACE_OID, v.volume_id))
        attachments.append(
            {"server_id": v.attached_to, "attachment_id": attachment, "volume_id": v.volume_id, "device": "/dev/vdb"}
        )
    return {
        "name": v.display_name,
        "display_name": v.display_name,
        "status": "in-use" if attachments else "available",
        "volume_type": volume_type,
        "os-vol-host-attr:host": f"cinder-volume@{volume_type}#{volume_type}",
        "migration_status": None,
        "attachments": attachments,
        "snapshot_id": None,
        "source_volid": None,
    }
