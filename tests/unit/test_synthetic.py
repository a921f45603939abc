"""collectors.synthetic: a deterministic, realistic month of Ceilometer telemetry and its ground truth."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

import pandas as pd
import pytest

from stackledger.collectors import synthetic
from stackledger.collectors.samples import parse_message, parse_timestamp
from stackledger.collectors.synthetic.spec import FLAVORS
from stackledger.errors import ConfigError
from stackledger.schema import INSTANCE_PRESENCE_METERS, PROJECT_COLUMNS, RESOURCE_COLUMNS, validate_frame
from stackledger.window import Window

MONTH = Window.month("2026-10")
# The keys of publisher/utils.py::meter_message_from_counter (no publisher_id: it is optional).
CEILOMETER_KEYS = {
    "source", "counter_name", "counter_type", "counter_unit", "counter_volume", "user_id", "user_name",
    "project_id", "project_name", "resource_id", "timestamp", "resource_metadata", "message_id",
    "monotonic_time", "message_signature",
}  # fmt: skip
ENVELOPE_KEYS = {"message_id", "publisher_id", "event_type", "priority", "payload", "timestamp", "_context"}


@pytest.fixture(scope="module")
def cloud() -> synthetic.SyntheticCloud:
    return synthetic.generate_cloud("2026-10")


@pytest.fixture(scope="module")
def wire(cloud: synthetic.SyntheticCloud) -> list[dict[str, Any]]:
    """Every message as it would be read back from the JSON-lines file."""
    return [json.loads(json.dumps(message)) for message in synthetic.messages(cloud)]


@pytest.fixture(scope="module")
def samples(wire: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The Ceilometer sample dicts, unwrapped from their envelopes."""
    return list(_unwrap(wire))


