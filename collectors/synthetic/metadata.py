"""The `resource_metadata` of the synthetic cloud's samples, as each Ceilometer source builds it:
the compute pollsters' (instances, their vNICs), Nova's and Cinder's notifications, Glance's
images and Neutron's floating IPs. Every dict carries `"synthetic": true`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any, Final

from stackledger.collectors.synthetic.cloud import Resource, SyntheticCloud

FIP_ACTIVE: Final = 1  # ip.floating's status codes, as Ceilometer's floating IP pollster reports them
FIP_DOWN: Final = 3


class MetadataCache:
    """resource_metadata dicts, built once per resource and revision (they are large)."""

    def __init__(self, cloud: SyntheticCloud) -> None:
        self.cloud = cloud
        self.cache: dict[tuple[str, ...], dict[str, Any]] = {}

    def _get(self, key: tuple[str, ...], build: Any) -> dict[str, Any]:
        found = self.cache.get(key)
        if found is None:
            found = self.cache[key] = build()
        return found

    def polled(self, r: Resource, at: dt.datetime) -> dict[str, Any]:
        """compute/pollsters/util.py::_get_metadata_from_object for a running server."""
        revision = r.revision_at(at)
        return self._get(("polled", r.resource_id, str(revision.valid_from)), lambda: self._polled(r, at))

    def _polled(self, r: Resource, at: dt.datetime) -> dict[str, Any]:
        flavor = r.revision_at(at).flavor
        assert flavor is not None
        return {
            "display_name": r.name,
            "name": r.instance_name,
            "instance_id": r.resource_id,
            "instance_type": flavor.name,
            "host": hashlib.sha224((r.project.project_id + (r.host or "")).encode()).hexdigest(),
            "instance_host": r.host,
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
            "image": {"id": r.image_id},
            "image_ref": r.image_id,
            "image_ref_url": None,
            "architecture": "x86_64",
            "OS-EXT-AZ:availability_zone": "nova",
            "kernel_id": None,
            "os_type": "linux",
            "ramdisk_id": None,
            "vcpus": flavor.vcpus,
            "memory_mb": flavor.ram_mib,
            "disk_gb": flavor.disk_gib,
            "root_gb": flavor.disk_gib,
            "ephemeral_gb": 0,
            "user_metadata": {"synthetic": "true"},  # server metadata metering.synthetic=true
            "synthetic": True,
        }

    def vnic(self, r: Resource, at: dt.datetime) -> dict[str, Any]:
        revision = r.revision_at(at)
        return self._get(("vnic", r.resource_id, str(revision.valid_from)), lambda: self._vnic(r, at))

    def _vnic(self, r: Resource, at: dt.datetime) -> dict[str, Any]:
        tap = f"tap{(r.port_id or '')[:11]}"
        return {
            **self.polled(r, at),
            "instance_id": r.resource_id,
            "vnic_name": tap,
            "mac": r.mac,
            "fref": None,
            "parameters": {"ip": r.fixed_address, "projnet": None, "dhcpserver": None},
        }

    def notified_instance(self, r: Resource, at: dt.datetime, event: str) -> dict[str, Any]:
        """meters.yaml `instance_meta` plus what Sample.from_notification adds (event_type, host)."""
        revision = r.revision_at(at)
        key = ("nova", r.resource_id, str(revision.valid_from), event)
        return self._get(key, lambda: self._notified_instance(r, at, event))

    def _notified_instance(self, r: Resource, at: dt.datetime, event: str) -> dict[str, Any]:
        flavor = r.revision_at(at).flavor
        assert flavor is not None
        deleted = r.ended_at is not None and event == "compute.instance.delete.end"
        return {
            "host": f"compute.{r.host}",
            "flavor_id": flavor.flavor_id,
            "flavor_name": flavor.name,
            "display_name": r.name,
            "image_ref": r.image_id,
            "image_meta": {"base_image_ref": r.image_id, "os_type": "linux"},
            "launched_at": r.started_at.strftime("%Y-%m-%dT%H:%M:%S.%f"),
            "created_at": f"{r.started_at - dt.timedelta(seconds=41)}+00:00",
            "deleted_at": f"{r.ended_at}+00:00" if deleted else "",
            "user_metadata": {"synthetic": "true"},
            "event_type": event,
            "synthetic": True,
        }

    def storage(self, r: Resource, at: dt.datetime, event: str) -> dict[str, Any]:
        revision = r.revision_at(at)
        key = ("cinder", r.resource_id, str(revision.valid_from), event)
        return self._get(key, lambda: self._storage(r, event))

    def polled_volume(self, r: Resource, at: dt.datetime) -> dict[str, Any]:
        """ceilometer/volume/cinder.py VolumeSizePollster's FIELDS, read from the Cinder API's
        volume (3.63+): the type by name and by id."""
        revision = r.revision_at(at)
        return self._get(("cinder-poll", r.resource_id, str(revision.valid_from)), lambda: self._polled_volume(r))

    def _polled_volume(self, r: Resource) -> dict[str, Any]:
        attached = [{"server_id": r.parent_id, "attachment_id": None, "device": "/dev/vdb"}] if r.parent_id else []
        return {
            "name": r.name,
            "status": "in-use" if attached else "available",
            "volume_type": r.volume_type.name if r.volume_type else None,
            "volume_type_id": r.volume_type.type_id if r.volume_type else None,
            "os-vol-host-attr:host": f"volume.{r.host}@ceph#ceph",
            "migration_status": None,
            "attachments": attached,
            "snapshot_id": None,
            "source_volid": None,
            "synthetic": True,
        }

    def _storage(self, r: Resource, event: str) -> dict[str, Any]:
        meta: dict[str, Any] = {"display_name": r.name}
        if r.resource_type == "volume":
            type_id = r.volume_type.type_id if r.volume_type else None
            # Cinder's notification payload carries the type *id* under volume_type (volume_utils.py).
            meta.update(volume_type=type_id, volume_type_id=type_id, image_id=None, instance_id=r.parent_id)
        meta.update(event_type=event, host=f"volume.{r.host}", synthetic=True)
        return meta

    def image(self, r: Resource) -> dict[str, Any]:
        return self._get(("glance", r.resource_id), lambda: self._image(r))

    def _image(self, r: Resource) -> dict[str, Any]:
        checksum = hashlib.md5(r.resource_id.encode(), usedforsecurity=False).hexdigest()
        return {
            "name": r.name,
            "status": "active",
            "visibility": "private",
            "owner": r.project.project_id,
            "container_format": "bare",
            "disk_format": "qcow2",
            "size": r.size_bytes,
            "min_disk": 0,
            "min_ram": 0,
            "protected": False,
            "checksum": checksum,
            "created_at": r.started_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "updated_at": r.started_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "synthetic": True,
        }

    def floating_ip(self, r: Resource, status: int) -> dict[str, Any]:
        return self._get(("fip", r.resource_id, str(status)), lambda: self._floating_ip(r, status))

    def _floating_ip(self, r: Resource, status: int) -> dict[str, Any]:
        return {
            "id": r.resource_id,
            "floating_ip_address": r.address,
            "fixed_ip_address": r.fixed_address,
            "floating_network_id": "public",
            "router_id": None,
            "port_id": r.port_id,
            "status": "ACTIVE" if status == FIP_ACTIVE else "DOWN",
            "tenant_id": r.project.project_id,
            "project_id": r.project.project_id,
            "description": "",
            "tags": [],
            "synthetic": True,
        }


__all__ = ["FIP_ACTIVE", "FIP_DOWN", "MetadataCache"]
