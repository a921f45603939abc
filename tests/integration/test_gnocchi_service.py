"""The Gnocchi started by ops/gnocchi.sh answers the query the Gnocchi collector makes.

Needs `ops/up.sh gnocchi` (or `ops/gnocchi.sh start`) and STACKLEDGER_GNOCCHI_URL /
STACKLEDGER_GNOCCHI_USER from .ops/env. A missing server is a failure, not a skip (DESIGN.md §9).

Round trip, as Ceilometer and the collector would do it: 20 instances of Ceilometer's `instance`
type in two projects, 48 hourly `vcpus`/`memory` measures each through the batch endpoint, one
resize, then `/v1/aggregates` grouped by (id, project_id, flavor_name) with `use_history`,
granularity 3600 and a JSON search, compared with the upstream-generated fixture 100.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
import uuid
from collections.abc import Iterator
from typing import Any, NamedTuple

import pytest
import requests
from gnocchiclient import auth, client

from tests.conftest import OPENSTACK_FIXTURES, gnocchi_endpoint

pytestmark = pytest.mark.services

HOUR = dt.timedelta(hours=1)
HOURS = 48


class Flavor(NamedTuple):
    id: str
    vcpus: int
    ram: int  # MiB, as Ceilometer's `memory` meter reports it


FLAVORS = {"m1.small": Flavor("2", 1, 2048), "m1.large": Flavor("4", 4, 8192)}
GROUPBY = ["id", "project_id", "flavor_name"]
# metricd polls the file incoming driver every second; allow for a loaded CI machine.
PROCESSING_DEADLINE_S = 60


def gnocchi_client(url: str, user: str) -> Any:
    # auth_mode=basic: the user name is the identity, the password is ignored.
    return client.Client("1", session_options={"auth": auth.GnocchiBasicPlugin(user=user, endpoint=url)})


def iso(t: dt.datetime) -> str:
    return t.isoformat()  # aware UTC datetimes -> "…+00:00", the form Gnocchi answers with


@pytest.fixture
def projects() -> Iterator[tuple[str, str]]:
    """Two fresh project ids; every resource the test made under them is deleted afterwards."""
    ids = (str(uuid.uuid4()), str(uuid.uuid4()))
    yield ids
    url, user = os.environ.get("STACKLEDGER_GNOCCHI_URL"), os.environ.get("STACKLEDGER_GNOCCHI_USER", "admin")
    if not url:
        return  # the test itself already failed and said why
    # Through the generic type on purpose: in Gnocchi 4.7.1, DELETE /v1/resource/<type> with a
    # search on a base column (project_id) emits "DELETE FROM rt_<type> USING resource" with no
    # join condition and wipes that type's attributes for every resource. The generic table has
    # no such join, and the per-type rows follow by ON DELETE CASCADE.
    requests.delete(
        f"{url}/v1/resource/generic", json={"in": {"project_id": list(ids)}}, auth=(user, ""), timeout=30
    ).raise_for_status()


def wait_processed(gc: Any, metric_ids: set[str]) -> float:
    """Seconds until metricd has folded every pending measure of these metrics into aggregates.

    /v1/aggregates has no `refresh` flag in 4.7.1 (it ignores one; the per-metric GET
    /v1/metric/<id>/measures?refresh=true has it), so we watch /v1/status?details=true: a metric
    leaves `storage.measures_to_process` once metricd has written its aggregates.
    """
    began = time.monotonic()
    while True:
        pending = set(gc.status.get(details=True)["storage"]["measures_to_process"])
        if not pending & metric_ids:
            return time.monotonic() - began
        if time.monotonic() - began > PROCESSING_DEADLINE_S:
            pytest.fail(f"gnocchi-metricd left {len(pending & metric_ids)} metrics unprocessed after 60 s")
        time.sleep(0.2)


def aggregates(url: str, user: str, meter: str, project: str, start: dt.datetime, stop: dt.datetime) -> Any:
    """The collector's request, over plain HTTP so the wire format itself is checked."""
    params: list[tuple[str, str]] = [("groupby", g) for g in GROUPBY]
    params += [("use_history", "true"), ("granularity", "3600"), ("start", iso(start)), ("stop", iso(stop))]
    body = {
        "resource_type": "instance",
        "search": {"=": {"project_id": project}},
        "operations": f"(aggregate mean (metric {meter} mean))",
    }
    response = requests.post(f"{url}/v1/aggregates", params=params, json=body, auth=(user, ""), timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def shape(groups: list[dict[str, Any]]) -> set[tuple[str, ...]]:
    """Key paths of a grouped aggregates answer, values left out."""
    paths = set()
    for g in groups:
        paths.add(tuple(sorted(g)))
        paths.add(("measures", *sorted(g["measures"])))
        paths.add(("measures", "measures", *sorted(g["measures"]["measures"])))
        points = g["measures"]["measures"]["aggregated"]
        paths.update(("point", type(ts).__name__, type(gran).__name__) for ts, gran, _ in points)
    return paths


def test_ceilometer_resource_types_and_hourly_policy() -> None:
    url, user = gnocchi_endpoint()
    gc = gnocchi_client(url, user)
    instance = gc.resource_type.get("instance")["attributes"]
    assert set(instance) >= {
        "flavor_id", "flavor_name", "display_name", "host", "image_ref", "server_group",
        "launched_at", "created_at", "deleted_at", "availability_zone",
    }  # fmt: skip
    assert instance["host"]["required"] is False  # Ceilometer's last migration made it optional
    volume = gc.resource_type.get("volume")["attributes"]
    assert set(volume) >= {"display_name", "volume_type", "volume_type_id", "image_id", "instance_id"}
    names = {t["name"] for t in gc.resource_type.list()}
    assert names >= {"image", "instance_disk", "instance_network_interface", "network", "volume_provider"}
    policy = gc.archive_policy.get("stackledger-hourly")
    hourly = [d for d in policy["definition"] if d["granularity"] == "1:00:00"]
    assert hourly and dt.timedelta(days=90) <= dt.timedelta(days=int(hourly[0]["timespan"].split()[0]))
    assert gc.archive_policy_rule.get("default")["archive_policy_name"] == "stackledger-hourly"


def test_hourly_aggregates_grouped_with_history(projects: tuple[str, str]) -> None:
    url, user = gnocchi_endpoint()
    gc = gnocchi_client(url, user)
    project_a, project_b = projects
    now = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    start = now - HOURS * HOUR  # the last posted hour is [now - 1 h, now), all in the past

    flavor_of: dict[str, str] = {}
    for i in range(20):
        rid, flavor = str(uuid.uuid4()), "m1.large" if i % 3 == 0 else "m1.small"
        gc.resource.create(
            "instance",
            {
                "id": rid, "project_id": project_a if i < 12 else project_b, "user_id": "u-test",
                "flavor_id": FLAVORS[flavor].id, "flavor_name": flavor, "display_name": f"vm-{i}",
                "host": f"compute{i % 3}", "image_ref": str(uuid.uuid4()), "availability_zone": "nova",
                "launched_at": iso(start), "created_at": iso(start),
            },
        )  # fmt: skip
        flavor_of[rid] = flavor

    hours = [start + h * HOUR for h in range(HOURS)]
    batch = {
        rid: {
            meter: [{"timestamp": iso(t), "value": getattr(FLAVORS[flavor], key)} for t in hours]
            for meter, key in (("vcpus", "vcpus"), ("memory", "ram"))
        }
        for rid, flavor in flavor_of.items()
    }
    # create_metrics=true: metrics get their archive policy from the "*" rule (stackledger-hourly).
    gc.metric.batch_resources_metrics_measures(batch, create_metrics=True)
    resources = gc.resource.search(resource_type="instance", query={"in": {"project_id": list(projects)}})
    assert len(resources) == 20 and all(set(r["metrics"]) == {"vcpus", "memory"} for r in resources)
    metric_ids = {m for r in resources for m in r["metrics"].values()}
    assert gc.metric.get(resources[0]["metrics"]["vcpus"])["archive_policy"]["name"] == "stackledger-hourly"
    wait_processed(gc, metric_ids)

    # A resize: Gnocchi closes the old attributes as a revision ending now; measures after that
    # belong to the new flavor. Whole hours after the resize keep the two revisions apart (a
    # bucket straddling the revision boundary would be split between them pro rata).
    ids_a = {r["id"] for r in resources if r["project_id"] == project_a}
    resized = next(rid for rid in sorted(ids_a) if flavor_of[rid] == "m1.small")
    gc.resource.update("instance", resized, {"flavor_name": "m1.large", "flavor_id": FLAVORS["m1.large"].id})
    resized_hour = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    later = [resized_hour + HOUR, resized_hour + 2 * HOUR]
    gc.metric.batch_resources_metrics_measures({resized: {"vcpus": [{"timestamp": iso(t), "value": 4} for t in later]}})
    wait_processed(gc, metric_ids)

    # stop must lie after the resources' creation: use_history only considers revisions that
    # began before `stop`, even though the first revision covers measures from `start` on.
    stop = later[-1] + HOUR
    groups = aggregates(url, user, "vcpus", project_a, start, stop)

    upstream = OPENSTACK_FIXTURES / "gnocchi/_generated_from_upstream_rest_yaml"
    fixture = json.loads((upstream / "100-get-aggregates-by-attributes-lookup-groupby-with-history.json").read_text())
    assert shape(groups) == shape(fixture["response"]["body"])

    assert {g["group"]["project_id"] for g in groups} == {project_a}  # the search kept project B out
    assert {g["group"]["id"] for g in groups} == ids_a
    assert len(groups) == len(ids_a) + 1  # the resized instance appears once per flavor
    expected_hours = [iso(t) for t in hours]
    for g in groups:
        assert set(g["group"]) == set(GROUPBY)
        points = g["measures"]["measures"]["aggregated"]
        rid, flavor = g["group"]["id"], g["group"]["flavor_name"]
        if rid == resized and flavor == "m1.large":
            assert points == [[iso(t), 3600.0, 4.0] for t in later]
        else:
            assert flavor == flavor_of[rid]
            assert [p[0] for p in points] == expected_hours
            assert {(p[1], p[2]) for p in points} == {(3600.0, float(FLAVORS[flavor].vcpus))}

    memory = aggregates(url, user, "memory", project_b, start, stop)
    assert len(memory) == 8
    for g in memory:
        ram = float(FLAVORS[g["group"]["flavor_name"]].ram)
        assert g["measures"]["measures"]["aggregated"] == [[t, 3600.0, ram] for t in expected_hours]

    # The same request through gnocchiclient 7.2.0, which the collector may use instead.
    via_client = gc.aggregates.fetch(
        "(aggregate mean (metric vcpus mean))",
        search={"=": {"project_id": project_a}},
        resource_type="instance",
        start=start,
        stop=stop,
        granularity=3600,
        groupby=GROUPBY,
        use_history=True,
    )
    assert sorted(len(g["measures"]["measures"]["aggregated"]) for g in via_client) == sorted(
        len(g["measures"]["measures"]["aggregated"]) for g in groups
    )
    first = via_client[0]["measures"]["measures"]["aggregated"][0]
    assert isinstance(first[0], dt.datetime) and first[0].utcoffset() == dt.timedelta(0)
