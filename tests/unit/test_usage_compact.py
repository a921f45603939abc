"""The usage core on compact readings (`usage_from_readings`) against `hourly_usage`, on the demo
month: the path phase B's store feeds (codes from dictionaries in arrival order, revisions built
batch by batch in any order, resources rated in chunks) gives the same usage, row for row."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from stackledger.collectors.samples import parse_message
from stackledger.collectors.synthetic import generate_cloud, messages, resources_frame
from stackledger.schema import SAMPLE_COLUMNS
from stackledger.transforms.usage import Readings, hourly_usage, usage_from_readings
from stackledger.transforms.usage.codes import METER_NAMES
from stackledger.transforms.usage.compact import statement_codes
from stackledger.transforms.usage.revisions import Statements, apply_changes, build_revisions, empty_revisions
from stackledger.window import Window

MONTH = Window.month("2026-10")
KEY = ["charge_period_start", "resource_id", "service", "flavor_name"]


@pytest.fixture(scope="module")
def demo() -> dict[str, Any]:
    cloud = generate_cloud("2026-10")
    rows = [row for n, message in enumerate(messages(cloud)) for row in parse_message(message, f"message {n}")]
    samples = pd.DataFrame(rows, columns=list(SAMPLE_COLUMNS)).astype({"volume": "float64"})
    samples["timestamp"] = pd.to_datetime(samples["timestamp"]).astype("datetime64[ns]")
    return {"samples": samples, "resources": resources_frame(cloud)}


def as_the_store_keeps_them(samples: pd.DataFrame, seed: int) -> tuple[Readings, pd.DataFrame]:
    """Readings coded by dictionaries that grow in arrival order (project code 0: none), rows in a
    shuffled order, and revisions built one day's batch at a time, the days in a shuffled order."""
    resource_ids = np.asarray(pd.unique(samples["resource_id"].to_numpy(dtype=object)), dtype=object)
    project_ids = np.array([None, *pd.unique(samples["project_id"].dropna().to_numpy(dtype=object))], dtype=object)
    rcode = pd.Index(resource_ids).get_indexer(samples["resource_id"].to_numpy(dtype=object))
    pcode = np.maximum(pd.Index(project_ids[1:]).get_indexer(samples["project_id"].to_numpy(dtype=object)) + 1, 0)
    meter = pd.Index(METER_NAMES).get_indexer(samples["meter"].to_numpy(dtype=object)).astype(np.int16)
    ts = samples["timestamp"].to_numpy(dtype="datetime64[ns]").view(np.int64)
    order = np.random.default_rng(seed).permutation(len(samples))
    readings = Readings(rcode[order], meter[order], ts[order], samples["volume"].to_numpy()[order], pcode[order],
                        resource_ids, project_ids)  # fmt: skip

    rated = meter >= 0
    days = ts // (86_400 * 10**9)
    revisions = empty_revisions()
    for day in np.random.default_rng(seed + 1).permutation(np.unique(days[rated])):
        batch = rated & (days == day)
        said, table = statement_codes(samples["metadata"].to_numpy(dtype=object)[batch],
                                      samples["project_id"].to_numpy(dtype=object)[batch],
                                      samples["meter"].to_numpy(dtype=object)[batch],
                                      samples["volume"].to_numpy()[batch])  # fmt: skip
        said_today = Statements(rcode[batch], ts[batch], said, table)
        revisions = apply_changes(revisions, build_revisions(revisions, said_today))
    return readings, revisions


@pytest.mark.parametrize("inventory", [True, False], ids=["with-inventory", "samples-only"])
def test_the_store_path_gives_the_usage_of_the_samples(demo: dict[str, Any], inventory: bool) -> None:
    resources = demo["resources"] if inventory else demo["resources"].iloc[0:0]
    expected = hourly_usage(demo["samples"], resources, MONTH, default_region="RegionOne")
    readings, revisions = as_the_store_keeps_them(demo["samples"], seed=14)
    got = usage_from_readings(readings, revisions, resources, MONTH, default_region="RegionOne")
    assert len(expected) > 90_000
    pd.testing.assert_frame_equal(got, expected)


def test_rating_resources_in_chunks_gives_the_same_rows(demo: dict[str, Any]) -> None:
    readings, revisions = as_the_store_keeps_them(demo["samples"], seed=3)
    whole = usage_from_readings(readings, revisions, demo["resources"], MONTH)
    parts = []
    for chunk in np.array_split(np.arange(len(readings.resource_ids)), 4):  # resource code ranges
        keep = np.isin(readings.resource, chunk)
        part = Readings(readings.resource[keep], readings.meter[keep], readings.ts[keep], readings.volume[keep],
                        readings.project[keep], readings.resource_ids, readings.project_ids)  # fmt: skip
        parts.append(usage_from_readings(part, revisions[revisions["rcode"].isin(chunk)], demo["resources"], MONTH))
    chunked = pd.concat(parts, ignore_index=True).sort_values(KEY, ignore_index=True)
    pd.testing.assert_frame_equal(chunked, whole.sort_values(KEY, ignore_index=True))


def test_without_inventory_every_instance_hour_has_its_sizes(demo: dict[str, Any]) -> None:
    # Nova's vcpus/memory notifications carry the sizes in their volume, so the samples alone price
    # the AWS and DigitalOcean equivalents; a resize hour gives each flavor its own sizes.
    usage = hourly_usage(demo["samples"], demo["resources"].iloc[0:0], MONTH, default_region="RegionOne")
    instances = usage[usage["resource_type"] == "instance"]
    assert instances[["vcpus", "ram_mib"]].notna().all().all()
    sizes = demo["resources"].drop_duplicates("flavor_name").set_index("flavor_name")[["vcpus", "ram_mib"]]
    hours = usage[usage["service"] == "compute.instance"]
    resized = hours[hours.duplicated(["charge_period_start", "resource_id"], keep=False)]
    assert len(resized) >= 4  # the demo's two resizes without inventory: two flavors in one hour each
    for row in resized.itertuples():
        assert (row.vcpus, row.ram_mib) == tuple(sizes.loc[row.flavor_name]), row.flavor_name
