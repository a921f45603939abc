"""The real Keystone (ops/keystone.sh) and the Nova/Cinder simulator (ops/openstack_sim.sh), end to end.

Needs `ops/up.sh keystone openstack_sim` and `source .ops/env` (OS_CLIENT_CONFIG_FILE, ports). A
missing service is a failure, not a skip (DESIGN.md §9).

openstacksdk finds Nova and Cinder only through the Keystone catalog and authenticates with real
Keystone tokens. Every test runs against ops/openstack_sim/default_fleet.json, loaded through the
simulator's admin path first, so expectations below are read from that file or worked out by hand.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import socket
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import openstack
import pytest
import requests
from openstack.connection import Connection
from openstack.identity.v3._proxy import Proxy as IdentityProxy

from tests.conftest import REPO

pytestmark = pytest.mark.services

CLOUD = "stackledger-test"
FLEET_FILE = REPO / "ops" / "openstack_sim" / "default_fleet.json"
FLEET: dict[str, Any] = json.loads(FLEET_FILE.read_text())
OCTOBER = (dt.datetime(2026, 10, 1), dt.datetime(2026, 11, 1))  # naive: Nova rejects zones here


def _port(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _reachable(port: int, what: str) -> None:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError as exc:
        pytest.fail(f"no {what} on 127.0.0.1:{port} ({exc}): run `ops/up.sh keystone openstack_sim`", pytrace=False)


@functools.cache
def cloud() -> Connection:
    """The admin connection with the default fleet loaded; called in test bodies so a missing service
    reports FAILED, not ERROR (a failure is not cached: every test reports it)."""
    path = os.environ.get("OS_CLIENT_CONFIG_FILE")
    if not path or not Path(path).is_file():
        pytest.fail(
            f"OS_CLIENT_CONFIG_FILE is {path!r}: run `ops/up.sh keystone openstack_sim` and `source .ops/env`",
            pytrace=False,
        )
    _reachable(_port("STACKLEDGER_KEYSTONE_PORT", 55000), "Keystone")
    _reachable(_port("STACKLEDGER_NOVA_PORT", 58774), "Nova simulator")
    _reachable(_port("STACKLEDGER_CINDER_PORT", 58776), "Cinder simulator")
    conn = openstack.connect(cloud=CLOUD)
    _load_fleet(conn, FLEET)
    return conn


def _nova(conn: Connection) -> str:
    url = conn.compute.get_endpoint()
    assert url, "the catalog has no compute endpoint"
    return str(url)


def _cinder(conn: Connection) -> str:
    url = conn.block_storage.get_endpoint()
    assert url, "the catalog has no block-storage endpoint"
    return str(url)


def _projects(conn: Connection) -> list[Any]:
    identity = cast(IdentityProxy, conn.identity)  # a v3 cloud; the attribute is typed v2 | v3
    return list(identity.projects())


def _admin_url(conn: Connection) -> str:
    return _nova(conn).rsplit("/v2.1", 1)[0] + "/_sim/fleet"


def _load_fleet(conn: Connection, doc: dict[str, Any]) -> dict[str, Any]:
    resp = requests.post(_admin_url(conn), json=doc, headers={"X-Auth-Token": conn.session.get_token()}, timeout=30)
    assert resp.status_code == 200, resp.text
    return dict(resp.json()["fleet"])


def _project_ids(conn: Connection) -> dict[str, str]:
    return {p.name: p.id for p in _projects(conn)}


def _raw(
    conn: Connection, url: str, version: str | None = None, token: str | None = None, anonymous: bool = False
) -> requests.Response:
    """GET with the session's token (or `token`, or none when anonymous) and an optional microversion."""
    headers = {} if anonymous else {"X-Auth-Token": token or conn.session.get_token()}
    if version:
        headers["OpenStack-API-Version"] = version
    return requests.get(url, headers=headers, timeout=30)


def _fleet_names(kind: str, dead_key: str, dead: bool) -> set[str]:
    return {item["name"] for item in FLEET[kind] if (item.get(dead_key) is not None) == dead}


# -- Keystone -----------------------------------------------------------------------------------