def _unwrap(messages: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for message in messages:
        if "oslo.message" in message:
            yield from json.loads(message["oslo.message"])["payload"]
        else:
            yield message


def _digest(messages: Iterable[dict[str, Any]]) -> str:
    digest = hashlib.sha256()
    for message in messages:
        digest.update(json.dumps(message).encode())
    return digest.hexdigest()


# ---------------------------------------------------------------- determinism


def test_same_seed_gives_the_same_cloud_and_the_same_bytes(
    cloud: synthetic.SyntheticCloud, wire: list[dict[str, Any]]
) -> None:
    again = synthetic.generate_cloud("2026-10")
    pd.testing.assert_frame_equal(synthetic.projects_frame(again), synthetic.projects_frame(cloud))
    pd.testing.assert_frame_equal(synthetic.resources_frame(again), synthetic.resources_frame(cloud))
    pd.testing.assert_frame_equal(synthetic.expected_usage(again), synthetic.expected_usage(cloud))
    assert _digest(synthetic.messages(again)) == _digest(wire)


def test_another_seed_gives_another_cloud(cloud: synthetic.SyntheticCloud) -> None:
    other = synthetic.generate_cloud("2026-10", seed=synthetic.DEFAULT_SEED + 1, poll_minutes=60)
    ids = set(synthetic.resources_frame(cloud)["resource_id"])
    assert ids.isdisjoint(synthetic.resources_frame(other)["resource_id"])
    assert next(synthetic.messages(other)) != next(synthetic.messages(cloud))


@pytest.mark.parametrize("minutes", [0, 7, 45, 90])
def test_poll_interval_must_divide_an_hour(minutes: int) -> None:
    with pytest.raises(ConfigError, match="poll_minutes"):
        synthetic.generate_cloud("2026-10", poll_minutes=minutes)


# ---------------------------------------------------------------- the cloud's shape


def test_projects_twelve_in_three_teams_with_tags_and_a_nested_one(cloud: synthetic.SyntheticCloud) -> None:
    projects = synthetic.projects_frame(cloud)
    validate_frame(projects, PROJECT_COLUMNS, stage="test")
    assert len(projects) >= 12
    assert set(projects["team"]) == {"payments", "search", "ml-research"}
    assert (projects["source"] == "synthetic").all()
    for row in projects.itertuples():
        assert f"team:{row.team}" in row.tags
        assert f"cost-center:{row.cost_center}" in row.tags
        assert "synthetic" in row.tags
    parents = projects["parent_id"].dropna()
    assert len(parents) >= 1
    assert set(parents) <= set(projects["project_id"])
    assert projects["project_id"].str.fullmatch(r"[0-9a-f]{32}").all()  # Keystone ids


def test_resources_have_revisions_resizes_deletions_and_every_type(cloud: synthetic.SyntheticCloud) -> None:
    resources = synthetic.resources_frame(cloud)
    validate_frame(resources, RESOURCE_COLUMNS, stage="test")
    assert set(resources["resource_type"]) == {"instance", "volume", "snapshot", "backup", "image", "floating_ip"}
    instances = resources[resources["resource_type"] == "instance"]
    assert set(instances["flavor_name"]) <= {"m1.tiny", "m1.small", "m1.medium", "m1.large", "m1.xlarge"}
    assert set(resources["volume_type"].dropna()) == {"standard", "ssd"}

    resized = instances[instances.duplicated("resource_id", keep=False)].sort_values("valid_from")
    assert resized["resource_id"].nunique() >= 1
    for _, rows in resized.groupby("resource_id"):
        first, second = rows.iloc[0], rows.iloc[1]
        assert first["flavor_name"] != second["flavor_name"]
        assert first["valid_to"] == second["valid_from"]
        assert MONTH.start < second["valid_from"] < MONTH.end
        assert pd.isna(second["valid_to"])

    in_month = lambda column: instances[(instances[column] >= MONTH.start) & (instances[column] < MONTH.end)]  # noqa: E731
    assert len(in_month("ended_at")) >= 3  # deleted mid-month
    assert len(in_month("started_at")) >= 3  # created mid-month
    assert (instances["started_at"] < MONTH.start).sum() >= 10  # running before the month
    assert instances["ended_at"].isna().sum() >= 10  # still running after it


def test_resource_ids_are_unique_per_revision(cloud: synthetic.SyntheticCloud) -> None:
    resources = synthetic.resources_frame(cloud)
    assert not resources.duplicated(["resource_id", "valid_from"]).any()


# ---------------------------------------------------------------- the messages


def test_samples_have_ceilometer_keys_and_are_labelled_synthetic(samples: list[dict[str, Any]]) -> None:
    for sample in samples:
        assert set(sample) == CEILOMETER_KEYS
        assert sample["source"] == "openstack"
        assert sample["message_signature"] == ""
        assert sample["resource_metadata"]["synthetic"] is True
        assert sample["counter_type"] in ("gauge", "cumulative")


def test_message_ids_are_unique_version_1_uuids(samples: list[dict[str, Any]]) -> None:
    ids = [sample["message_id"] for sample in samples]
    assert len(set(ids)) == len(ids)
    assert all(uuid.UUID(i).version == 1 for i in ids[:2000])


def test_some_messages_are_oslo_envelopes_with_payload_lists(wire: list[dict[str, Any]]) -> None:
    envelopes = [m for m in wire if "oslo.message" in m]
    raw = [m for m in wire if "oslo.message" not in m]
    assert envelopes and raw
    for envelope in envelopes:
        assert set(envelope) == {"oslo.version", "oslo.message"}
        assert envelope["oslo.version"] == "2.0"
        inner = json.loads(envelope["oslo.message"])
        assert set(inner) == ENVELOPE_KEYS
        assert inner["event_type"] == "metering" and inner["priority"] == "SAMPLE"
        assert isinstance(inner["payload"], list) and 1 <= len(inner["payload"]) <= 100
        assert " " in inner["timestamp"] and "T" not in inner["timestamp"]  # str(utcnow())


def test_timestamps_come_in_the_real_mixed_forms(samples: list[dict[str, Any]]) -> None:
    polled = [s for s in samples if s["monotonic_time"] is not None]
    notified = [s for s in samples if s["monotonic_time"] is None]
    assert polled and notified
    assert all("+" not in s["timestamp"] and "T" in s["timestamp"] for s in polled)  # utcnow().isoformat()
    assert all(s["timestamp"].endswith("+00:00") for s in notified)  # parse_isotime(...).isoformat()
    assert all(s["project_name"] for s in polled) and not any(s["project_name"] for s in notified)


def test_samples_stay_in_the_month_and_arrive_in_order(wire: list[dict[str, Any]]) -> None:
    def arrival(message: dict[str, Any]) -> dt.datetime:
        if "oslo.message" in message:
            return parse_timestamp(json.loads(message["oslo.message"])["timestamp"], "test")
        return parse_timestamp(message["timestamp"], "test")

    times = [arrival(m) for m in wire]
    assert times == sorted(times)
    assert MONTH.start <= times[0] and times[-1] < MONTH.end


def test_instance_metadata_is_what_the_pollster_and_meters_yaml_give(samples: list[dict[str, Any]]) -> None:
    cpu = next(s for s in samples if s["counter_name"] == "cpu")
    meta = cpu["resource_metadata"]
    for key in ("display_name", "instance_type", "flavor", "vcpus", "memory_mb", "disk_gb", "root_gb",
                "ephemeral_gb", "host", "instance_host", "status", "state", "image_ref", "user_metadata"):  # fmt: skip
        assert key in meta
    assert meta["flavor"]["name"] == meta["instance_type"]
    vcpus = next(s for s in samples if s["counter_name"] == "vcpus")
    assert {"flavor_name", "flavor_id", "display_name", "event_type"} <= set(vcpus["resource_metadata"])
    volume = next(s for s in samples if s["counter_name"] == "volume.size")
    assert "volume_type" in volume["resource_metadata"]


def test_units_and_types_are_ceilometers(samples: list[dict[str, Any]]) -> None:
    expected = {
        "cpu": ("cumulative", "ns"), "vcpus": ("gauge", "vcpu"), "memory": ("gauge", "MiB"),
        "disk.root.size": ("gauge", "GiB"), "volume.size": ("gauge", "GiB"), "snapshot.size": ("gauge", "GiB"),
        "backup.size": ("gauge", "GiB"), "image.size": ("gauge", "B"), "ip.floating": ("gauge", "ip"),
        "network.incoming.bytes": ("cumulative", "B"), "network.outgoing.bytes": ("cumulative", "B"),
    }  # fmt: skip
    seen = {(s["counter_name"], s["counter_type"], s["counter_unit"]) for s in samples}
    assert seen == {(meter, kind, unit) for meter, (kind, unit) in expected.items()}


def test_a_counter_resets_once_after_the_reboot(samples: list[dict[str, Any]]) -> None:
    last: dict[tuple[str, str], float] = {}
    drops = []
    for s in samples:
        if s["counter_type"] != "cumulative":
            continue
        key = (s["resource_id"], s["counter_name"])
        if key in last and s["counter_volume"] < last[key]:
            drops.append((s["resource_metadata"]["instance_id"], s["counter_name"]))
        last[key] = s["counter_volume"]
    assert sorted(meter for _, meter in drops) == ["cpu", "network.incoming.bytes", "network.outgoing.bytes"]
    assert len({instance for instance, _ in drops}) == 1  # the rebooted one


def test_floating_ip_status_codes_include_down(samples: list[dict[str, Any]]) -> None:
    statuses = {s["counter_volume"] for s in samples if s["counter_name"] == "ip.floating"}
    assert statuses == {1, 3}


def test_every_hour_an_instance_lives_in_has_a_presence_reading(
    cloud: synthetic.SyntheticCloud, samples: list[dict[str, Any]]
) -> None:
    """What makes the ground truth exact: no hour of an instance's life is without a reading."""
    seen: dict[str, set[dt.datetime]] = defaultdict(set)
    for s in samples:
        if s["counter_name"] in INSTANCE_PRESENCE_METERS:
            stamp = parse_timestamp(s["timestamp"], "test")
            seen[s["resource_id"]].add(stamp.replace(minute=0, second=0, microsecond=0))
    for instance in cloud.of_type("instance"):
        hour = max(instance.started_at, MONTH.start).replace(minute=0, second=0, microsecond=0)
        end = min(instance.ended_at or MONTH.end, MONTH.end)
        missing = []
        while hour < end:
            if hour not in seen[instance.resource_id]:
                missing.append(hour)
            hour += dt.timedelta(hours=1)
        assert not missing, f"{instance.name}: no reading in {missing[:3]}"


def test_the_first_day_parses_without_a_rejection(wire: list[dict[str, Any]]) -> None:
    """Cross-check with the real parser (collectors.samples), on the first day of lines."""
    lines = [json.dumps(m) for m in wire[: len(wire) // 31]]
    rows = [row for number, line in enumerate(lines, 1) for row in parse_message(line, f"line {number}")]
    assert len(rows) >= len(lines)
    assert {row["source"] for row in rows} == {"openstack"}


# ---------------------------------------------------------------- ground truth


def test_expected_usage_follows_lifetimes_and_resizes(cloud: synthetic.SyntheticCloud) -> None:
    truth = synthetic.expected_usage(cloud)
    hours = truth[truth["service"] == "compute.instance"]
    per_instance = hours.groupby("resource_id")["consumed_quantity"].sum()
    for instance in cloud.of_type("instance"):
        alive = min(instance.ended_at or MONTH.end, MONTH.end) - max(instance.started_at, MONTH.start)
        assert per_instance[instance.resource_id] == pytest.approx(alive / dt.timedelta(hours=1), abs=1e-9)
    resized = hours[hours.duplicated("resource_id", keep=False)]
    assert resized["resource_id"].nunique() == 2
    assert (hours["consumed_quantity"] <= MONTH.hours + 1e-9).all()
    vcpu = truth[truth["service"] == "compute.vcpu"]
    vcpu = vcpu.set_index(["resource_id", "flavor_name"])["consumed_quantity"]
    flavors = {f.name: f.vcpus for f in FLAVORS}
    for row in hours.itertuples():
        expected = row.consumed_quantity * flavors[row.flavor_name]
        assert vcpu[(row.resource_id, row.flavor_name)] == pytest.approx(expected)


def test_expected_usage_covers_every_service_with_data(cloud: synthetic.SyntheticCloud) -> None:
    truth = synthetic.expected_usage(cloud)
    assert set(truth["service"]) == {
        "compute.instance", "compute.vcpu", "compute.ram", "compute.disk.root", "block.volume", "block.snapshot",
        "block.backup", "image.storage", "network.floating_ip", "network.egress", "network.ingress",
    }  # fmt: skip
    ssd = truth[(truth["service"] == "block.volume") & (truth["volume_type"] == "ssd")]
    assert len(ssd) >= 3
    ips = truth[truth["service"] == "network.floating_ip"].set_index("resource_id")["consumed_quantity"]
    assert (ips <= MONTH.hours).all()
    for ip in cloud.of_type("floating_ip"):
        if ip.down is not None and ip.ended_at is None and ip.started_at < MONTH.start:
            down_hours = (ip.down[1] - ip.down[0]) / dt.timedelta(hours=1)
            assert ips[ip.resource_id] == pytest.approx(MONTH.hours - down_hours)  # DOWN hours are not billed
