"""compute_usage against a real store (SQLite and PostgreSQL): stored samples and inventory in,
hourly usage rows out; a re-run of the window replaces its rows, never adds to them; rating
stores the same usage together with its cost lines."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import func, select

from stackledger.errors import PricingError
from stackledger.pipeline import compute_usage, load_usage
from stackledger.pipeline.base import store_for
from stackledger.pipeline.rate import Rater, internal_rater, rate_window
from stackledger.schema import METERS, USAGE_COLUMNS
from stackledger.settings import Settings
from stackledger.store import tables
from stackledger.window import Window
from tests.stored_samples import store_records

GiB = 1024**3
WINDOW = Window(dt.datetime(2026, 10, 1, 10), dt.datetime(2026, 10, 1, 12))


def at(hhmm: str) -> dt.datetime:
    hour, minute = map(int, hhmm.split(":"))
    return dt.datetime(2026, 10, 1, hour, minute)


def sample(meter: str, resource: str, hhmm: str, volume: float, **metadata: Any) -> dict[str, Any]:
    return {
        "message_id": f"{meter}/{resource}/{hhmm}",
        "meter": meter,
        "type": METERS[meter].kind if meter in METERS else "gauge",
        "unit": METERS[meter].unit if meter in METERS else "thing",
        "volume": volume,
        "project_id": "p1",
        "user_id": "u1",
        "resource_id": resource,
        "timestamp": at(hhmm),
        "metadata": metadata,
        "source": "openstack",
        "ingested_at": dt.datetime(2026, 10, 2),
    }


def revision(resource: str, resource_type: str, valid_from: str, **attributes: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(tables.resources.c.keys())
    row.update(resource_id=resource, resource_type=resource_type, project_id="p1", region="RegionTwo", source="nova")
    row.update(valid_from=at(valid_from), started_at=at("09:00"))
    row.update(attributes)
    return row


SAMPLES = [
    *(sample("cpu", "i1", t, 1e9, instance_type="stale-name") for t in ("10:10", "10:50", "11:10")),
    sample("vcpus", "i1", "10:10", 1),
    sample("vcpus", "i1", "10:50", 4),
    sample("network.outgoing.bytes", "i1", "09:30", 1 * GiB),  # lookback: the predecessor only
    sample("network.outgoing.bytes", "i1", "10:30", 3 * GiB),
    sample("volume.size", "v1", "10:25", 30, volume_type="meta"),
    sample("ip.floating", "fip", "10:05", 1),
    sample("ip.floating", "fip", "10:35", 3),
    sample("volume.size", "v1", "12:30", 30),  # after the window
    sample("volume.size", "gone", "10:02", 5),  # trailing sample of a volume deleted at 09:58
    sample("disk.device.read.bytes", "i1", "10:10", 5),  # not a meter we rate
]
RESOURCES = [
    revision("i1", "instance", "09:00", flavor_name="m1.small", vcpus=1, ram_mib=2048, valid_to=at("10:30")),
    revision("i1", "instance", "10:30", flavor_name="m1.large", vcpus=4, ram_mib=8192),
    revision("v1", "volume", "10:20", volume_type="ssd", size_gib=30, started_at=at("10:20")),
    revision("old", "volume", "01:00", started_at=at("01:00"), ended_at=at("02:00")),  # not loaded
    # deleted at 09:58; only the later revision says so, yet the lifetime is the resource's
    revision("gone", "volume", "08:00", valid_to=at("09:00")),
    revision("gone", "volume", "09:00", ended_at=at("09:58")),
]
KEPT = [(at("10:00"), "gnocchi"), (at("12:00"), "ceilometer")]  # rows of another source, another window


def kept_row(charge_period_start: dt.datetime, source: str) -> dict[str, Any]:
    return {
        "charge_period_start": charge_period_start,
        "charge_period_end": charge_period_start + dt.timedelta(hours=1),
        "project_id": "p1",
        "resource_id": "v1",
        "resource_type": "volume",
        "service": "block.volume",
        "consumed_quantity": 1.0,
        "consumed_unit": "GiB-hour",
        "flavor_name": "",
        "source": source,
    }


@pytest.fixture
def stored(any_settings: Settings) -> Settings:
    store = store_for(any_settings)
    store_records(store, SAMPLES)
    with store.transaction() as conn:
        store.insert(conn, tables.resources, RESOURCES)
        store.insert(conn, tables.usage, [kept_row(start, source) for start, source in KEPT])
    return any_settings


def stored_rows(settings: Settings) -> int:
    with store_for(settings).engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(tables.usage)).scalar_one())


def test_compute_usage_stores_the_windows_hours(stored: Settings) -> None:
    count = compute_usage(stored, WINDOW)
    usage = load_usage(stored, WINDOW, source="ceilometer")
    assert count == len(usage)
    assert list(usage.columns) == list(USAGE_COLUMNS)
    hours = usage["charge_period_start"].dt.hour
    keys = zip(hours, usage["resource_id"], usage["service"], usage["flavor_name"], strict=True)
    got = dict(zip(keys, usage["consumed_quantity"].round(9), strict=True))
    assert got == {
        # resize at 10:30: half an instance-hour of each flavor, then the new flavor
        (10, "i1", "compute.instance", "m1.small"): 0.5,
        (10, "i1", "compute.instance", "m1.large"): 0.5,
        (11, "i1", "compute.instance", "m1.large"): 1.0,
        (10, "i1", "compute.vcpu", "m1.large"): 2.5,  # (1 + 4) / 2 vCPU, the flavor in force at 10:50
        (10, "i1", "network.egress", "m1.large"): 2.0,  # 3 GiB - 1 GiB (the lookback reading)
        (10, "v1", "block.volume", ""): 20.0,  # 30 GiB × 40/60 (created 10:20)
        (10, "fip", "network.floating_ip", ""): 0.5,  # one of two readings active
        # nothing for "gone": its 10:02 sample falls after its deletion
    }
    by_resource = usage.drop_duplicates("resource_id").set_index("resource_id")
    assert by_resource.loc["v1", "volume_type"] == "ssd"  # inventory wins over metadata
    assert by_resource.loc["i1", "region"] == "RegionTwo"
    assert by_resource.loc["fip", "region"] == "RegionOne"  # settings.usage.region
    assert set(usage["source"]) == {"ceilometer"}


def test_rerun_replaces_never_adds(stored: Settings) -> None:
    first = compute_usage(stored, WINDOW)
    before = load_usage(stored, WINDOW)
    second = compute_usage(stored, WINDOW)
    after = load_usage(stored, WINDOW)
    assert first == second
    pd.testing.assert_frame_equal(before, after)
    assert stored_rows(stored) == first + len(KEPT)  # the other source and window are untouched
    assert len(load_usage(stored, WINDOW, source="gnocchi")) == 1

    # A sample gone from the store (say, purged) is gone from the usage at the next run.
    store = store_for(stored)
    with store.transaction() as conn:
        meter = select(tables.sample_meters.c.code).where(tables.sample_meters.c.name == "ip.floating")
        conn.execute(tables.sample_rows.delete().where(tables.sample_rows.c.meter == meter.scalar_subquery()))
    assert compute_usage(stored, WINDOW) == first - 1
    assert "network.floating_ip" not in set(load_usage(stored, WINDOW)["service"])


def test_empty_window_stores_nothing(stored: Settings) -> None:
    empty = Window(dt.datetime(2026, 9, 1), dt.datetime(2026, 9, 2))
    assert compute_usage(stored, empty) == 0
    frame = load_usage(stored, empty)
    assert frame.empty
    assert list(frame.columns) == list(USAGE_COLUMNS)


def test_rating_writes_the_days_usage_with_their_cost_lines_or_neither(stored: Settings) -> None:
    """`rate_window` computes the days' usage itself and stores it in the transaction of the cost
    lines: a price book that fails leaves the store as it was; a success stores exactly the usage
    `compute_usage` would."""
    day = Window(dt.datetime(2026, 10, 1), dt.datetime(2026, 10, 2))

    def unpriced(daily: pd.DataFrame) -> pd.DataFrame:
        raise PricingError("no price for compute.vcpu", service="compute.vcpu")

    before = load_usage(stored, day)
    with pytest.raises(PricingError):
        rate_window(stored, day, [internal_rater(stored), Rater("broken", unpriced)])
    pd.testing.assert_frame_equal(load_usage(stored, day), before)  # not even the usage step's half
    assert count(stored, tables.cost_lines) == 0

    result = rate_window(stored, day, [internal_rater(stored)])
    rated = load_usage(stored, day, source="ceilometer")
    assert result.usage_rows == len(rated) > 0 and count(stored, tables.cost_lines) == result.cost_lines > 0
    assert len(load_usage(stored, day, source="gnocchi")) == 1  # another source's rows stay
    assert compute_usage(stored, day) == len(rated)
    pd.testing.assert_frame_equal(load_usage(stored, day, source="ceilometer"), rated)


def count(settings: Settings, table: Any) -> int:
    with store_for(settings).engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())
