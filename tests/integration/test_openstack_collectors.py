"""Keystone, Nova and Cinder collectors and `stackledger reconcile`, against the real services.

Needs `ops/up.sh keystone openstack_sim` and `source .ops/env`: the real Keystone (catalog, tokens,
projects with tags) and the Nova/Cinder simulator it lists. A missing service is a failure, never
a skip (DESIGN.md §9). Tests that swap the simulator's fleet load ops/openstack_sim/default_fleet.json
back when they end.

Every expectation is worked out from the fleet file and ops/keystone/projects.json, not from the
APIs the collectors read: what a collector must reconstruct is what those files say happened.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import io
import itertools
import json
import math
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openstack
import pandas as pd
import pytest
import requests
from sqlalchemy import select

from stackledger.cli import main
from stackledger.collectors import cinder, nova
from stackledger.collectors.keystone import TagRules, projects_frame
from stackledger.errors import ConfigError
from stackledger.pipeline.base import store_for
from stackledger.pipeline.collect import collect_range, collect_window, make_collector
from stackledger.pipeline.ingest import ingest_paths
from stackledger.pipeline.reconcile import Tolerance, reconcile_month
from stackledger.pipeline.usage import compute_usage
from stackledger.settings import ProjectTagSettings, Settings
from stackledger.store import tables
from stackledger.store.volume_types import volume_type_names
from stackledger.window import Window
from tests.conftest import REPO, require_openstack, settings_for

pytestmark = pytest.mark.services

CLOUD = "stackledger-test"
FLEET: dict[str, Any] = json.loads((REPO / "ops" / "openstack_sim" / "default_fleet.json").read_text())
SEEDED: list[dict[str, Any]] = json.loads((REPO / "ops" / "keystone" / "projects.json").read_text())["projects"]
EVERYTHING = Window(dt.datetime(2026, 1, 1), dt.datetime(2027, 1, 1))  # every time in the fleet
LATER = dt.datetime(2027, 6, 1)  # "now" for collect_window: every window is settled
BOOT = dt.timedelta(seconds=14)  # the simulator's created -> launched_at
REGION = "RegionOne"
COLUMNS = ("resource_id", "resource_type", "project_id", "name", "region", "flavor_name", "vcpus", "ram_mib",
           "disk_gib", "volume_type", "size_gib", "started_at", "ended_at", "valid_from", "valid_to")  # fmt: skip


# ---------------------------------------------------------------- services and fleets


@functools.cache
def _admin() -> Any:
    """One admin connection for the fleet swaps (a Keystone token costs about a second)."""
    return openstack.connect(cloud=CLOUD)


def _load_fleet(doc: dict[str, Any]) -> None:
    conn = _admin()
    url = str(conn.compute.get_endpoint()).rsplit("/v2.1", 1)[0] + "/_sim/fleet"
    resp = requests.post(url, json=doc, headers={"X-Auth-Token": conn.session.get_token()}, timeout=30)
    assert resp.status_code == 200, resp.text


@pytest.fixture
def fleet() -> Iterator[None]:
    """The default fleet loaded before the test and again after it, whatever the test swapped in."""
    require_openstack()
    _load_fleet(FLEET)
    try:
        yield
    finally:
        _load_fleet(FLEET)


@pytest.fixture(scope="module")
def pids() -> dict[str, str]:
    """Keystone project name -> id (the fleet names owners by project name)."""
    require_openstack()
    return {p.name: p.id for p in _admin().identity.projects()}


def _settings(url: str, tmp_path: Path, **openstack_keys: object) -> Settings:
    keys = {"OPENSTACK__CLOUD": CLOUD, **{f"OPENSTACK__{k}": v for k, v in openstack_keys.items()}}
    return settings_for(url, tmp_path, **keys)


def _version(text: str) -> str:
    return f'"{text}"'  # a YAML string: 2.10 would otherwise be the number 2.1


def _collectors(settings: Settings) -> dict[str, Any]:
    """Keystone, Nova and Cinder collectors from the registry's factories (settings -> connection)."""
    return {source: make_collector(settings, source) for source in ("keystone", "nova", "cinder")}


