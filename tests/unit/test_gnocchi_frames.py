"""collectors.gnocchi_frames: Gnocchi answers → frames, on tiny inline answers."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from stackledger.collectors.gnocchi import METERS_COLLECTED
from stackledger.collectors.gnocchi_frames import (
    hourly,
    in_force,
    inventory,
    lifetimes,
    points,
    readings,
    sizes,
    whole_by_groups,
    with_sizes,
)

H10, H11 = "2026-10-14T10:00:00+00:00", "2026-10-14T11:00:00+00:00"


def group(rid: str, project: str, points_: list[tuple[str, float]], **attributes: Any) -> dict[str, Any]:
    key = {"id": rid.lower(), "original_resource_id": rid, "project_id": project, **attributes}
    return {"group": key, "measures": {"measures": {"aggregated": [[t, 3600.0, v] for t, v in points_]}}}


def resource(rid: str, kind: str, start: str, end: str | None, *, ended: str | None = None,
             metrics: tuple[str, ...] = ("vcpus",), **attributes: Any) -> dict[str, Any]:  # fmt: skip
    return {"id": rid.lower(), "original_resource_id": rid, "type": kind, "project_id": "p1",
            "started_at": "2026-10-01T00:00:00+00:00", "ended_at": ended, "revision_start": start,
            "revision_end": end, "metrics": dict.fromkeys(metrics, "m"), **attributes}  # fmt: skip


def test_an_hour_split_between_revisions_adds_back_up() -> None:
    # A resize at 10:30: each flavor's group gets half the hour's mean (3 vCPUs) pro rata.
    frame = points([group("vm", "p1", [(H10, 1.2)], flavor_name="small"),
                    group("vm", "p1", [(H10, 1.8), (H11, 4.0)], flavor_name="large")], "flavor_name")  # fmt: skip
    assert list(frame["ts"]) == [pd.Timestamp("2026-10-14 10:00")] * 2 + [pd.Timestamp("2026-10-14 11:00")]
    hours = hourly(frame)
    assert list(hours["value"]) == [3.0, 4.0]
    assert list(hours["attribute"]) == ["large", "large"]  # the larger share's
    assert list(hours["groups"]) == [2, 1]
    assert sizes(whole_by_groups(frame)).to_dict() == {("vm", "large"): 4.0}  # whole hours show a flavor's size
    assert sizes(whole_by_groups(frame), per="attribute").to_dict() == {"large": 4.0}


def test_without_history_the_revisions_say_which_flavor_was_in_force() -> None:
    # Plain groupby: every point carries the current flavor ("large"); the resize was at 10:30.
    revisions = inventory([
        resource("vm", "instance", "2026-10-01T00:00:00+00:00", "2026-10-14T10:30:00+00:00", flavor_name="small"),
        resource("vm", "instance", "2026-10-14T10:30:00+00:00", "2026-10-14T12:00:00+00:00", flavor_name="large"),
        resource("vm", "instance", "2026-10-14T12:00:00+00:00", None, flavor_name="large", display_name="renamed"),
    ])  # fmt: skip
    h09 = "2026-10-14T09:00:00+00:00"
    frame = points(
        [
            group(
                "vm",
                "p1",
                [(h09, 1.0), (H10, 3.0), (H11, 4.0), ("2026-10-14T12:00:00+00:00", 4.0)],
                flavor_name="large",
            ),
            group("new", "p1", [(H10, 2.0)], flavor_name="tiny"),
        ],
        "flavor_name",
    )
    marked = in_force(frame, revisions, "flavor_name")  # fmt: skip
    assert list(marked["attribute"]) == ["small", "large", "large", "large", "tiny"]
    assert list(marked["whole"]) == [True, False, True, True, True]  # 10:00 mixes; the 12:00 rename does not
    assert sizes(marked).to_dict() == {("vm", "small"): 1.0, ("vm", "large"): 4.0, ("new", "tiny"): 2.0}


def test_readings_sit_at_the_end_of_the_lived_hour() -> None:
    revisions = [resource("vm", "instance", "2026-10-01T00:00:00+00:00", None, ended="2026-10-14T10:20:00+00:00",
                          flavor_name="small")]  # fmt: skip
    known = lifetimes(inventory(revisions))
    hours = hourly(points([group("vm", "p1", [(H10, 2.0)], flavor_name="small"),
                           group("other", "p2", [(H10, 4.0)], flavor_name="large")], "flavor_name"))  # fmt: skip
    gauge = readings(hours, "vcpus", lifetimes=known, attribute="flavor_name").set_index("resource_id")
    assert gauge.loc["vm", "timestamp"] == pd.Timestamp("2026-10-14 10:19:59")  # the instance ended at 10:20
    assert gauge.loc["other", "timestamp"] == pd.Timestamp("2026-10-14 10:59:59")
    # The project in force comes from the inventory; a resource it does not know keeps its group's.
    assert gauge.loc["vm", "project_id"] is None and gauge.loc["other", "project_id"] == "p2"
    assert gauge.loc["vm", "metadata"] is None and gauge.loc["other", "metadata"] == {"flavor_name": "large"}


def test_counters_are_whole_and_floating_ips_are_active_or_down() -> None:
    empty = lifetimes(inventory([]))
    counter = readings(hourly(points([group("nic", "p", [(H10, 99.999999999), (H11, 0.0000001)])], None)),
                       "network.incoming.bytes", lifetimes=empty, attribute=None)  # fmt: skip
    assert list(counter["volume"]) == [100.0, 0.0]
    assert list(counter["timestamp"]) == [pd.Timestamp("2026-10-14 10:59:59"), pd.Timestamp("2026-10-14 11:59:59")]
    status = readings(hourly(points([group("ip", "p", [(H10, 1.0), (H11, 0.0)])], None)), "ip.floating",
                      lifetimes=empty, attribute=None)  # fmt: skip
    assert list(status["volume"]) == [1.0, 3.0]


def test_inventory_types_lifetimes_and_sizes() -> None:
    rows = [
        resource("vm", "instance", "2026-10-01T00:00:00+00:00", "2026-10-14T10:30:00+00:00", flavor_name="small",
                 display_name="web"),
        resource("vm", "instance", "2026-10-14T10:30:00+00:00", None, ended="2026-10-15T00:00:00+00:00",
                 flavor_name="large", display_name="web"),
        resource("snap", "volume", "2026-10-01T00:00:00+00:00", None, metrics=("snapshot.size",), volume_type="ssd"),
        resource("net", "network", "2026-10-01T00:00:00+00:00", None, metrics=("bandwidth",)),
        resource("fip", "network", "2026-10-01T00:00:00+00:00", None, metrics=("ip.floating",)),
    ]  # fmt: skip
    measured = {"vcpus": pd.Series([1.0], index=pd.MultiIndex.from_tuples([("vm", "small")])),
                "size_gib": pd.Series([5.0], index=pd.MultiIndex.from_tuples([("snap", "ssd")]))}  # fmt: skip
    flavors = {"vcpus": pd.Series({"large": 4.0, "small": 9.0})}
    frame = with_sizes(inventory(rows), measured, flavors)
    assert list(frame["resource_type"]) == ["floating_ip", "snapshot", "instance", "instance"]  # by resource id
    vm = frame[frame["resource_id"] == "vm"]
    assert list(vm["flavor_name"]) == ["small", "large"]
    assert list(vm["vcpus"]) == [1.0, 4.0]  # measured on this instance, else the flavor's
    assert (vm["ended_at"] == pd.Timestamp("2026-10-15")).all()  # the lifetime is on every revision
    assert list(vm["valid_to"].isna()) == [False, True] and list(vm["name"]) == ["web", "web"]
    snap = frame[frame["resource_id"] == "snap"].iloc[0]
    assert snap["size_gib"] == 5.0 and snap["volume_type"] == "ssd" and math.isnan(snap["vcpus"])


def test_operations_are_json_trees() -> None:
    assert METERS_COLLECTED["vcpus"].operations() == ["aggregate", "mean", ["metric", "vcpus", "mean"]]
    assert METERS_COLLECTED["network.outgoing.bytes"].operations() == [
        "aggregate", "mean", ["metric", "network.outgoing.bytes", "last"]]  # fmt: skip
    tree = METERS_COLLECTED["ip.floating"].operations()
    assert tree[:2] == ["aggregate", "min"] and np.array(tree[2], dtype=object)[0] == "*"
