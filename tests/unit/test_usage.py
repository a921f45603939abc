"""transforms.usage.hourly_usage: DESIGN §4 on tiny inline series, each figure worked by hand."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import pytest

from stackledger.errors import ConfigError
from stackledger.schema import METERS, RESOURCE_COLUMNS, SAMPLE_COLUMNS, USAGE_COLUMNS
from stackledger.transforms.usage import hourly_usage
from stackledger.window import Window

GiB = 1024**3
WINDOW = Window(dt.datetime(2026, 10, 1, 10), dt.datetime(2026, 10, 1, 12))  # hours 10:00 and 11:00


def at(hhmm: str) -> pd.Timestamp:
    return pd.Timestamp(f"2026-10-01 {hhmm}")


def sample(meter: str, hhmm: str, volume: float, resource: str = "r1", **metadata: Any) -> dict[str, Any]:
    known = METERS.get(meter)
    return {
        "message_id": f"{meter}-{resource}-{hhmm}-{volume}-{len(metadata)}",
        "meter": meter,
        "type": known.kind if known else "gauge",
        "unit": known.unit if known else "thing",
        "volume": float(volume),
        "project_id": "p1",
        "user_id": "u1",
        "resource_id": resource,
        "timestamp": at(hhmm),
        "metadata": metadata,
        "source": "openstack",
    }


def revision(
    resource: str = "r1",
    *,
    valid_from: str = "00:00",
    resource_type: str = "instance",
    started: str | None = None,
    ended: str | None = None,
    **attributes: Any,
) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(RESOURCE_COLUMNS)
    row.update(resource_id=resource, resource_type=resource_type, project_id="p1", region="RegionTwo")
    row.update(
        started_at=at(started) if started else pd.NaT,
        ended_at=at(ended) if ended else pd.NaT,
        valid_from=at(valid_from),
        valid_to=pd.NaT,
    )
    row.update(attributes)
    return row


def usage(samples: list[dict[str, Any]], resources: list[dict[str, Any]] | None = None, **kwargs: Any) -> pd.DataFrame:
    sample_frame = pd.DataFrame(samples, columns=list(SAMPLE_COLUMNS)).astype(SAMPLE_COLUMNS)
    resource_frame = pd.DataFrame(resources or [], columns=list(RESOURCE_COLUMNS)).astype(RESOURCE_COLUMNS)
    frame = hourly_usage(sample_frame, resource_frame, kwargs.pop("window", WINDOW), **kwargs)
    assert list(frame.columns) == list(USAGE_COLUMNS)
    key = ["charge_period_start", "resource_id", "service", "source", "flavor_name"]
    assert not frame.duplicated(key).any(), "usage unique key broken"
    return frame


def rows(frame: pd.DataFrame, service: str, hhmm: str = "10:00", resource: str = "r1") -> pd.DataFrame:
    return frame[
        (frame["service"] == service) & (frame["charge_period_start"] == at(hhmm)) & (frame["resource_id"] == resource)
    ]


def quantity(frame: pd.DataFrame, service: str, hhmm: str = "10:00", resource: str = "r1") -> float:
    found = rows(frame, service, hhmm, resource)
    assert len(found) == 1, f"expected one {service} row at {hhmm}, got {len(found)}"
    return float(found["consumed_quantity"].iloc[0])


# ---------------------------------------------------------------- gauges


@pytest.mark.parametrize(
    ("meter", "volume", "service", "unit", "resource_type", "expected"),
    [
        ("vcpus", 2, "compute.vcpu", "vCPU-hour", "instance", 2.0),  # 2 vCPU × 1 h
        ("memory", 2048, "compute.ram", "GiB-hour", "instance", 2.0),  # 2048 MiB / 1024 = 2 GiB × 1 h
        ("disk.root.size", 20, "compute.disk.root", "GiB-hour", "instance", 20.0),
        ("disk.ephemeral.size", 10, "compute.disk.ephemeral", "GiB-hour", "instance", 10.0),
        ("volume.size", 100, "block.volume", "GiB-hour", "volume", 100.0),
        ("snapshot.size", 5, "block.snapshot", "GiB-hour", "snapshot", 5.0),
        ("backup.size", 7, "block.backup", "GiB-hour", "backup", 7.0),
        ("image.size", 3 * GiB, "image.storage", "GiB-hour", "image", 3.0),  # 3 221 225 472 B / 1024³ = 3 GiB
    ],
)
def test_gauge_is_the_hours_reading_in_the_service_unit(
    meter: str, volume: float, service: str, unit: str, resource_type: str, expected: float
) -> None:
    frame = usage([sample(meter, "10:15", volume)])
    found = rows(frame, service)
    assert quantity(frame, service) == pytest.approx(expected)
    assert found[["consumed_unit", "resource_type", "source"]].iloc[0].tolist() == [unit, resource_type, "ceilometer"]
    assert found["charge_period_end"].iloc[0] == at("11:00")


def test_two_samples_in_one_hour_are_averaged() -> None:
    # (10 + 30) / 2 = 20 GiB-hours; the 11:00 hour has its own single reading of 30.
    frame = usage(
        [sample("volume.size", "10:10", 10), sample("volume.size", "10:40", 30), sample("volume.size", "11:05", 30)]
    )
    assert quantity(frame, "block.volume") == pytest.approx(20.0)
    assert quantity(frame, "block.volume", "11:00") == pytest.approx(30.0)


def test_samples_sharing_a_timestamp_count_once() -> None:
    frame = usage(
        [
            # gauge: instants 10:00 → 10 and 10:30 → 40; mean (10 + 40) / 2 = 25, not (10 + 10 + 40) / 3 = 20
            sample("volume.size", "10:00", 10),
            {**sample("volume.size", "10:00", 10), "message_id": "twin"},
            sample("volume.size", "10:30", 40),
            # delta: the same 1 GiB reported twice at one instant is 1 GiB
            sample("network.incoming.bytes.delta", "10:20", GiB, resource="i1"),
            {**sample("network.incoming.bytes.delta", "10:20", GiB, resource="i1"), "message_id": "twin-delta"},
        ]
    )
    assert quantity(frame, "block.volume") == pytest.approx(25.0)
    assert quantity(frame, "network.ingress", resource="i1") == pytest.approx(1.0)


def test_partial_hour_from_inventory_lifetime() -> None:
    # created 10:20 → it existed 40 of the hour's 60 minutes: 30 GiB × 2/3 = 20 GiB-hours; 11:00 is whole.
    frame = usage(
        [
            sample("volume.size", "10:25", 30),
            sample("volume.size", "11:25", 30),
            sample("cpu", "10:25", 1, resource="i1"),
        ],
        [
            revision("r1", resource_type="volume", started="10:20", valid_from="10:20", volume_type="ssd", size_gib=30),
            revision("i1", started="10:20", valid_from="10:20", flavor_name="m1.small"),
        ],
    )
    assert quantity(frame, "block.volume") == pytest.approx(20.0)
    assert quantity(frame, "block.volume", "11:00") == pytest.approx(30.0)
    assert quantity(frame, "compute.instance", resource="i1") == pytest.approx(2 / 3)


def test_deleted_instance_ended_mid_hour() -> None:
    # ended 10:45: 0.75 instance-hour and 4 vCPU × 0.75 = 3 vCPU-hours; the trailing 11:05 sample
    # falls after the deletion, so 11:00 has no rows at all.
    frame = usage(
        [sample("vcpus", "10:10", 4), sample("vcpus", "10:40", 4), sample("vcpus", "11:05", 4)],
        [revision(started="08:00", ended="10:45", flavor_name="m1.large", vcpus=4, ram_mib=8192)],
    )
    assert quantity(frame, "compute.instance") == pytest.approx(0.75)
    assert quantity(frame, "compute.vcpu") == pytest.approx(3.0)
    assert frame[frame["charge_period_start"] == at("11:00")].empty


# ---------------------------------------------------------------- instance-hours and flavors


def test_resize_splits_the_hour_between_flavors_and_switches_after() -> None:
    # m1.small until 10:30, m1.large from then: 30/60 = 0.5 instance-hour each at 10:00, then 1.0 m1.large.
    frame = usage(
        [sample("cpu", "10:10", 1), sample("cpu", "10:50", 2), sample("cpu", "11:10", 3)],
        [
            revision(started="09:00", valid_from="09:00", flavor_name="m1.small", vcpus=1, ram_mib=2048),
            revision(started="09:00", valid_from="10:30", flavor_name="m1.large", vcpus=4, ram_mib=8192),
        ],
    )
    ten = rows(frame, "compute.instance").set_index("flavor_name")
    assert ten["consumed_quantity"].to_dict() == pytest.approx({"m1.small": 0.5, "m1.large": 0.5})
    assert list(ten.loc["m1.small", ["vcpus", "ram_mib"]]) == [1.0, 2048.0]
    assert list(ten.loc["m1.large", ["vcpus", "ram_mib"]]) == [4.0, 8192.0]
    eleven = rows(frame, "compute.instance", "11:00")
    assert eleven[["flavor_name", "consumed_quantity"]].values.tolist() == [["m1.large", 1.0]]
    assert set(frame["region"]) == {"RegionTwo"}  # from inventory, not the default


@pytest.mark.parametrize(
    "metadata",
    [
        {"flavor_name": "m1.medium", "vcpus": 2, "memory_mb": 4096},
        {"instance_type": "m1.medium", "vcpus": 2, "memory_mb": 4096},  # polled / legacy notification form
        {"flavor": {"name": "m1.medium", "vcpus": 2, "ram": 4096}},  # polled metadata's flavor dict
    ],
)
def test_flavor_from_sample_metadata_without_inventory(metadata: dict[str, Any]) -> None:
    frame = usage([sample("cpu", "10:10", 1, **metadata)], default_region="RegionOne")
    found = rows(frame, "compute.instance")
    assert found[["flavor_name", "vcpus", "ram_mib", "region"]].values.tolist() == [
        ["m1.medium", 2.0, 4096.0, "RegionOne"]
    ]
    assert float(found["consumed_quantity"].iloc[0]) == 1.0  # no inventory: lifetime fraction 1


def test_metadata_resize_splits_the_hour_by_share_of_readings() -> None:
    # no inventory; 3 of 4 readings say m1.small, 1 says m1.large → 0.75 and 0.25 instance-hour.
    # vcpus and memory at the same instant as cpu are one reading, not three.
    frame = usage(
        [
            *(sample("cpu", t, 1, instance_type="m1.small") for t in ("10:05", "10:20", "10:35")),
            sample("vcpus", "10:35", 1, instance_type="m1.small"),
            sample("memory", "10:35", 2048, instance_type="m1.small"),
            sample("cpu", "10:50", 1, instance_type="m1.large"),
        ]
    )
    split = rows(frame, "compute.instance").set_index("flavor_name")["consumed_quantity"].to_dict()
    assert split == pytest.approx({"m1.small": 0.75, "m1.large": 0.25})


def test_unknown_flavor_is_an_empty_string() -> None:
    frame = usage([sample("cpu", "10:10", 1), sample("volume.size", "10:10", 5, resource="v1")])
    assert frame["flavor_name"].tolist() == ["", ""]
    assert frame["region"].isna().all()  # no inventory and no default region


# ---------------------------------------------------------------- counters and deltas


def test_cumulative_delta_belongs_to_the_later_samples_hour() -> None:
    # readings 1, 3, 4 GiB at 10:10, 10:50, 11:20: 10:00 gets 3 - 1 = 2 GiB, 11:00 gets 4 - 3 = 1 GiB.
    frame = usage([sample("network.outgoing.bytes", t, v * GiB) for t, v in (("10:10", 1), ("10:50", 3), ("11:20", 4))])
    assert quantity(frame, "network.egress") == pytest.approx(2.0)
    assert quantity(frame, "network.egress", "11:00") == pytest.approx(1.0)
    assert rows(frame, "network.egress")["consumed_unit"].iloc[0] == "GiB"


def test_counter_reset_counts_the_new_reading() -> None:
    # 5 → 7 GiB: +2 at 10:00. At 11:10 the counter dropped to 1 GiB (reboot): +1, then 1 → 2: +1 → 2 GiB.
    readings = (("10:10", 5), ("10:40", 7), ("11:10", 1), ("11:40", 2))
    frame = usage([sample("network.incoming.bytes", t, v * GiB) for t, v in readings])
    assert quantity(frame, "network.ingress") == pytest.approx(2.0)
    assert quantity(frame, "network.ingress", "11:00") == pytest.approx(2.0)


def test_cumulative_lookback_across_the_window_start() -> None:
    # 09:50 is before the window: it only serves as the predecessor. 10:10 - 09:50 = 4 - 1 = 3 GiB at 10:00;
    # the 09:00 hour itself is not returned, and a 12:05 reading (after the window) adds nothing.
    frame = usage(
        [
            sample("network.outgoing.bytes", "09:20", 0),
            sample("network.outgoing.bytes", "09:50", 1 * GiB),
            sample("network.outgoing.bytes", "10:10", 4 * GiB),
            sample("network.outgoing.bytes", "12:05", 9 * GiB),
        ]
    )
    assert frame[["charge_period_start", "consumed_quantity"]].values.tolist() == [[at("10:00"), 3.0]]


def test_delta_samples_are_summed() -> None:
    # 0.5 GiB + 1.5 GiB = 2 GiB of egress at 10:00.
    frame = usage(
        [
            sample("network.outgoing.bytes.delta", "10:10", GiB / 2),
            sample("network.outgoing.bytes.delta", "10:40", 1.5 * GiB),
        ]
    )
    assert quantity(frame, "network.egress") == pytest.approx(2.0)


def test_counter_wins_over_its_delta_twin() -> None:
    # both measure the same bytes: 3 - 1 = 2 GiB from the counter, never 2 + 2.
    frame = usage(
        [
            sample("network.outgoing.bytes", "10:10", 1 * GiB),
            sample("network.outgoing.bytes", "10:50", 3 * GiB),
            sample("network.outgoing.bytes.delta", "10:50", 2 * GiB),
        ]
    )
    assert quantity(frame, "network.egress") == pytest.approx(2.0)


# ---------------------------------------------------------------- floating IPs


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ((1, 1), 1.0),  # active throughout: one IP-hour
        ((1, 3), 0.5),  # active, then down: half of the readings active
        ((1, 1, 1, 7), 0.75),  # error at the last reading: 3 of 4
        ((3, 7), None),  # never active: no row
        ((-1,), None),  # unknown status is not active
    ],
)
def test_floating_ip_is_the_share_of_active_readings(statuses: tuple[int, ...], expected: float | None) -> None:
    times = ("10:05", "10:20", "10:35", "10:50")
    frame = usage([sample("ip.floating", t, s, resource="fip") for t, s in zip(times, statuses, strict=False)])
    found = rows(frame, "network.floating_ip", resource="fip")
    if expected is None:
        assert found.empty
    else:
        assert quantity(frame, "network.floating_ip", resource="fip") == pytest.approx(expected)
        assert found[["consumed_unit", "resource_type"]].iloc[0].tolist() == ["IP-hour", "floating_ip"]


def test_floating_ip_allocated_mid_hour() -> None:
    # allocated 10:30 and active: 1 × 30/60 = 0.5 IP-hour.
    frame = usage(
        [sample("ip.floating", "10:40", 1, resource="fip")],
        [revision("fip", resource_type="floating_ip", started="10:30", valid_from="10:30")],
    )
    assert quantity(frame, "network.floating_ip", resource="fip") == pytest.approx(0.5)


# ---------------------------------------------------------------- what is ignored, attributes, edges


def test_samples_outside_the_window_are_ignored() -> None:
    frame = usage([sample("volume.size", "09:59", 10), sample("volume.size", "12:00", 10), sample("cpu", "12:30", 1)])
    assert frame.empty
    assert list(frame.columns) == list(USAGE_COLUMNS)


def test_unknown_meter_is_ignored() -> None:
    frame = usage([sample("disk.device.read.bytes", "10:10", 123), sample("volume.size", "10:10", 1)])
    assert frame["service"].tolist() == ["block.volume"]


def test_volume_type_from_inventory_else_metadata() -> None:
    frame = usage(
        [
            sample("volume.size", "10:10", 1, resource="v1", volume_type="meta"),
            sample("volume.size", "10:10", 1, resource="v2", volume_type="meta"),
        ],
        [revision("v1", resource_type="volume", volume_type="ssd")],
        default_region="RegionOne",
    )
    by_volume = frame.set_index("resource_id")
    assert by_volume["volume_type"].to_dict() == {"v1": "ssd", "v2": "meta"}
    assert by_volume["region"].to_dict() == {"v1": "RegionTwo", "v2": "RegionOne"}


def test_source_is_the_callers() -> None:
    frame = usage([sample("volume.size", "10:10", 1)], source="gnocchi")
    assert frame["source"].tolist() == ["gnocchi"]


def test_window_must_be_whole_hours() -> None:
    with pytest.raises(ConfigError, match="on the hour"):
        usage(
            [sample("volume.size", "10:10", 1)],
            window=Window(dt.datetime(2026, 10, 1, 10, 30), dt.datetime(2026, 10, 1, 12)),
        )


def test_first_revision_holds_before_it_was_recorded() -> None:
    # the inventory first saw the server at 10:30, but it has run since 09:00: the whole 10:00 hour
    # is 1.0 instance-hour of the first revision's flavor, not 0.5.
    frame = usage([sample("cpu", "10:10", 1)], [revision(started="09:00", valid_from="10:30", flavor_name="m1.small")])
    found = rows(frame, "compute.instance")
    assert found[["flavor_name", "consumed_quantity"]].values.tolist() == [["m1.small", 1.0]]


def test_output_does_not_depend_on_sample_order() -> None:
    samples = [
        *(sample("cpu", t, 1, resource=r, instance_type="m1.small") for t in ("10:05", "11:05") for r in ("b", "a")),
        *(sample("network.incoming.bytes", t, v * GiB, resource="a") for t, v in (("10:10", 1), ("10:40", 3))),
        sample("volume.size", "10:10", 3, resource="v"),
    ]
    forward = usage(samples)
    assert forward["resource_id"].tolist() == ["a", "a", "b", "v", "a", "b"]  # hour, then resource, then service
    pd.testing.assert_frame_equal(forward, usage(samples[::-1]))