def _collect_all(settings: Settings, collectors: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every source's window [2026, 2027) stored by the pipeline, atomically with its checkpoint."""
    results = {}
    for source, collector in (collectors or _collectors(settings)).items():
        result = collect_window(settings, source, EVERYTHING, force=True, collector=collector, now=LATER)
        assert result.complete, result.failures
        results[source] = result
    return results


# ---------------------------------------------------------------- expectations from the files


def _at(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text)
    return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value


def _ts(text: str | None) -> dt.datetime | None:
    return None if text is None else _at(text)


def _flavor(ref: str) -> dict[str, Any]:
    return next(f for f in FLEET["flavors"] if ref in (f["id"], f["name"]))


def _launch(server: dict[str, Any]) -> dt.datetime | None:
    if server.get("vm_state") == "error":
        return None
    return _ts(server.get("launched_at")) or _at(server["created"]) + BOOT


def _row(**values: Any) -> dict[str, Any]:
    row = dict.fromkeys(COLUMNS)
    row.update(values)
    return row


def expected_servers(pids: dict[str, str], *, embedded: bool, fleet: dict[str, Any] = FLEET) -> list[dict[str, Any]]:
    """What Nova's collector stores on first sight of `fleet` (collectors/nova.py docstring)."""
    rows = []
    for server in fleet["servers"]:
        created, launched, ended = _at(server["created"]), _launch(server), _ts(server.get("terminated_at"))
        resizes = server.get("resizes", [])
        current = _flavor(resizes[-1]["flavor"] if resizes else server["flavor"])
        api_launched = _ts(resizes[-1]["at"]) if resizes and launched else launched
        flavor: dict[str, Any] = dict(flavor_name=current["name"], vcpus=current["vcpus"], ram_mib=current["ram"],
                                      disk_gib=current["disk"])  # fmt: skip
        if not embedded and current.get("deleted"):  # below 2.47: found only in Nova's usage, root + ephemeral
            flavor = flavor | {"disk_gib": current["disk"] + current.get("ephemeral", 0)} if launched else {}
        common = dict(resource_id=server["id"], resource_type="instance", project_id=pids[server["project"]],
                      name=server["name"], region=REGION, ended_at=ended)  # fmt: skip
        if api_launched is not None and api_launched - created > dt.timedelta(hours=1):  # relaunched before first sight
            rows.append(_row(**common, started_at=created, valid_from=created, valid_to=api_launched))
            rows.append(_row(**common, **flavor, started_at=created, valid_from=api_launched))
        else:
            rows.append(_row(**common, **flavor, started_at=api_launched, valid_from=api_launched or created))
    return rows


def expected_block(pids: dict[str, str], *, fleet: dict[str, Any] = FLEET) -> list[dict[str, Any]]:
    volumes = {v["id"]: v for v in fleet["volumes"]}
    rows = []
    for kind, key in (("volume", "volumes"), ("snapshot", "snapshots"), ("backup", "backups")):
        for item in fleet[key]:
            if item.get("deleted_at"):
                continue  # Cinder lists no deleted resources
            volume = item if kind == "volume" else volumes[item["volume_id"]]
            created = _ts(item["created_at"])
            size = item.get("size", volume["size"])
            rows.append(_row(resource_id=item["id"], resource_type=kind, project_id=pids[item["project"]],
                             name=item["name"], region=REGION, volume_type=volume["volume_type"], size_gib=size,
                             started_at=created, valid_from=created))  # fmt: skip
    return rows


def expected_projects(pids: dict[str, str]) -> dict[str, dict[str, Any]]:
    out = {}
    for project in SEEDED:
        tags = project["tags"]
        out[project["name"]] = {
            "project_id": pids[project["name"]],
            "domain_id": "default",
            "parent_id": pids[project["parent"]] if project.get("parent") else None,
            "tags": sorted(tags),
            "team": next(t.split(":", 1)[1] for t in tags if t.startswith("team:")),
            "cost_center": next(t.split(":", 1)[1] for t in tags if t.startswith("cost-center:")),
            "budget_amount": None,
        }
    return out


def _key(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(_plain(row.get(name)) for name in COLUMNS)


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return value
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value


def stored_resources(settings: Settings, source: str) -> list[tuple[Any, ...]]:
    table = tables.resources
    frame = store_for(settings).frame(select(table).where(table.c.source == source))
    return sorted((_key(row) for row in frame.to_dict("records")), key=_order)  # type: ignore[arg-type]


def stored_projects(settings: Settings) -> dict[str, dict[str, Any]]:
    frame = store_for(settings).frame(select(tables.projects))
    rows = [{str(k): _plain(v) for k, v in row.items()} for row in frame.to_dict("records")]
    return {str(row["name"]): row for row in rows}


def _rows(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted((_key(row) for row in rows), key=_order)


def _order(key: tuple[Any, ...]) -> tuple[Any, ...]:
    return key[0], key[13]  # resource_id, valid_from


# ---------------------------------------------------------------- inventory


MICROVERSIONS = [("2.1", "3.0"), ("2.46", "3.17"), ("2.47", "3.62"), ("2.100", "3.63"), ("auto", "auto")]


@pytest.mark.parametrize(("nova_version", "cinder_version"), MICROVERSIONS)
def test_inventory_reaches_the_store_at_every_microversion(
    fleet: None, pids: dict[str, str], sqlite_url: str, tmp_path: Path, nova_version: str, cinder_version: str
) -> None:
    settings = _settings(sqlite_url, tmp_path, NOVA_MICROVERSION=_version(nova_version),
                         CINDER_MICROVERSION=_version(cinder_version))  # fmt: skip
    collectors = _collectors(settings)
    assert collectors["nova"].api.microversion == (nova_version if nova_version != "auto" else "2.102")
    assert collectors["cinder"].api.microversion == (cinder_version if cinder_version != "auto" else "3.71")
    results = _collect_all(settings, collectors)

    embedded = nova_version == "auto" or tuple(map(int, nova_version.split("."))) >= (2, 47)
    assert stored_resources(settings, "nova") == _rows(expected_servers(pids, embedded=embedded))
    assert stored_resources(settings, "cinder") == _rows(expected_block(pids))
    projects = stored_projects(settings)
    for name, expected in expected_projects(pids).items():
        got = projects[name]
        assert {k: got[k] for k in expected} | {"tags": sorted(got["tags"])} == expected, name
    assert projects["admin"]["team"] is None and projects["admin"]["parent_id"] is None
    assert results["nova"].resources == len(FLEET["servers"]) + 2  # pay-db-1 and web-canary: two revisions each
    # below 2.47: the flavors list, then flavor 6 (deleted: 404, asked once) and Nova's usage of batch-1
    assert results["nova"].requests == (2 if embedded else 5)
    assert results["cinder"].requests == 4  # types, volumes, snapshots, backups: one page each
    # the volume types are stored too: rating resolves the ids Cinder's notifications carry through them
    assert volume_type_names(store_for(settings)) == {t["id"]: t["name"] for t in FLEET["volume_types"]}


def test_auto_takes_an_older_clouds_maximum(fleet: None, pids: dict[str, str], sqlite_url: str, tmp_path: Path) -> None:
    _load_fleet(FLEET | {"api": {"nova_max_version": "2.46", "cinder_max_version": "3.17"}})
    settings = _settings(sqlite_url, tmp_path)
    collectors = _collectors(settings)
    assert collectors["nova"].api.microversion == "2.46"
    assert collectors["cinder"].api.microversion == "3.17"  # backups name no owner: the volume's is used
    _collect_all(settings, collectors)
    assert stored_resources(settings, "nova") == _rows(expected_servers(pids, embedded=False))
    assert stored_resources(settings, "cinder") == _rows(expected_block(pids))
    with pytest.raises(ConfigError, match=r"answers microversions 2\.1 to 2\.46, not 2\.47"):
        make_collector(_settings(sqlite_url, tmp_path, NOVA_MICROVERSION=_version("2.47")), "nova")


def test_small_pages_give_the_same_inventory(
    fleet: None, pids: dict[str, str], sqlite_url: str, tmp_path: Path
) -> None:
    settings = _settings(sqlite_url, tmp_path, PAGE_SIZE=2, NOVA_MICROVERSION=_version("2.40"))
    results = _collect_all(settings)
    assert stored_resources(settings, "nova") == _rows(expected_servers(pids, embedded=False))
    assert stored_resources(settings, "cinder") == _rows(expected_block(pids))
    assert set(expected_projects(pids)) <= set(stored_projects(settings))
    live = sum(not s.get("terminated_at") for s in FLEET["servers"])
    # every page of 2 and the (possibly empty) page after the last full one
    assert results["nova"].requests >= live // 2 + 1 + len(FLEET["flavors"]) // 2
    assert results["keystone"].requests >= len(SEEDED) // 2 + 1
    assert results["cinder"].requests >= 1 + (10 + 3 + 3) // 2


@pytest.mark.parametrize("db", ["sqlite", "postgres"])
def test_day_windows_store_what_each_window_saw(
    fleet: None, pids: dict[str, str], db: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = request.getfixturevalue("sqlite_url" if db == "sqlite" else "pg_url")
    if db == "postgres":
        request.getfixturevalue("pg_settings")  # empties the tables
    settings = _settings(url, tmp_path)
    october = Window.month("2026-10")
    results = collect_range(settings, ["keystone", "nova", "cinder"], october, size="day", now=LATER)
    assert len(results) == 3 * 31 and all(r.stored for r in results)
    assert sum(r.requests for r in results if r.source == "nova") == 2  # listed once, reused for 31 windows

    def alive(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        ids = {r["resource_id"] for r in rows if r["valid_from"] < october.end
               and (r["ended_at"] is None or r["ended_at"] > october.start)}  # fmt: skip
        return [r for r in rows if r["resource_id"] in ids]

    assert stored_resources(settings, "nova") == _rows(alive(expected_servers(pids, embedded=True)))
    assert stored_resources(settings, "cinder") == _rows(alive(expected_block(pids)))
    again = collect_range(settings, ["nova"], october, size="day", now=LATER)
    assert all(r.skipped for r in again)  # checkpointed: a re-run is a no-op


def _as_of(fleet: dict[str, Any], instant: dt.datetime) -> dict[str, Any]:
    """The cloud as it looked at `instant`: later servers, resizes and deletions not happened yet."""
    doc = copy.deepcopy(fleet)

    def before(text: str | None) -> bool:
        return text is not None and _at(text) <= instant

    doc["servers"] = [s for s in doc["servers"] if before(s["created"])]
    for server in doc["servers"]:
        server["resizes"] = [r for r in server.get("resizes", []) if before(r["at"])]
        if not before(server.get("terminated_at")):
            server["terminated_at"] = None
    return doc


def test_resizes_seen_over_time_become_exact_revisions(
    fleet: None, pids: dict[str, str], sqlite_url: str, tmp_path: Path
) -> None:
    settings = _settings(sqlite_url, tmp_path)
    volume = FLEET["volumes"][1]  # pay-api-logs, 50 GiB, extended to 80 GiB on Oct 20
    extended = copy.deepcopy(FLEET)
    extended["volumes"][1] = volume | {"size": 80, "updated_at": "2026-10-20T12:00:00"}
    steps = [("2026-10-15T01:00:00", FLEET), ("2026-11-21T08:00:00", FLEET), ("2026-11-22T08:00:00", FLEET),
             ("2026-12-01T00:00:00", extended)]  # fmt: skip
    collectors = {source: make_collector(settings, source) for source in ("nova", "cinder")}
    for instant, doc in steps:
        _load_fleet(_as_of(doc, _at(instant)))
        for source, collector in collectors.items():
            collector.refresh()  # a later run: list the cloud again
            assert collect_window(settings, source, EVERYTHING, force=True, collector=collector, now=LATER).complete

    # Seen before each resize, every server's history is exact: launch time, flavors, resize times.
    truth = []
    for server in FLEET["servers"]:
        launched = _launch(server)
        history = [(launched or _at(server["created"]), server["flavor"])]
        history += [(_at(r["at"]), r["flavor"]) for r in server.get("resizes", [])]
        ends: list[dt.datetime | None] = [start for start, _ in history[1:]] + [None]
        for (start, ref), end in zip(history, ends, strict=True):
            flavor = _flavor(ref)
            sizes = {"flavor_name": flavor["name"], "vcpus": flavor["vcpus"], "ram_mib": flavor["ram"],
                     "disk_gib": flavor["disk"]}  # fmt: skip
            truth.append(_row(resource_id=server["id"], resource_type="instance", project_id=pids[server["project"]],
                              name=server["name"], region=REGION, **sizes, started_at=launched,
                              ended_at=_ts(server.get("terminated_at")), valid_from=start, valid_to=end))  # fmt: skip
    assert stored_resources(settings, "nova") == _rows(truth)
    by_name: dict[str, list[tuple[Any, ...]]] = {}
    for row in stored_resources(settings, "nova"):
        by_name.setdefault(row[3], []).append(row)
    assert [r[5] for r in by_name["web-canary"]] == ["m1.tiny", "m1.small", "m1.medium"]

    grown = [r for r in stored_resources(settings, "cinder") if r[0] == volume["id"]]
    created = _ts(volume["created_at"])
    changed = dt.datetime(2026, 10, 20, 12)
    assert [(r[10], r[13], r[14]) for r in grown] == [(50.0, created, changed), (80.0, changed, None)]


def test_project_tags_follow_the_configured_rules(fleet: None, pids: dict[str, str], sqlite_url: str,
                                                   tmp_path: Path) -> None:  # fmt: skip
    settings = _settings(sqlite_url, tmp_path, TAGS__TEAM="'^env:(.+)$'", TAGS__INHERIT="false")
    collect_window(settings, "keystone", EVERYTHING, now=LATER)
    projects = stored_projects(settings)
    assert projects["payments"]["team"] == "prod" and projects["ml-training"]["team"] == "batch"
    assert projects["ml-research"]["team"] is None  # no env tag, and nothing inherited
    assert projects["legacy-batch"]["cost_center"] == "4800"  # disabled, still stored

    # Budgets and inheritance, on Keystone-shaped projects (the seeded ones carry no budget tag).
    rules = TagRules.from_settings(ProjectTagSettings())
    frame = projects_frame(
        [
            {"id": "p", "name": "parent", "domain_id": "d", "parent_id": "d", "tags": ["budget:1200EUR", "team:a"]},
            {"id": "c", "name": "child", "domain_id": "d", "parent_id": "p", "tags": ["budget:99.50 usd/quarter"]},
            {"id": "x", "name": "odd", "domain_id": "d", "parent_id": "d", "tags": ["budget:lots", "team:b", "team:c"]},
        ],
        rules,
    ).set_index("project_id")
    assert str(frame.loc["p", "budget_amount"]) == "1200" and frame.loc["p", "budget_currency"] == "EUR"
    assert frame.loc["p", "budget_period"] == "month" and frame.loc["p", "parent_id"] is None
    assert (frame.loc["c", "team"], str(frame.loc["c", "budget_amount"])) == ("a", "99.50")
    assert (frame.loc["c", "budget_currency"], frame.loc["c", "budget_period"]) == ("USD", "quarter")
    assert frame.loc["x", "budget_amount"] is None and frame.loc["x", "team"] == "b"


def test_volume_type_from_its_id_when_the_name_is_missing() -> None:
    collector = cinder.CinderCollector(_NoApi(), region=REGION)  # type: ignore[arg-type]
    collector._types = {"t-1": "ssd"}
    assert collector._type_name({"id": "v", "volume_type": None, "volume_type_id": "t-1"}) == "ssd"
    assert collector._type_name({"id": "v", "volume_type": "ssd", "volume_type_id": "t-1"}) == "ssd"


class _NoApi:
    microversion = "3.63"
    requests = 0


# ---------------------------------------------------------------- reconcile


def _samples(fleet: dict[str, Any], pids: dict[str, str], start: dt.datetime, end: dt.datetime) -> Iterator[str]:
    """Ceilometer `vcpus` samples of every running server for every hour of [start, end): one per
    flavor the server had in that hour, at the middle of its part of the hour."""
    hour = dt.timedelta(hours=1)
    for server in fleet["servers"]:
        launched = _launch(server)
        if launched is None:
            continue
        ended = _ts(server.get("terminated_at")) or end
        changes = [(launched, server["flavor"])] + [(_at(r["at"]), r["flavor"]) for r in server.get("resizes", [])]
        t = start
        while t < end:
            cuts = sorted({t, t + hour, *(c for c, _ in changes if t < c < t + hour)})
            for a, b in itertools.pairwise(cuts):
                a, b = max(a, launched), min(b, ended)
                if a >= b:
                    continue
                middle = a + (b - a) / 2
                flavor = _flavor([ref for at, ref in changes if at <= middle][-1])
                yield json.dumps({
                    "message_id": str(uuid.uuid4()), "counter_name": "vcpus", "counter_type": "gauge",
                    "counter_unit": "vcpu", "counter_volume": flavor["vcpus"], "project_id": pids[server["project"]],
                    "user_id": None, "resource_id": server["id"], "timestamp": middle.isoformat(),
                    "resource_metadata": {"instance_type": flavor["name"], "display_name": server["name"]},
                    "source": "openstack",
                })  # fmt: skip
            t += hour


@pytest.fixture
def metered(fleet: None, pids: dict[str, str], sqlite_url: str, tmp_path: Path) -> Settings:
    """Usage of Oct 1 - Nov 24 made the product's way from the default fleet: inventory collected from
    Nova, Ceilometer samples of what really ran ingested, hourly usage computed."""
    settings = _settings(sqlite_url, tmp_path)
    for source in ("keystone", "nova"):
        assert collect_window(settings, source, EVERYTHING, now=LATER).complete
    start, end = dt.datetime(2026, 10, 1), dt.datetime(2026, 11, 24)
    path = tmp_path / "samples.jsonl"
    path.write_text("\n".join(_samples(FLEET, pids, start, end)) + "\n")
    assert not ingest_paths(settings, [str(path)]).errors
    compute_usage(settings, Window(start, end))
    return settings


def _by_name(result: Any) -> dict[str, Any]:
    return {line.name: line for line in result.projects}


def test_reconcile_shows_zero_difference_on_a_consistent_fleet(metered: Settings, pids: dict[str, str]) -> None:
    october = reconcile_month(metered, Window.month("2026-10"))
    assert october.window == Window.month("2026-10") and october.microversion == "2.102"
    assert not october.mismatched
    for line in [*october.projects, *october.servers]:
        assert line.hours.difference == pytest.approx(0, abs=1e-6), line
        assert line.vcpu_hours.difference == pytest.approx(0, abs=1e-6), line
    lines = _by_name(october)
    assert set(lines) == {"payments", "data-platform", "web-frontend", "ml-research", "ml-training"}
    pay = lines["payments"]
    # pay-db-1 resized Oct 15 02:00: Nova counts 406 h of m1.large; its 338 h of m1.medium are ours alone
    assert (pay.hours.ours, pay.hours.excluded, pay.hours.nova) == pytest.approx((2232.5, 338, 1894.5))
    assert (pay.vcpu_hours.excluded, pay.vcpu_hours.nova) == pytest.approx((676, 4600.5))
    assert lines["ml-training"].hours.nova == pytest.approx(84 - 14 / 3600)  # train-gpu-1: launched 14 s late

    # November so far: a month in progress is compared up to the last whole hour
    november = reconcile_month(metered, Window.month("2026-11"), now=dt.datetime(2026, 11, 24, 0, 30))
    assert november.window == Window(dt.datetime(2026, 11, 1), dt.datetime(2026, 11, 24))
    assert not november.mismatched
    canary = next(s for s in november.servers if s.name == "web-canary")  # m1.tiny, m1.small, then m1.medium
    assert canary.hours.excluded == pytest.approx(8.25 + 24 + 9)  # created Nov 20 15:45, Nova counts from Nov 22 09:00
    assert canary.hours.nova == pytest.approx(24 + 15)


def test_reconcile_reports_exactly_the_planted_difference(
    metered: Settings, pids: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ghost = {"id": "0b5e7d2c-6d0a-4e55-9c39-4fd1d1a0c0de", "name": "web-ghost", "project": "web-frontend",
             "flavor": "m1.large", "created": "2026-10-10T00:00:00Z", "launched_at": "2026-10-10T00:00:00",
             "terminated_at": "2026-10-11T01:30:00Z"}  # fmt: skip
    _load_fleet(FLEET | {"servers": [*FLEET["servers"], ghost]})  # Nova knows a server we never metered
    kafka = next(s["id"] for s in FLEET["servers"] if s["name"] == "dp-kafka-1")
    usage = tables.usage
    with store_for(metered).transaction() as conn:  # and we lost three hours of another one
        conn.execute(usage.delete().where(usage.c.resource_id == kafka, usage.c.charge_period_start
                                          .in_([dt.datetime(2026, 10, 7, h) for h in (3, 4, 5)])))  # fmt: skip

    result = reconcile_month(metered, Window.month("2026-10"), tolerance=Tolerance(0.01))
    lines = _by_name(result)
    assert {line.name for line in result.mismatched} == {"web-frontend", "data-platform"}
    assert lines["web-frontend"].hours.difference == pytest.approx(-25.5)
    assert lines["web-frontend"].vcpu_hours.difference == pytest.approx(-25.5 * 4)
    assert lines["data-platform"].hours.difference == pytest.approx(-3)
    assert lines["data-platform"].vcpu_hours.difference == pytest.approx(-12)
    for name in ("payments", "ml-research", "ml-training"):
        assert lines[name].hours.difference == pytest.approx(0, abs=1e-6)
    ghost_line = next(s for s in result.servers if s.resource_id == ghost["id"])
    assert (ghost_line.hours.ours, ghost_line.hours.nova) == pytest.approx((0, 25.5))
    percent = lines["data-platform"].hours.percent
    assert percent == pytest.approx(-3 / 2976 * 100)
    assert not reconcile_month(metered, Window.month("2026-10"), tolerance=Tolerance(7, relative=True)).mismatched

    config = tmp_path / "config.yaml"
    config.write_text(f"database: {{url: '{metered.database.url}'}}\nopenstack: {{cloud: {CLOUD}}}\n")
    assert main(["--config", str(config), "reconcile", "--month", "2026-10"]) == 1
    out = capsys.readouterr().out
    assert "MISMATCH: 2 of 5 projects outside tolerance" in out
    assert "web-frontend (-25.50 h, -102.00 vCPU-h)" in out and "data-platform (-3.00 h, -12.00 vCPU-h)" in out
    assert "web-ghost 0b5e7d2c" in out  # the server that makes the difference is named
    assert main(["--config", str(config), "reconcile", "--month", "2026-10", "--tolerance", "7%"]) == 0
    assert "OK: all 5 projects within tolerance." in capsys.readouterr().out
    assert main(["--config", str(config), "reconcile", "--month", "2026-10", "--format", "csv", "--servers"]) == 1
    rows = list(pd.read_csv(io.StringIO(capsys.readouterr().out)).itertuples(index=False))
    ghost_row = next(r for r in rows if r.resource_id == ghost["id"])
    assert ghost_row.hours_diff == pytest.approx(-25.5) and ghost_row.level == "server"


# ---------------------------------------------------------------- retries and failures (no service needed)


class _Answer:
    def __init__(self, status: int, body: Any = None) -> None:
        self.status_code, self._body, self.text = status, body, json.dumps(body)

    def json(self) -> Any:
        return self._body


class _Proxy:
    """Stands in for an openstacksdk proxy: answers from a script, then keeps giving the last one."""

    service_type = "compute"

    def __init__(self, *answers: _Answer | Exception) -> None:
        self.answers = list(answers)
        self.calls = 0

    def get(self, path: str, **_kwargs: Any) -> _Answer:
        self.calls += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_transient_errors_are_retried_and_terminal_ones_are_not() -> None:
    from keystoneauth1.exceptions import ConnectFailure

    from stackledger.collectors.openstack_api import Api
    from stackledger.errors import SourceError, TransientSourceError

    flaky = Api(_Proxy(_Answer(503, {}), ConnectFailure("reset"), _Answer(200, {"servers": []})), backoff_s=0)
    assert flaky.collect("/servers/detail", "servers") == [] and flaky.requests == 3
    refused = Api(_Proxy(_Answer(403, {"forbidden": {"message": "Policy doesn't allow it"}})), backoff_s=0)
    with pytest.raises(SourceError, match="HTTP 403: Policy doesn't allow it") as terminal:
        refused.get("/servers/detail")
    assert not terminal.value.transient and refused.requests == 1
    down = Api(_Proxy(ConnectFailure("refused")), retries=2, backoff_s=0)
    with pytest.raises(TransientSourceError):
        down.get("/servers/detail")
    assert down.requests == 3

    broken = nova.NovaCollector(Api(_Proxy(_Answer(500, {})), retries=1, backoff_s=0), region=REGION)
    collected = broken.collect(EVERYTHING)
    assert [(f.scope, f.transient) for f in collected.failures] == [("servers", True)] and collected.resources.empty
