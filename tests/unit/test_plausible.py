"""collectors.plausible: the timestamp range and the volumes rating can represent exactly."""

from __future__ import annotations

import datetime as dt

import pytest

from stackledger.collectors.plausible import Bounds, problem
from stackledger.collectors.samples import parse_message
from stackledger.errors import InputError
from stackledger.transforms.money import MAX_EXACT_QUANTITY, NANO

NOW = dt.datetime(2026, 12, 6, 9, 0)
BOUNDS = Bounds(NOW)
RANGE = "the plausible range 2000-01-01 to now + 24 h (ingest.plausible_from, ingest.plausible_ahead_hours)"


BIG = "the largest vcpus volume rated exactly (4,611,686,018 vCPU-hour)"


@pytest.mark.parametrize(
    ("timestamp", "volume", "meter", "kind", "reason"),
    [
        (dt.datetime(2026, 10, 1), 1.0, "vcpus", "gauge", None),
        (dt.datetime(2000, 1, 1), 0.0, "vcpus", "gauge", None),
        (dt.datetime(2026, 12, 7, 8, 59, 59), 1.0, "cpu", "cumulative", None),
        (dt.datetime(2026, 10, 1), -5.0, "disk.device.read.bytes.delta", "delta", None),  # not rated
        (dt.datetime(2026, 10, 1), -5.0, "network.outgoing.bytes.delta", "delta",
         "negative volume -5 for delta meter network.outgoing.bytes.delta, which is rated: usage cannot be negative"),
        (dt.datetime(2026, 10, 1), -1.0, "ip.floating", "gauge", None),
        (dt.datetime(2026, 10, 1), float(MAX_EXACT_QUANTITY), "vcpus", "gauge", None),
        (dt.datetime(2026, 10, 1), 9e18, "cpu", "cumulative", None),  # ns: not rated by volume
        (dt.datetime(2026, 10, 1), 9e18, "disk.device.read.bytes", "cumulative", None),  # unknown: not rated
        (dt.datetime(2026, 10, 1), 4e18, "network.outgoing.bytes", "cumulative", None),  # 3.7e9 GiB
        (dt.datetime(1970, 1, 1), 1.0, "vcpus", "gauge", f"timestamp 1970-01-01T00:00:00 is outside {RANGE}"),
        (dt.datetime(1999, 12, 31, 23, 59, 59), 1.0, "x", "gauge",
         f"timestamp 1999-12-31T23:59:59 is outside {RANGE}"),
        (dt.datetime(2026, 12, 7, 9), 1.0, "vcpus", "gauge", f"timestamp 2026-12-07T09:00:00 is outside {RANGE}"),
        (dt.datetime(9999, 12, 31, 23, 59, 59), 1.0, "vcpus", "gauge",
         f"timestamp 9999-12-31T23:59:59 is outside {RANGE}"),
        (dt.datetime(2026, 10, 1), float("nan"), "vcpus", "gauge", "counter_volume nan is not a finite number"),
        (dt.datetime(2026, 10, 1), float("-inf"), "x", "delta", "counter_volume -inf is not a finite number"),
        (dt.datetime(2026, 10, 1), -0.5, "vcpus", "gauge",
         "negative volume -0.5 for gauge meter vcpus, which cannot go below 0"),
        (dt.datetime(2026, 10, 1), -0.5, "x", "cumulative",
         "negative volume -0.5 for cumulative meter x, which cannot go below 0"),
        (dt.datetime(2026, 10, 1), 1e308, "vcpus", "gauge", f"counter_volume 1e+308 is above 4.61169e+09, {BIG}"),
        (dt.datetime(2026, 10, 1), 5e18, "network.outgoing.bytes", "cumulative",
         "counter_volume 5e+18 is above 4.95176e+18, the largest network.outgoing.bytes volume rated exactly "
         "(4,611,686,018 GiB)"),
        (dt.datetime(2026, 10, 1), 5e18, "network.outgoing.bytes.delta", "delta",
         "counter_volume 5e+18 is above 4.95176e+18, the largest network.outgoing.bytes.delta volume rated "
         "exactly (4,611,686,018 GiB)"),
    ],
)  # fmt: skip
def test_problem(timestamp: dt.datetime, volume: float, meter: str, kind: str, reason: str | None) -> None:
    assert problem(timestamp, volume, meter, kind, BOUNDS) == reason


def test_the_bound_is_the_one_rating_enforces() -> None:
    """One constant: a quantity at the bound still fits the exact arithmetic of transforms.money."""
    assert MAX_EXACT_QUANTITY == 2**62 // NANO == 4_611_686_018


def test_the_range_is_configurable() -> None:
    bounds = Bounds(NOW, earliest=dt.datetime(1970, 1, 1), ahead=dt.timedelta(0))
    assert problem(dt.datetime(1970, 1, 1), 1.0, "vcpus", "gauge", bounds) is None
    assert problem(NOW, 1.0, "vcpus", "gauge", bounds) == (
        "timestamp 2026-12-06T09:00:00 is outside the plausible range 1970-01-01 to now + 0 h "
        "(ingest.plausible_from, ingest.plausible_ahead_hours)")  # fmt: skip


def sample(**changes: object) -> dict[str, object]:
    return {"message_id": "m1", "counter_name": "cpu", "counter_type": "cumulative", "counter_unit": "ns",
            "counter_volume": 1.0, "resource_id": "r1", "timestamp": "2026-10-01T00:00:00+00:00",
            **changes}  # fmt: skip


def test_the_parser_checks_only_when_given_bounds() -> None:
    late = sample(timestamp="9999-12-31T23:59:59+00:00")
    assert parse_message(late, "line 1")[0]["timestamp"] == dt.datetime(9999, 12, 31, 23, 59, 59)
    with pytest.raises(InputError, match=r"^line 1: timestamp 9999-12-31T23:59:59 is outside the plausible"):
        parse_message(late, "line 1", bounds=BOUNDS)


def test_todays_reasons_come_first() -> None:
    """NaN and negative gauges keep the parser's own reasons (dead letters already carry them)."""
    with pytest.raises(InputError, match="negative volume -1 for cumulative meter cpu"):
        parse_message(sample(counter_volume=-1), "line 1", bounds=BOUNDS)
    big = sample(counter_name="vcpus", counter_type="gauge", counter_unit="vcpu", counter_volume=1e308)
    with pytest.raises(InputError, match=r"counter_volume 1e\+308 is above 4.61169e\+09, the largest vcpus"):
        parse_message(big, "line 1", bounds=BOUNDS)


def test_one_implausible_sample_of_a_notification_is_rejected_alone() -> None:
    notification = {"event_type": "metering", "priority": "SAMPLE",
                    "payload": [sample(), sample(message_id="m2", timestamp="1970-01-01T00:00:00Z")]}  # fmt: skip
    rejects: list[InputError] = []
    rows = parse_message(notification, "line 3", rejects=rejects, bounds=BOUNDS)
    assert [row["message_id"] for row in rows] == ["m1"]
    assert [str(error) for error in rejects] == [f"line 3 sample 2: timestamp 1970-01-01T00:00:00 is outside {RANGE}"]
