"""Give a fresh Gnocchi the resource types and archive policies a Ceilometer deployment has.

Run by ops/gnocchi.sh on every start; every step checks before it writes, so re-runs are no-ops.

Resource types reproduce ceilometer 27.0.0 ``ceilometer/gnocchi_client.py``
(``resources_initial`` then ``resources_update_operations``, applied the way its
``upgrade_resource_types`` does: create what is missing, then replay each update as a JSON
Patch unless its first operation is already in place). Archive policies are the ones in
Ceilometer's ``publisher/data/gnocchi_resources.yaml``, which its publisher creates on first
use. They are copied here rather than read from ../shared, so CI needs nothing but PyPI.

On top of that, StackLedger's own ``stackledger-hourly`` policy and a catch-all ``*`` rule
pointing at it: Ceilometer's policies keep only 300 s points for 30 days, and hourly rating needs
3600 s points kept for more than one 90-day lookback.

Usage: bootstrap_types.py URL USER   (HTTP Basic; Gnocchi ignores the password)
"""

from __future__ import annotations

import sys
import time
from typing import Any

import requests

_STR = {"type": "string", "min_length": 0, "max_length": 255}


def _s(required: bool) -> dict[str, Any]:
    return {**_STR, "required": required}


# ceilometer/gnocchi_client.py: resources_initial (upstream notes this list never changes).
RESOURCES_INITIAL: dict[str, dict[str, Any]] = {
    "image": {"name": _s(True), "container_format": _s(True), "disk_format": _s(True)},
    "instance": {
        "flavor_id": _s(True),
        "image_ref": _s(False),
        "host": _s(True),
        "display_name": _s(True),
        "server_group": _s(False),
    },
    "instance_disk": {"name": _s(True), "instance_id": {"type": "uuid", "required": True}},
    "instance_network_interface": {
        "name": _s(True),
        "instance_id": {"type": "uuid", "required": True},
    },
    "volume": {"display_name": _s(False)},
    "swift_account": {},
    "ceph_account": {},
    "network": {},
    "identity": {},
    "ipmi": {},
    "stack": {},
    "host": {"host_name": _s(True)},
    "host_network_interface": {"host_name": _s(True), "device_name": _s(False)},
    "host_disk": {"host_name": _s(True), "device_name": _s(False)},
}


def _add(attr: str, value: dict[str, Any]) -> dict[str, Any]:
    return {"op": "add", "path": f"/attributes/{attr}", "value": value}


def _update(resource_type: str, *ops: dict[str, Any]) -> tuple[str, str, Any]:
    return ("update_attribute_type", resource_type, list(ops))


def _create(resource_type: str, attributes: dict[str, Any]) -> tuple[str, str, Any]:
    return ("create_resource_type", resource_type, attributes)


_DATETIME = {"type": "datetime", "required": False}
_UUID = {"type": "uuid", "required": False}

# ceilometer/gnocchi_client.py: resources_update_operations. Order matters: upstream treats
# this list like schema migrations (e.g. "host" becomes optional only after it was required).
RESOURCES_UPDATE_OPERATIONS: list[tuple[str, str, Any]] = [
    _update("volume", _add("volume_type", _s(False))),
    _update("instance", _add("flavor_name", {**_s(True), "options": {"fill": ""}})),
    _create("nova_compute", {"host_name": _s(True)}),
    _create(
        "manila_share",
        {
            "name": _s(False),
            "host": _s(True),
            "protocol": _s(False),
            "availability_zone": _s(False),
            "status": _s(True),
        },
    ),
    _create("volume_provider", {}),
    _create("volume_provider_pool", {"provider": _s(True)}),
    _create("ipmi_sensor", {"node": _s(True)}),
    _update(
        "instance",
        _add("launched_at", _DATETIME),
        _add("created_at", _DATETIME),
        _add("deleted_at", _DATETIME),
    ),
    _update("volume", _add("image_id", _UUID), _add("instance_id", _UUID)),
    _update("instance", _add("availability_zone", _s(False))),
    _update("volume", _add("volume_type_id", _s(False))),
    _update("swift_account", _add("storage_policy", _s(False))),
    _update("instance", _add("host", _s(False))),
    _update("image", _add("container_format", _s(False))),
    _update("image", _add("disk_format", _s(False))),
    _create(
        "loadbalancer",
        {
            "name": _s(False),
            "availability_zone": _s(False),
            "vip_address": _s(False),
            "provider": _s(False),
        },
    ),
    _create(
        "dns_zone",
        {"zone_name": _s(False), "email": _s(False), "zone_type": _s(False), "pool_id": _s(False)},
    ),
    _create(
        "volume_service",
        {"host": _s(False), "binary": _s(False), "zone": _s(False), "status": _s(False)},
    ),
]

_LOW = [{"granularity": "5 minutes", "timespan": "30 days"}]
_HIGH = [
    {"granularity": "1 second", "timespan": "1 hour"},
    {"granularity": "1 minute", "timespan": "1 day"},
    {"granularity": "1 hour", "timespan": "365 days"},
]

