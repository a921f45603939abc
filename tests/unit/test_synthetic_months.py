"""collectors.synthetic.generate_months: one fleet over several months, the last one untouched."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterable
from typing import Any

import pandas as pd
import pytest

from stackledger.collectors import synthetic
from stackledger.collectors.synthetic.counters import counter_series, cycle_times
from stackledger.errors import ConfigError
from stackledger.pipeline.demo import fleet_frame
from stackledger.schema import RESOURCE_COLUMNS, validate_frame

Clouds = tuple[synthetic.SyntheticCloud, ...]


@pytest.fixture(scope="module")
def clouds() -> Clouds:
    return synthetic.generate_months("2026-10", count=3)


@pytest.fixture(scope="module")
def wires(clouds: Clouds) -> list[list[dict[str, Any]]]:
    return [list(synthetic.messages(cloud)) for cloud in clouds]


def _digest(messages: Iterable[dict[str, Any]]) -> str:
    digest = hashlib.sha256()
    for message in messages:
        digest.update(json.dumps(message).encode())
    return digest.hexdigest()


def _sample_ids(messages: list[dict[str, Any]]) -> list[str]:
    out = []
    for message in messages:
        if "oslo.message" in message:
            envelope = json.loads(message["oslo.message"])
            out += [envelope["message_id"], *(s["message_id"] for s in envelope["payload"])]
        else:
            out.append(message["message_id"])
    return out


def test_three_months_end_with_exactly_the_month_generated_alone(
    clouds: Clouds, wires: list[list[dict[str, Any]]]
) -> None:
    assert [c.window.label for c in clouds] == ["2026-08", "2026-09", "2026-10"]
    alone = synthetic.generate_cloud("2026-10")
    assert clouds[-1] == alone and clouds[-1].next_month is None
    assert _digest(wires[-1]) == _digest(synthetic.messages(alone))
    pd.testing.assert_frame_equal(synthetic.expected_usage(clouds[-1]), synthetic.expected_usage(alone))
    again = synthetic.generate_months("2026-10", count=3)
    assert [_digest(synthetic.messages(c)) for c in again[:-1]] == [_digest(w) for w in wires[:-1]]


def test_the_months_share_the_catalogue_and_a_growing_fleet(clouds: Clouds) -> None:
    august, september, october = clouds
    assert august.projects == september.projects == october.projects
    assert august.volume_types == october.volume_types and august.public_image_id == october.public_image_id
    assert (august.next_month, september.next_month) == (september, october)
    for earlier, later in ((august, september), (september, october)):
        carried = [r for r in earlier.resources if r.resource_id in later.by_id]
        assert carried and all(later.by_id[r.resource_id] is r for r in carried)  # the very same resource
        assert all(r.started_at < earlier.window.end for r in earlier.resources)
        assert all(r.ended_at is None or r.ended_at > earlier.window.start for r in earlier.resources)
        # a resource created during the later month is not in the earlier one
        assert not [r for r in later.resources if r.started_at >= earlier.window.end and r.resource_id in earlier.by_id]
    # each earlier month has its own short-lived resources: the spec's, drawn from the month's own stream
    brief = [_brief(cloud, october) for cloud in (august, september)]
    assert {r.resource_type for r in brief[0]} >= {"instance", "volume", "floating_ip"}
    assert sorted(r.name for r in brief[0]) == sorted(r.name for r in brief[1])
    assert not {r.resource_id for r in brief[0]} & {r.resource_id for r in brief[1]}
    assert {r.started_at for r in brief[0]}.isdisjoint({r.started_at - (september.window.start - august.window.start)
                                                         for r in brief[1]})  # fmt: skip
    fleet = fleet_frame(clouds)
    validate_frame(fleet, RESOURCE_COLUMNS, stage="fleet")
    assert not fleet.duplicated(["resource_id", "valid_from"]).any()
    assert set(fleet["resource_id"]) == {r.resource_id for cloud in clouds for r in cloud.resources}


def _brief(cloud: synthetic.SyntheticCloud, last: synthetic.SyntheticCloud) -> list[synthetic.Resource]:
    return [r for r in cloud.resources if r.resource_id not in last.by_id and cloud.window.start <= r.started_at
            and r.ended_at is not None and r.ended_at <= cloud.window.end]  # fmt: skip


def test_counters_run_on_across_month_boundaries(clouds: Clouds) -> None:
    for earlier, later in itertools.pairwise(clouds):
        for instance in earlier.of_type("instance"):
            if instance.resource_id not in later.by_id:
                continue
            before = counter_series(earlier, instance, cycle_times(earlier, instance.host or ""))
            after = counter_series(later, instance, cycle_times(later, instance.host or ""))
            if not before.times or not after.times:
                continue
            for name in ("cpu_ns", "rx_bytes", "tx_bytes"):
                values = getattr(before, name)
                assert values[-1] == getattr(after, name)[0], (instance.name, name)  # no jump, no traffic lost
                assert (values[1:] >= values[:-1]).all() or instance.reboot_at is not None, (instance.name, name)


def test_message_ids_are_unique_across_the_months(wires: list[list[dict[str, Any]]]) -> None:
    ids = [i for wire in wires for i in _sample_ids(wire)]
    assert len(ids) == len(set(ids))


def test_count_must_be_at_least_one() -> None:
    with pytest.raises(ConfigError, match="count must be at least 1"):
        synthetic.generate_months("2026-10", count=0)
    (only,) = synthetic.generate_months("2026-10", count=1)
    assert only == synthetic.generate_cloud("2026-10")
