"""transforms.usage.statements: the attributes each resource_metadata shape Ceilometer emits
states, built from the upstream fixtures (../shared/fixtures/openstack)."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import pytest
import yaml

from stackledger.transforms.usage.statements import ATTRIBUTES, statement
from tests.conftest import OPENSTACK_FIXTURES

NOVA = OPENSTACK_FIXTURES / "nova" / "doc" / "api_samples"
CINDER = OPENSTACK_FIXTURES / "cinder" / "api-ref" / "source" / "v3" / "samples"
CEILOMETER = OPENSTACK_FIXTURES / "ceilometer" / "ceilometer"


def load(path: Any) -> Any:
    return json.loads(path.read_text()) if path.suffix == ".json" else yaml.safe_load(path.read_text())


def stated(metadata: Any, project: Any = None, **sample: Any) -> dict[str, Any]:
    """The attributes a sample states, absent ones left out."""
    values = statement(metadata, project, **sample)
    return {
        name: value
        for name, value in zip(ATTRIBUTES, values, strict=True)
        if value is not None and not (isinstance(value, float) and math.isnan(value))
    }


def polled_metadata(server: dict[str, Any], flavor: dict[str, Any]) -> dict[str, Any]:
    """resource_metadata as ceilometer/compute/pollsters/util.py::_get_metadata_from_object builds
    it for a server (its flavor looked up by id, as the compute discovery does)."""
    return {
        "display_name": server["name"],
        "name": server.get("OS-EXT-SRV-ATTR:instance_name", ""),
        "instance_id": server["id"],
        "instance_type": flavor.get("name"),
        "host": server["hostId"],
        "flavor": flavor,
        "status": server["status"].lower(),
        "state": server.get("OS-EXT-STS:vm_state", ""),
        "image_ref": server["image"]["id"] if server.get("image") else None,
        "vcpus": flavor["vcpus"],
        "memory_mb": flavor["ram"],
        "disk_gb": flavor["disk"],
        "ephemeral_gb": flavor.get("OS-FLV-EXT-DATA:ephemeral", flavor.get("ephemeral", 0)),
    }


# ---------------------------------------------------------------- instances


def test_polled_instance_with_its_flavor_looked_up() -> None:
    server = load(NOVA / "servers" / "servers-details-resp.json")["servers"][0]
    flavors = {f["id"]: f for f in load(NOVA / "flavors" / "flavors-detail-resp.json")["flavors"]}
    flavor = {k: v for k, v in flavors[server["flavor"]["id"]].items() if k != "links"}
    found = stated(polled_metadata(server, flavor), server["tenant_id"])
    assert found == {"flavor_name": "m1.tiny", "vcpus": 1.0, "ram_mib": 512.0, "instance_id": server["id"],
                     "status": "active", "display_name": "new-server-test",
                     "project_id": server["tenant_id"]}  # fmt: skip


def test_polled_instance_with_nova_2_47_embedded_flavor() -> None:
    # From 2.47 the server embeds its flavor without id or name: only original_name, vcpus, ram.
    server = load(NOVA / "servers" / "v2.47" / "servers-details-resp.json")["servers"][0]
    metadata = {"display_name": server["name"], "flavor": server["flavor"], "status": server["status"].lower()}
    found = stated(metadata)
    assert found == {"flavor_name": "m1.tiny.specs", "vcpus": 1.0, "ram_mib": 512.0, "status": "active",
                     "display_name": "new-server-test"}  # fmt: skip


@pytest.mark.parametrize("meter", ["vcpus", "memory", "disk.root.size"])
def test_notification_instance_meters_as_meters_yaml_maps_them(meter: str) -> None:
    # meters.yaml `instance_meta`: flavor_name from $.payload.instance_type, display_name, host, …
    definition = next(m for m in load(CEILOMETER / "data" / "meters.d" / "meters.yaml")["metric"] if m["name"] == meter)
    payload = {"instance_type": "m1.large", "instance_flavor_id": "4", "display_name": "web-1", "host": "compute-2",
               "launched_at": "2026-10-01T10:00:00.000000", "created_at": "", "deleted_at": ""}  # fmt: skip
    metadata = {key: payload.get(path.rsplit(".", 1)[-1]) for key, path in definition["metadata"].items()
                if isinstance(path, str)}  # fmt: skip
    found = stated(metadata, "p1")
    assert found == {"flavor_name": "m1.large", "display_name": "web-1", "project_id": "p1"}


def test_vcpus_and_memory_samples_state_the_sizes_by_their_volume() -> None:
    # meters.yaml: vcpus' volume is $.payload.vcpus, memory's $.payload.memory_mb; their metadata has neither.
    assert stated({"flavor_name": "m1.xlarge"}, meter="vcpus", volume=8.0) == {"flavor_name": "m1.xlarge", "vcpus": 8.0}
    assert stated({"flavor_name": "m1.xlarge"}, meter="memory", volume=16384.0)["ram_mib"] == 16384.0
    # the volume wins over the metadata; a mean that is not a whole number states nothing
    assert stated({"vcpus": 2}, meter="vcpus", volume=4.0)["vcpus"] == 4.0
    assert "vcpus" not in stated({}, meter="vcpus", volume=6.5)
    assert "vcpus" not in stated({}, meter="cpu", volume=123456789.0)


def test_legacy_compute_instance_payload_fields() -> None:
    # nova/notifications/base.py: instance_type, vcpus, memory_mb, state (the vm_state)
    metadata = {"instance_type": "m1.small", "vcpus": 1, "memory_mb": 2048, "state": "active", "display_name": "db"}
    assert stated(metadata) == {"flavor_name": "m1.small", "vcpus": 1.0, "ram_mib": 2048.0, "status": "active",
                                "display_name": "db"}  # fmt: skip


# ---------------------------------------------------------------- volumes


def test_cinder_api_volume_type_by_name() -> None:
    volume = load(CINDER / "volumes" / "volume-show-response.json")["volume"]
    assert "volume_type_id" not in volume  # before 3.63 the API gives only the name
    found = stated({"volume_type": volume["volume_type"], "display_name": volume["name"]})
    assert found == {"volume_type": "__DEFAULT__"}


def test_cinder_api_volume_type_by_name_and_id() -> None:
    volume = load(CINDER / "volumes" / "v3.69" / "volume-show-response.json")["volume"]
    found = stated({"volume_type": volume["volume_type"], "volume_type_id": volume["volume_type_id"]})
    assert found == {"volume_type": "__DEFAULT__", "volume_type_id": volume["volume_type_id"]}


def test_cinder_notification_volume_type_is_the_id() -> None:
    # meters.yaml volume.size: volume_type and volume_type_id are both $.payload.volume_type, which
    # volume_utils.py fills with the type's *id*; instance_id is the first attachment's server.
    definition = next(m for m in load(CEILOMETER / "data" / "meters.d" / "meters.yaml")["metric"]
                      if m["name"] == "volume.size")  # fmt: skip
    assert definition["metadata"]["volume_type"] == definition["metadata"]["volume_type_id"] == "$.payload.volume_type"
    type_id = load(CINDER / "volume_type" / "volume-type-show-response.json")["volume_type"]["id"]
    metadata = {"display_name": "data", "volume_type": type_id, "volume_type_id": type_id, "instance_id": "srv-1"}
    assert stated(metadata) == {"volume_type_id": type_id, "instance_id": "srv-1", "display_name": "data"}


def test_a_volume_type_id_alone_is_an_id() -> None:
    type_id = load(CINDER / "volume_type" / "volume-type-show-response.json")["volume_type"]["id"]
    assert stated({"volume_type": type_id}) == {"volume_type_id": type_id}


# ---------------------------------------------------------------- Gnocchi's view of the same metadata


def alternatives(expression: str) -> list[str]:
    """`resource_metadata.(a|(b.c)|d)` → ['a', 'b.c', 'd'] (gnocchi_resources.yaml attribute paths)."""
    inner = expression.removeprefix("resource_metadata.")
    return [part.strip("()") for part in re.split(r"\|", inner.strip("()"))]


@pytest.mark.parametrize(
    ("resource_type", "attribute", "ours"),
    [
        ("instance", "flavor_name", "flavor_name"),
        ("instance", "display_name", "display_name"),
        ("volume", "display_name", "display_name"),
        ("volume", "volume_type", "volume_type"),
        ("volume", "volume_type_id", "volume_type_id"),
        ("volume", "instance_id", "instance_id"),
        ("instance_network_interface", "instance_id", "instance_id"),
    ],
)
def test_every_path_ceilometer_gives_gnocchi_is_read(resource_type: str, attribute: str, ours: str) -> None:
    resources = load(CEILOMETER / "publisher" / "data" / "gnocchi_resources.yaml")["resources"]
    expression = next(r for r in resources if r["resource_type"] == resource_type)["attributes"][attribute]
    value = "gold" if ours != "volume_type_id" else "8f3c6b9e-1a2b-4c5d-9e8f-0a1b2c3d4e5f"
    for path in alternatives(expression):
        metadata: dict[str, Any] = {}
        node = metadata
        *parents, leaf = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
        assert stated(metadata).get(ours) == value, path


# ---------------------------------------------------------------- other resources and odd values


def test_floating_ip_status_is_lower_cased() -> None:
    assert stated({"status": "ACTIVE", "floating_ip_address": "203.0.113.7"}) == {"status": "active"}


def test_image_name_is_its_display_name() -> None:
    assert stated({"name": "ubuntu-24.04", "status": "active", "size": 123}) == {"display_name": "ubuntu-24.04",
                                                                                   "status": "active"}  # fmt: skip


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        ({"vcpus": "2", "memory_mb": "4096"}, {"vcpus": 2.0, "ram_mib": 4096.0}),  # numbers written as text
        ({"vcpus": True, "memory_mb": "lots"}, {}),  # a bool or words state nothing
        ({"vcpus": None, "flavor": {"vcpus": 4}}, {"vcpus": 4.0}),  # null: the next key
        ({"flavor_name": "", "instance_type": "m1.small"}, {"flavor_name": "m1.small"}),  # "": the next key
        ({"flavor_name": 42}, {"flavor_name": "42"}),  # a flavor named by a number
        ({"flavor_name": {"name": "x"}}, {}),  # an object is no name
        ({"flavor": "m1.small"}, {}),  # a flavor that is not a dict holds no sizes
    ],
)
def test_odd_values(metadata: dict[str, Any], expected: dict[str, Any]) -> None:
    assert stated(metadata) == expected


@pytest.mark.parametrize("metadata", [None, [], "text", 7])
def test_metadata_that_is_not_an_object_states_nothing(metadata: Any) -> None:
    assert stated(metadata) == {}
    assert stated(metadata, "p9") == {"project_id": "p9"}
