"""The real python-cloudkittyclient (`openstack rating …`, ops/openstack_client.sh) against
`stackledger serve`, found through the real Keystone catalog.

ops/keystone.sh registers StackLedger as the service of type `rating` (endpoint: the default
`serve` address in RegionOne). This test's server runs on a free port, so the test adds an
endpoint of that same service in a region of its own and points the CLI at that region: the
client still looks the service up by type in the token's catalog, and concurrent runs never
move each other's endpoint. The region and endpoint are removed afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from stackledger.settings import Settings
from tests import api_support as api
from tests.integration.test_api_keystone import cli

pytestmark = pytest.mark.services

MONTH = "2026-10"
BEGIN, END = "2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z"
CENT = Decimal("0.01")
PROJECTS = [
    api.SeedProject("payments", "payments", Decimal("900"), Decimal("13.333333")),
    api.SeedProject("search-api", "search", Decimal("400"), Decimal("9.876543")),
    api.SeedProject("search-index", "search", None, Decimal("4.5")),
    api.SeedProject("data-platform", "data", None, Decimal("21.000001")),
]


@pytest.fixture(scope="module")
def ids() -> dict[str, str]:
    return api.keystone_projects()


@pytest.fixture(scope="module")
def settings(pg_url: str, tmp_path_factory: pytest.TempPathFactory, ids: dict[str, str]) -> Settings:
    settings = api.fresh_settings(pg_url, tmp_path_factory.mktemp("api-ck"))
    api.seed_costs(settings, ids, PROJECTS, [MONTH])
    return settings


@pytest.fixture(scope="module")
def region(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server on a free port, registered in the catalog (type rating) in a region of its own."""
    out = tmp_path_factory.mktemp("api-ck-server")
    with api.serving({**api.server_env(settings, out), **api.keystone_env()}, out / "serve.log") as server:
        sess, base = api.admin_session(), api.user_auth("admin")["auth_url"]
        services = sess.get(base + "/services", params={"type": "rating"}).json()["services"]
        assert [s["name"] for s in services] == ["stackledger"], "ops/keystone.sh registers StackLedger as `rating`"
        name = f"stackledger-test-{uuid.uuid4().hex[:8]}"
        sess.post(base + "/regions", json={"region": {"id": name, "description": "StackLedger API test"}})
        endpoint = sess.post(
            base + "/endpoints",
            json={
                "endpoint": {
                    "service_id": services[0]["id"],
                    "interface": "public",
                    "region_id": name,
                    "url": server.url,
                }
            },
        ).json()
        try:
            yield name
        finally:
            sess.delete(base + f"/endpoints/{endpoint['endpoint']['id']}")
            sess.delete(base + f"/regions/{name}")


def openstack(region: str, *args: str, cloud: str = "admin") -> Any:
    """`openstack <args> -f json` as the ops cloud's admin (or a seeded user), in `region`.

    The clouds.yaml it reads is written here: the same credentials as ops/keystone.sh's, with
    `region_name` set to the test's region (openstacksdk accepts only the cloud's own regions)."""
    command = os.environ.get("STACKLEDGER_OPENSTACK_CLI") or str(
        Path(os.environ.get("STACKLEDGER_OPS_DIR", api.REPO / ".ops"))
        / "venvs"
        / "openstack-client"
        / "bin"
        / "openstack"
    )
    if not Path(command).is_file():
        pytest.fail(f"no openstack CLI at {command}: run `ops/openstack_client.sh install`", pytrace=False)
    clouds = Path(os.environ["OS_CLIENT_CONFIG_FILE"]).parent / f"clouds-{region}.yaml"
    entry = {"auth": api.user_auth(cloud), "region_name": region, "identity_api_version": 3, "interface": "public"}
    clouds.write_text(json.dumps({"clouds": {"test": entry}}))
    clouds.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}  # the cloud entry says everything
    env["OS_CLIENT_CONFIG_FILE"] = str(clouds)
    try:
        done = subprocess.run(
            [command, "--os-cloud", "test", *args, "-f", "json"], env=env, capture_output=True, text=True, timeout=300
        )
    finally:
        clouds.unlink()
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def test_summary_by_project_and_by_type_equals_the_csv(region: str, settings: Settings, tmp_path: Path) -> None:
    cli(settings, "report", "--month", MONTH, "--format", "csv", "--out", str(tmp_path))
    csv_path = tmp_path / f"stackledger-{MONTH}.csv"
    expected = api.csv_totals(csv_path)
    rows = openstack(region, "rating", "summary", "get", "-g", "project_id", "-b", BEGIN, "-e", END)
    got = {row["Project id"]: Decimal(str(row["Rate"])) for row in rows}
    assert got.keys() == expected.keys() and len(got) == len(PROJECTS)
    for project_id, total in expected.items():
        assert got[project_id].quantize(CENT) == total.quantize(CENT), project_id
        assert got[project_id] == total  # exact: the JSON number carries every digit
    by_type = openstack(region, "rating", "summary", "get", "-g", "type", "-b", BEGIN, "-e", END)
    services = {row["Type"]: Decimal(str(row["Rate"])) for row in by_type}
    assert services == per_service(csv_path)
    assert all(row["Begin"].startswith("2026-10-01") and row["End"].startswith("2026-11-01") for row in by_type)


def test_dataframes_and_a_members_view(region: str, settings: Settings, ids: dict[str, str], tmp_path: Path) -> None:
    cli(settings, "report", "--month", MONTH, "--format", "csv", "--out", str(tmp_path))
    expected = api.csv_totals(tmp_path / f"stackledger-{MONTH}.csv")
    payments = ids["payments"]
    frames = openstack(
        region,
        "rating",
        "dataframes",
        "get",
        "-b",
        BEGIN,
        "-e",
        END,
        "--filter",
        f"project_id:{payments}",
        "--limit",
        "10000",
    )
    assert frames and {row["Metric Type"] for row in frames} == {"compute.vcpu", "compute.ram", "block.volume"}
    assert sum(Decimal(str(row["Price"])) for row in frames) == expected[payments]
    assert all(f'project_id="{payments}"' in row["Group By"] for row in frames)
    member = openstack(
        region,
        "rating",
        "summary",
        "get",
        "-g",
        "project_id",
        "-b",
        BEGIN,
        "-e",
        END,
        cloud="search-member",
    )
    assert [row["Project id"] for row in member] == [ids["search-api"]]


def per_service(path: Path) -> dict[str, Decimal]:
    import csv

    sums: dict[str, Decimal] = {}
    with path.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["price_book"] == "internal":
                sums[row["service"]] = sums.get(row["service"], Decimal(0)) + Decimal(row["cost"])
    return sums