def test_catalog_points_at_simulator_and_gnocchi() -> None:
    conn = cloud()
    assert conn.session.auth is not None
    access = conn.session.auth.get_access(conn.session)  # type: ignore[attr-defined]
    catalog = {entry["type"]: entry for entry in access.service_catalog.catalog}
    nova, cinder = _port("STACKLEDGER_NOVA_PORT", 58774), _port("STACKLEDGER_CINDER_PORT", 58776)
    gnocchi = _port("STACKLEDGER_GNOCCHI_PORT", 58041)
    expected = {
        "identity": f"http://127.0.0.1:{_port('STACKLEDGER_KEYSTONE_PORT', 55000)}/v3",
        "compute": f"http://127.0.0.1:{nova}/v2.1",
        "block-storage": f"http://127.0.0.1:{cinder}/v3",
        "volumev3": f"http://127.0.0.1:{cinder}/v3/{conn.current_project_id}",  # $(project_id)s filled in
        "metric": f"http://127.0.0.1:{gnocchi}",
    }
    for stype, url in expected.items():
        urls = {e["interface"]: e["url"] for e in catalog[stype]["endpoints"] if e["region_id"] == "RegionOne"}
        assert urls == {"public": url, "internal": url, "admin": url}, stype
    assert _nova(conn).startswith(f"http://127.0.0.1:{nova}/v2.1")
    assert _cinder(conn).startswith(f"http://127.0.0.1:{cinder}/v3")


def test_projects_carry_tags_and_hierarchy() -> None:
    projects = {p.name: p for p in _projects(cloud())}
    assert {"payments", "data-platform", "web-frontend", "ml-research", "ml-training", "legacy-batch"} <= set(projects)
    assert {"team:payments", "cost-center:4711"} <= set(projects["payments"].tags)
    assert "team:data" in projects["data-platform"].tags
    assert projects["ml-training"].parent_id == projects["ml-research"].id
    assert projects["payments"].parent_id == projects["payments"].domain_id == "default"
    assert projects["legacy-batch"].is_enabled is False


# -- Nova ---------------------------------------------------------------------------------------


def test_servers_all_projects_live_and_deleted() -> None:
    conn = cloud()
    ids = _project_ids(conn)
    live = list(conn.compute.servers(details=True, all_projects=True))
    deleted = list(conn.compute.servers(details=True, all_projects=True, deleted_only=True))
    assert {s.name for s in live} == _fleet_names("servers", "terminated_at", dead=False)
    assert {s.name for s in deleted} == _fleet_names("servers", "terminated_at", dead=True)
    assert {s.status for s in deleted} == {"DELETED"}
    spark = next(s for s in deleted if s.name == "dp-spark-tmp")
    assert spark.project_id == ids["data-platform"]
    assert spark.terminated_at == "2026-11-03T04:30:00.000000"  # naive, microseconds: OS-SRV-USG
    # changes-since returns live and deleted servers changed since then
    since = "2026-11-01T00:00:00Z"
    recent = {s.name for s in conn.compute.servers(details=True, all_projects=True, changes_since=since)}
    assert {"dp-spark-tmp", "web-canary", "train-gpu-2"} <= recent
    assert "pay-api-1" not in recent


def test_resized_server_shows_new_flavor_and_resize_time() -> None:
    servers = {s.name: s for s in cloud().compute.servers(details=True, all_projects=True)}
    db = servers["pay-db-1"]
    # openstacksdk negotiates >= 2.47: the flavor is embedded, named, and has no id
    assert db.flavor.original_name == "m1.large"
    assert db.flavor.vcpus == 4 and db.flavor.ram == 8192
    assert db.flavor.id == "m1.large"  # not a flavor id: openstacksdk copies original_name into it
    # Nova's finish_resize resets launched_at: the API no longer knows the original launch
    assert db.launched_at == "2026-10-15T02:00:00.000000"
    assert db.created_at == "2026-09-02T10:00:00Z"


def test_server_flavor_shape_by_microversion() -> None:
    conn = cloud()
    url = _nova(conn) + "/servers/detail?all_tenants=1&limit=1"
    old = _raw(conn, url, "compute 2.46")
    assert old.headers["OpenStack-API-Version"] == "compute 2.46"
    assert old.headers["X-OpenStack-Nova-API-Version"] == "2.46"
    assert set(old.json()["servers"][0]["flavor"]) == {"id", "links"}
    new = _raw(conn, url, "compute 2.47").json()["servers"][0]["flavor"]
    assert set(new) == {"vcpus", "ram", "disk", "ephemeral", "swap", "original_name", "extra_specs"}
    assert _raw(conn, url).headers["OpenStack-API-Version"] == "compute 2.1"  # no header: the minimum
    latest = _raw(conn, url, "compute latest").headers["OpenStack-API-Version"]
    assert latest == f"compute {FLEET['api']['nova_max_version']}"
    assert _raw(conn, url, "compute 2.999").status_code == 406


