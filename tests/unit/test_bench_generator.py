"""benchmarks.e2e.generator: Ceilometer samples of a benchmark fleet, every line read by the real parser."""

from __future__ import annotations

import datetime as dt
import gzip
import itertools
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

from benchmarks.e2e.fleet import POLL, Churn, FleetSpec, build_fleet
from benchmarks.e2e.generator import generate, read_generated
from stackledger.collectors.samples import parse_message

INSTANCE_METERS = ("vcpus", "memory", "disk.root.size", "cpu", "network.incoming.bytes", "network.outgoing.bytes")
# Much more churn than the benchmark's, so that one day of a few instances shows every kind of it.
BUSY = Churn(instance_replace=3, ephemeral_share=0.3, resize=4, reboot=4, volume_replace=2, volume_retype=4,
             volume_extend=4)  # fmt: skip


def read_rows(path: Path) -> list[dict[str, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    rows = []
    with opener(path, "rb") as lines:
        for number, line in enumerate(lines, 1):
            found = parse_message(line, f"{path.name} line {number}")
            assert len(found) == 1  # one raw sample per line, not an envelope
            rows += found
    return rows


@pytest.fixture(scope="module")
def steady(tmp_path_factory: pytest.TempPathFactory) -> tuple[FleetSpec, list[dict[str, Any]]]:
    spec = FleetSpec(instances=6, days=1, seed=3, churn=Churn.none())
    path = tmp_path_factory.mktemp("steady") / "samples.jsonl.gz"
    generate(spec, path)
    return spec, read_rows(path)


@pytest.fixture(scope="module")
def busy(tmp_path_factory: pytest.TempPathFactory) -> tuple[FleetSpec, list[dict[str, Any]]]:
    spec = FleetSpec(instances=60, days=1, seed=5, churn=BUSY)
    path = tmp_path_factory.mktemp("busy") / "samples.jsonl.gz"
    generate(spec, path)
    return spec, read_rows(path)


def test_without_churn_every_resource_has_each_meter_every_10_minutes(steady) -> None:
    spec, rows = steady
    counts = Counter(row["meter"] for row in rows)
    assert counts == {**dict.fromkeys(INSTANCE_METERS, 6 * 144), "volume.size": 3 * 144}
    times: dict[tuple[str, str], list[dt.datetime]] = defaultdict(list)
    for row in rows:
        times[row["resource_id"], row["meter"]].append(row["timestamp"])
    assert len(times) == 6 * 6 + 3  # an interface per instance: its own resource id
    for stamps in times.values():
        assert all(spec.start <= t < spec.end for t in stamps)
        assert {b - a for a, b in itertools.pairwise(stamps)} == {POLL}


def test_counts_per_meter_follow_lifetimes_under_churn(busy) -> None:
    spec, rows = busy
    fleet = build_fleet(spec)

    def polls(offset: dt.timedelta, start: dt.datetime, end: dt.datetime | None) -> int:
        instants = (spec.start + k * POLL + offset for k in range(spec.polls))
        return sum(1 for at in instants if start <= at and (end is None or at < end))

    alive_polls = sum(polls(i.agent.offset, i.created_at, i.deleted_at) for i in fleet.instances)
    volume_polls = sum(polls(fleet.central.offset, v.created_at, v.deleted_at) for v in fleet.volumes)
    counts = Counter(row["meter"] for row in rows)
    assert counts == {**dict.fromkeys(INSTANCE_METERS, alive_polls), "volume.size": volume_polls}
    assert sum(1 for i in fleet.instances if i.deleted_at is not None) > 5  # churn did happen
    assert sum(1 for i in fleet.instances if i.created_at > spec.start) > 5


def test_resizes_resets_retypes_and_extensions_show_in_the_samples(busy) -> None:
    _, rows = busy
    flavors: dict[str, list[tuple[str, float]]] = defaultdict(list)
    volumes: dict[str, set[tuple[str, float]]] = defaultdict(set)
    previous: dict[tuple[str, str], float] = {}
    resets = Counter()
    for row in rows:
        meta = row["metadata"]
        if row["meter"] == "vcpus":
            assert meta["vcpus"] == meta["flavor"]["vcpus"] == row["volume"]
            flavors[row["resource_id"]].append((meta["instance_type"], row["volume"]))
        elif row["meter"] == "volume.size":
            volumes[row["resource_id"]].add((meta["volume_type"], row["volume"]))
        if row["type"] == "cumulative":
            key = (row["resource_id"], row["meter"])
            if row["volume"] < previous.get(key, 0):
                resets[row["meter"]] += 1
            previous[key] = row["volume"]
    resized = [seen for seen in flavors.values() if len(set(seen)) > 1]
    assert resized
    assert all(len({name for name, _ in seen}) == len(set(seen)) for seen in resized)  # name and size move together
    assert resets.keys() == {"cpu", "network.incoming.bytes", "network.outgoing.bytes"}
    assert {t for seen in volumes.values() for t, _ in seen} == {"standard", "ssd"}
    assert any(len({t for t, _ in seen}) > 1 for seen in volumes.values())  # retyped
    assert any(len({size for _, size in seen}) > 1 for seen in volumes.values())  # extended


def test_message_ids_are_unique_uuid1(busy) -> None:
    _, rows = busy
    ids = [row["message_id"] for row in rows]
    assert len(set(ids)) == len(ids)
    assert {uuid.UUID(i).version for i in ids} == {1}


def test_ratio_of_the_issue(busy) -> None:
    spec, rows = busy
    assert len(build_fleet(spec).projects) == 3  # N / 20
    assert len({row["project_id"] for row in rows}) == 3
    volumes = {row["resource_id"] for row in rows if row["meter"] == "volume.size"}
    alive_at_end = [v for v in build_fleet(spec).volumes if v.deleted_at is None]
    assert len(alive_at_end) == spec.instances // 2  # one volume slot per two instances
    assert volumes >= {v.volume_id for v in alive_at_end}


@pytest.mark.parametrize("name", ["samples.jsonl", "samples.jsonl.gz"])
def test_deterministic_for_a_seed(tmp_path: Path, name: str) -> None:
    spec = FleetSpec(instances=8, days=1, seed=11, churn=BUSY)
    first, again, other = (tmp_path / run / name for run in ("a", "b", "c"))
    for path in (first, again, other):
        path.parent.mkdir()
    generate(spec, first)
    generate(spec, again)
    generate(FleetSpec(instances=8, days=1, seed=12, churn=BUSY), other)
    assert first.read_bytes() == again.read_bytes()  # compressed too: the gzip header holds no time
    assert first.read_bytes() != other.read_bytes()


def test_the_sidecar_describes_the_file(tmp_path: Path) -> None:
    path = tmp_path / "samples.jsonl.gz"
    spec = FleetSpec(instances=4, days=1, seed=1)
    result = generate(spec, path)
    assert read_generated(path) == result
    assert result.samples == sum(result.per_meter.values()) == len(read_rows(path))
    assert result.file_bytes == path.stat().st_size < result.raw_bytes
    assert not list(tmp_path.glob("*.partial"))
