"""Nova JSON views, field by field after doc/api_samples/servers and flavors per microversion."""

from __future__ import annotations

import hashlib
from typing import Any

from .app import Call
from .fleet import VM_STATES, Flavor, Server
from .timeutil import iso_z, naive_us


def server_summary(call: Call, server: Server) -> dict[str, Any]:
    return {"id": server.id, "name": server.name, "links": _links(call, "servers", server.id)}


def server_detail(call: Call, server: Server, index: int) -> dict[str, Any]:
    """`index` is the server's position in the fleet, standing in for Nova's integer id."""
    state = "deleted" if server.deleted else server.vm_state
    status, power_state = VM_STATES[state]
    body: dict[str, Any] = {
        "id": server.id,
        "name": server.name,
        "status": status,
        "tenant_id": server.project_id,
        "user_id": server.user_id,
        "metadata": server.metadata,
        "hostId": hashlib.sha224((server.project_id + server.host).encode()).hexdigest(),
        "image": _image(call, server),
        "flavor": _flavor(call, server),
        "created": iso_z(server.created),
        "updated": iso_z(server.updated),
        "addresses": {} if server.deleted else _addresses(server),
        "accessIPv4": "",
        "accessIPv6": "",
        "links": _links(call, "servers", server.id),
        "OS-DCF:diskConfig": "MANUAL",
        "progress": 0,
        "config_drive": "",
        "OS-EXT-AZ:availability_zone": server.availability_zone,
        "key_name": server.key_name,
        "OS-SRV-USG:launched_at": naive_us(server.api_launched_at),
        "OS-SRV-USG:terminated_at": naive_us(server.terminated_at),
        "OS-EXT-STS:task_state": None,
        "OS-EXT-STS:vm_state": state,
        "OS-EXT-STS:power_state": power_state,
        "os-extended-volumes:volumes_attached": _volumes(call, server),
        "security_groups": [{"name": "default"}],
    }
    body.update(_host_attrs(call, server, index))
    body.update(_versioned(call, server))
    return body


def _versioned(call: Call, server: Server) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    for version, key, value in (
        ("2.9", "locked", False),
        ("2.19", "description", server.description),
        ("2.26", "tags", server.tags),
        ("2.63", "trusted_image_certificates", None),
        ("2.73", "locked_reason", None),
        ("2.96", "pinned_availability_zone", None),
        ("2.100", "scheduler_hints", {}),
    ):
        if call.at_least(version):
            extra[key] = value
    if call.at_least("2.16") and call.token.is_admin:
        extra["host_status"] = "" if server.deleted else "UP"
    return extra


def _host_attrs(call: Call, server: Server, index: int) -> dict[str, Any]:
    # OS-EXT-SRV-ATTR is admin-only; from 2.90 everyone sees the hostname (v2.100 sample).
    attrs: dict[str, Any] = {}
    if call.token.is_admin:
        attrs = {
            "OS-EXT-SRV-ATTR:host": server.host,
            "OS-EXT-SRV-ATTR:hypervisor_hostname": server.host,
            "OS-EXT-SRV-ATTR:instance_name": f"instance-{index + 1:08x}",
        }
        if call.at_least("2.3"):
            attrs.update(
                {
                    "OS-EXT-SRV-ATTR:reservation_id": "r-" + server.id[:8],
                    "OS-EXT-SRV-ATTR:launch_index": 0,
                    "OS-EXT-SRV-ATTR:kernel_id": "",
                    "OS-EXT-SRV-ATTR:ramdisk_id": "",
                    "OS-EXT-SRV-ATTR:root_device_name": "/dev/vda",
                    "OS-EXT-SRV-ATTR:user_data": None,
                }
            )
    if (call.token.is_admin and call.at_least("2.3")) or call.at_least("2.90"):
        attrs["OS-EXT-SRV-ATTR:hostname"] = server.name.lower().replace("_", "-")
    return attrs


def _flavor(call: Call, server: Server) -> dict[str, Any]:
    flavor = call.fleet.flavors[server.current_flavor_id]
    if not call.at_least("2.47"):
        return {"id": flavor.id, "links": [{"href": call.bookmark("flavors", flavor.id), "rel": "bookmark"}]}
    # 2.47+: a copy of the flavor as booted/resized, no id -- match on original_name.
    return {
        "vcpus": flavor.vcpus,
        "ram": flavor.ram,
        "disk": flavor.disk,
        "ephemeral": flavor.ephemeral,
        "swap": flavor.swap,
        "original_name": flavor.name,
        "extra_specs": flavor.extra_specs,
    }


def _image(call: Call, server: Server) -> dict[str, Any] | str:
    if not server.image_id:
        return ""  # booted from volume
    image: dict[str, Any] = {
        "id": server.image_id,
        "links": [{"href": call.bookmark("images", server.image_id), "rel": "bookmark"}],
    }
    if call.at_least("2.98"):
        image["properties"] = {}
    return image


def _volumes(call: Call, server: Server) -> list[dict[str, Any]]:
    attached = [v.id for v in call.fleet.volumes if v.attached_to == server.id and not v.deleted_at]
    if call.at_least("2.3"):
        return [{"id": vid, "delete_on_termination": False} for vid in attached]
    return [{"id": vid} for vid in attached]


def _addresses(server: Server) -> dict[str, Any]:
    digest = hashlib.sha1(server.id.encode()).digest()  # noqa: S324 - a stable fake, not security
    mac = "fa:16:3e:" + ":".join(f"{b:02x}" for b in digest[:3])
    return {
        "private": [
            {
                "addr": f"10.0.{digest[3]}.{digest[4] or 1}",
                "version": 4,
                "OS-EXT-IPS:type": "fixed",
                "OS-EXT-IPS-MAC:mac_addr": mac,
            }
        ]
    }


def _links(call: Call, collection: str, ident: str) -> list[dict[str, str]]:
    return [
        {"href": call.link(collection, ident), "rel": "self"},
        {"href": call.bookmark(collection, ident), "rel": "bookmark"},
    ]


def flavor_summary(call: Call, flavor: Flavor) -> dict[str, Any]:
    body: dict[str, Any] = {"id": flavor.id, "name": flavor.name, "links": _links(call, "flavors", flavor.id)}
    if call.at_least("2.55"):
        body["description"] = flavor.description
    return body


def flavor_detail(call: Call, flavor: Flavor) -> dict[str, Any]:
    body = flavor_summary(call, flavor) | {
        "vcpus": flavor.vcpus,
        "ram": flavor.ram,
        "disk": flavor.disk,
        "OS-FLV-EXT-DATA:ephemeral": flavor.ephemeral,
        "os-flavor-access:is_public": flavor.is_public,
        # swap 0 is "" before 2.75 (flavors-detail-resp.json), an int from then on
        "swap": flavor.swap if flavor.swap or call.at_least("2.75") else "",
    }
    if not call.at_least("2.102"):  # 2.102 drops the legacy fields (v2.102 sample)
        body.update({"OS-FLV-DISABLED:disabled": False, "rxtx_factor": 1.0})
    if call.at_least("2.61"):
        body["extra_specs"] = flavor.extra_specs
    return body