def test_server_pagination_pages() -> None:
    conn = cloud()
    everything = [s.id for s in conn.compute.servers(details=True, all_projects=True)]
    assert [s.id for s in conn.compute.servers(details=True, all_projects=True, limit=2)] == everything
    url: str | None = _nova(conn) + "/servers/detail?all_tenants=1&limit=5"
    pages: list[list[str]] = []
    while url:
        body = _raw(conn, url, "compute 2.1").json()
        pages.append([s["id"] for s in body["servers"]])
        links = body.get("servers_links", [])
        url = links[0]["href"] if links else None
        if url:
            assert parse_qs(urlsplit(url).query)["marker"] == [pages[-1][-1]]
    assert [len(p) for p in pages] == [5, 5, len(everything) - 10]
    assert [i for page in pages for i in page] == everything


def test_flavors() -> None:
    conn = cloud()
    flavors = {f.name: f for f in conn.compute.flavors(details=True)}  # sdk sends is_public=None: all
    live = {f["name"] for f in FLEET["flavors"] if not f.get("deleted")}
    assert set(flavors) == live  # the deleted m1.legacy is gone, the private GPU flavor is listed
    assert flavors["m1.xlarge"].ram == 16384 and flavors["m1.xlarge"].ephemeral == 100
    base = _raw(conn, _nova(conn) + "/flavors/detail", "compute 2.1").json()["flavors"]
    assert {f["name"] for f in base} == live - {"g1.a100.8x"}  # default: public only
    assert base[0]["swap"] == "" and "rxtx_factor" in base[0]
    newest = _raw(conn, _nova(conn) + "/flavors/detail", "compute 2.102").json()["flavors"]
    assert newest[0]["swap"] == 0 and "rxtx_factor" not in newest[0]


def test_simple_tenant_usage_hours() -> None:
    conn = cloud()
    ids = _project_ids(conn)
    start, end = OCTOBER
    usages = {u.project_id: u for u in conn.compute.usages(start=start, end=end, detailed=1)}
    pay = usages[ids["payments"]]
    # pay-api-1/2: 744 h each; pay-db-1 counts only from its resize (Oct 15 02:00 -> 406 h);
    # pay-worker-old was deleted Oct 1 00:30 (0.5 h).
    assert pay.total_hours == pytest.approx(744 + 744 + 406 + 0.5)
    by_name = {s["name"]: s for s in pay.server_usages}
    assert by_name["pay-db-1"]["flavor"] == "m1.large"
    assert by_name["pay-worker-old"]["state"] == "terminated"
    assert by_name["pay-worker-old"]["ended_at"] == "2026-10-01T00:30:00.000000"
    # train-gpu-1 launched 14 s after creation on Oct 5, deleted Oct 8 12:00
    gpu = usages[ids["ml-training"]]
    assert gpu.total_hours == pytest.approx(3.5 * 24 - 14 / 3600)
    assert gpu.total_vcpus_usage == pytest.approx(16 * gpu.total_hours)
    assert ids["legacy-batch"] not in usages  # its servers were gone before October
    one = conn.compute.get_usage(ids["payments"], start=start, end=end)
    assert one.total_hours == pytest.approx(pay.total_hours)


def test_simple_tenant_usage_pages_by_instance() -> None:
    conn = cloud()
    start, end = OCTOBER
    whole = {u.project_id: u.total_hours for u in conn.compute.usages(start=start, end=end, detailed=1)}
    merged: dict[str, float] = {}
    pages = list(conn.compute.usages(start=start, end=end, detailed=1, limit=2))
    for part in pages:  # a project split across pages comes back once per page
        merged[part.project_id] = merged.get(part.project_id, 0.0) + part.total_hours
    assert len(pages) > len(whole)
    assert merged == pytest.approx(whole)
    zoned = _nova(conn) + "/os-simple-tenant-usage?start=2026-10-01T00:00:00Z"
    assert _raw(conn, zoned, "compute 2.40").status_code == 400  # Nova takes naive times only


# -- Cinder -------------------------------------------------------------------------------------