# ceilometer/publisher/data/gnocchi_resources.yaml: archive_policies.
CEILOMETER_ARCHIVE_POLICIES: list[dict[str, Any]] = [
    {"name": "ceilometer-low", "aggregation_methods": ["mean"], "back_window": 0, "definition": _LOW},
    {"name": "ceilometer-low-rate", "aggregation_methods": ["mean", "rate:mean"], "back_window": 0, "definition": _LOW},
    {"name": "ceilometer-high", "aggregation_methods": ["mean"], "back_window": 0, "definition": _HIGH},
    {
        "name": "ceilometer-high-rate",
        "aggregation_methods": ["mean", "rate:mean"],
        "back_window": 0,
        "definition": _HIGH,
    },
]

# 300 s points for drill-down, 3600 s points for rating. Both outlive a 90-day lookback; sum,
# max and count sit beside mean so gauges and deltas can both be rated. rate:mean turns a
# cumulative counter (cpu ns, network bytes) into per-interval deltas without a second metric.
STACKLEDGER_POLICY: dict[str, Any] = {
    "name": "stackledger-hourly",
    "back_window": 0,
    "aggregation_methods": ["mean", "min", "max", "sum", "count", "last", "rate:mean"],
    "definition": [
        {"granularity": "5 minutes", "timespan": "100 days"},
        {"granularity": "1 hour", "timespan": "400 days"},
    ],
}
# Metrics created without a policy (batch posts with create_metrics=true) get this one.
# Gnocchi's own gnocchi-upgrade installs rule "default" for "*" -> "low"; rules with the same
# pattern are tried by name, so we replace that rule rather than add a rival one.
DEFAULT_RULE = {"name": "default", "metric_pattern": "*", "archive_policy_name": "stackledger-hourly"}


class Gnocchi:
    def __init__(self, url: str, user: str) -> None:
        self.url = url.rstrip("/") + "/v1"
        self.http = requests.Session()
        self.http.auth = (user, "")

    def get(self, path: str) -> Any | None:
        """The decoded body, or None for 404."""
        r = self.http.get(self.url + path, timeout=30)
        if r.status_code == 404:
            return None
        r.raise_for_status()
        return r.json()

    def send(self, method: str, path: str, body: Any, content_type: str = "application/json") -> None:
        r = self.http.request(method, self.url + path, json=body, headers={"Content-Type": content_type}, timeout=30)
        if not r.ok:
            raise RuntimeError(f"{method} {path} -> {r.status_code}: {r.text}")

    def delete(self, path: str) -> None:
        r = self.http.delete(self.url + path, timeout=30)
        if r.status_code != 404:
            r.raise_for_status()


def wait_ready(g: Gnocchi, deadline_s: float = 90) -> None:
    # gunicorn opens the port before its workers finish importing Gnocchi (seconds); ops/gnocchi.sh
    # already waits, this covers running the script by hand against a server just started.
    end = time.monotonic() + deadline_s
    while True:
        try:
            g.get("/resource_type/generic")
            return
        except requests.RequestException:
            if time.monotonic() > end:
                raise
            time.sleep(0.5)


def ensure_resource_types(g: Gnocchi) -> list[str]:
    changed = []
    for name, attributes in RESOURCES_INITIAL.items():
        if g.get(f"/resource_type/{name}") is None:
            g.send("POST", "/resource_type", {"name": name, "attributes": attributes})
            changed.append(f"created {name}")
    for kind, name, data in RESOURCES_UPDATE_OPERATIONS:
        if kind == "create_resource_type":
            if g.get(f"/resource_type/{name}") is None:
                g.send("POST", "/resource_type", {"name": name, "attributes": data})
                changed.append(f"created {name}")
            continue
        found = g.get(f"/resource_type/{name}")
        if found is None:
            raise RuntimeError(f"resource type {name} missing before its update: {data}")
        current = found["attributes"]
        first = data[0]
        attr = first["path"].removeprefix("/attributes/")
        # Same test as upstream: only the first op is compared, without its "options".
        wanted = {k: v for k, v in first["value"].items() if k != "options"}
        if current.get(attr) == wanted:
            continue
        g.send("PATCH", f"/resource_type/{name}", data, "application/json-patch+json")
        changed.append(f"patched {name}: {', '.join(op['path'] for op in data)}")
    return changed


def ensure_archive_policies(g: Gnocchi) -> list[str]:
    changed = []
    for policy in [*CEILOMETER_ARCHIVE_POLICIES, STACKLEDGER_POLICY]:
        if g.get(f"/archive_policy/{policy['name']}") is None:
            g.send("POST", "/archive_policy", policy)
            changed.append(f"created archive policy {policy['name']}")
    rule = g.get(f"/archive_policy_rule/{DEFAULT_RULE['name']}")
    if rule is not None and all(rule[k] == v for k, v in DEFAULT_RULE.items()):
        return changed
    if rule is not None:
        g.delete(f"/archive_policy_rule/{DEFAULT_RULE['name']}")
    g.send("POST", "/archive_policy_rule", DEFAULT_RULE)
    changed.append(f"rule {DEFAULT_RULE['metric_pattern']!r} -> {DEFAULT_RULE['archive_policy_name']}")
    return changed


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    g = Gnocchi(argv[1], argv[2])
    wait_ready(g)
    changed = ensure_archive_policies(g) + ensure_resource_types(g)
    print("gnocchi bootstrap: " + ("; ".join(changed) if changed else "already up to date"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