def test_volumes_snapshots_backups_types() -> None:
    conn = cloud()
    ids = _project_ids(conn)
    volumes = {v.name: v for v in conn.block_storage.volumes(details=True, all_projects=True)}
    assert set(volumes) == _fleet_names("volumes", "deleted_at", dead=False)
    assert volumes["pay-db-data"].project_id == ids["payments"]
    assert volumes["pay-db-data"].volume_type == "ssd" and volumes["pay-db-data"].size == 200
    assert volumes["pay-db-data"].attachments[0]["server_id"] == FLEET["volumes"][0]["attached_to"]
    paged = [v.name for v in conn.block_storage.volumes(details=True, all_projects=True, limit=3)]
    assert sorted(paged) == sorted(volumes)
    snapshots = {s.name: s for s in conn.block_storage.snapshots(details=True, all_projects=True)}
    assert set(snapshots) == _fleet_names("snapshots", "deleted_at", dead=False)
    assert snapshots["dp-lake-monthly"].project_id == ids["data-platform"]
    backups = {b.name: b for b in conn.block_storage.backups(details=True, all_projects=True)}
    assert set(backups) == _fleet_names("backups", "deleted_at", dead=False)
    assert backups["pay-db-incr"].project_id == ids["payments"] and backups["pay-db-incr"].is_incremental
    types = {t.name: t for t in conn.block_storage.types()}
    assert set(types) == {t["name"] for t in FLEET["volume_types"]}


def test_cinder_fields_by_microversion_and_pagination() -> None:
    conn = cloud()
    base = _cinder(conn)
    old = _raw(conn, base + "/volumes/detail?all_tenants=1&limit=2", "volume 3.0")
    assert old.headers["OpenStack-API-Version"] == "volume 3.0"
    vol = old.json()["volumes"][0]
    assert "volume_type_id" not in vol and vol["created_at"].count(".") == 1 and "Z" not in vol["created_at"]
    next_url = old.json()["volumes_links"][0]["href"]
    assert parse_qs(urlsplit(next_url).query)["marker"] == [old.json()["volumes"][-1]["id"]]
    second = _raw(conn, next_url, "volume 3.0").json()["volumes"]
    assert {v["id"] for v in second}.isdisjoint(v["id"] for v in old.json()["volumes"])
    new = _raw(conn, base + "/volumes/detail?all_tenants=1&with_count=true", "volume 3.63").json()
    assert all("volume_type_id" in v for v in new["volumes"])
    assert new["count"] == len(_fleet_names("volumes", "deleted_at", dead=False))
    backups = _raw(conn, base + "/backups/detail?all_tenants=1", "volume 3.17").json()["backups"]
    assert all("os-backup-project-attr:project_id" not in b for b in backups)


# -- auth and admin -----------------------------------------------------------------------------


def test_only_keystone_tokens_are_accepted() -> None:
    conn = cloud()
    url = _nova(conn) + "/servers"
    assert _raw(conn, url, anonymous=True).status_code == 401
    rejected = _raw(conn, url, token="gAAAAABnot-a-real-token")
    assert rejected.status_code == 401
    assert "Keystone uri=" in rejected.headers["WWW-Authenticate"]
    assert _raw(conn, _cinder(conn) + "/volumes", token="nope").status_code == 401


def test_fleet_can_be_swapped_and_restored() -> None:
    conn = cloud()
    tiny = {
        "api": {"nova_max_version": "2.60"},
        "flavors": [{"id": "9", "name": "x1.only", "vcpus": 3, "ram": 1024, "disk": 5}],
        "servers": [
            {
                "id": "00000000-0000-4000-8000-000000000001",
                "name": "solo",
                "project": "payments",
                "flavor": "x1.only",
                "created": "2026-11-01T00:00:00Z",
            }
        ],
        "volume_types": [{"id": "00000000-0000-4000-8000-0000000000aa", "name": "__DEFAULT__"}],
    }
    try:
        assert _load_fleet(conn, tiny)["servers"] == 1
        fresh = openstack.connect(cloud=CLOUD)  # new discovery: this cloud's maximum is now 2.60
        servers = list(fresh.compute.servers(details=True, all_projects=True))
        assert [s.name for s in servers] == ["solo"]
        assert servers[0].project_id == _project_ids(conn)["payments"]
        ver = _raw(conn, _nova(conn) + "/servers", "compute latest")
        assert ver.headers["OpenStack-API-Version"] == "compute 2.60"
        assert servers[0].flavor.original_name == "x1.only"
        assert list(fresh.block_storage.volumes(all_projects=True)) == []
        bad = requests.post(
            _admin_url(conn),
            json={"servers": [{"name": "x"}]},
            headers={"X-Auth-Token": conn.session.get_token()},
            timeout=30,
        )
        assert bad.status_code == 400 and "servers[0]" in bad.text
    finally:
        _load_fleet(conn, FLEET)
    assert len(list(conn.compute.servers(all_projects=True))) == len(_fleet_names("servers", "terminated_at", False))
