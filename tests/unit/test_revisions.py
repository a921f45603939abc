"""transforms.usage.revisions: effective-dated attribute revisions from sample statements,
exact whatever order and batches the statements arrive in."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stackledger.transforms.usage.codes import DAWN, DUSK, RESOLUTION
from stackledger.transforms.usage.lookup import in_force
from stackledger.transforms.usage.revision_steps import apply_statement
from stackledger.transforms.usage.revisions import (
    Statements,
    apply_changes,
    build_revisions,
    empty_revisions,
    revisions_of,
)
from stackledger.transforms.usage.statements import ATTRIBUTES, statement

MINUTE = 60 * 10**9
T0 = pd.Timestamp("2026-10-01").value


def at(minutes: float) -> int:
    return T0 + int(minutes * MINUTE)


def said(*items: tuple[int, float, dict[str, Any]]) -> Statements:
    """(resource code, minute, attributes) → statements; attributes by their ATTRIBUTES names."""
    rows = [tuple(attributes.get(name) for name in ATTRIBUTES) for _, _, attributes in items]
    return Statements.of([r for r, _, _ in items], [at(m) for _, m, _ in items], rows)


def deliver(revisions: pd.DataFrame, statements: Statements) -> pd.DataFrame:
    return apply_changes(revisions, build_revisions(revisions, statements))


def attribute_at(revisions: pd.DataFrame, resource: int, minute: float, name: str) -> Any:
    index = in_force(revisions["rcode"].to_numpy(), revisions["valid_from"].to_numpy(),
                     np.array([resource]), np.array([at(minute)]))[0]  # fmt: skip
    if index < 0:  # nothing was ever stated about the resource
        return None
    value = revisions[name].iloc[index]
    return None if pd.isna(value) else value


def spans(revisions: pd.DataFrame, resource: int = 0) -> list[tuple[Any, ...]]:
    """(from minute or 'dawn', to minute or 'dusk', flavor, vcpus) of one resource's revisions."""
    rows = revisions[revisions["rcode"] == resource]

    def minute(ns: int) -> Any:
        return {DAWN: "dawn", DUSK: "dusk"}.get(ns, (ns - T0) / MINUTE)

    return [(minute(r.valid_from), minute(r.valid_to), r.flavor_name, None if pd.isna(r.vcpus) else r.vcpus)
            for r in rows.itertuples()]  # fmt: skip


# ---------------------------------------------------------------- worked examples


def test_first_statement_holds_since_dawn_and_a_change_opens_a_revision() -> None:
    revisions = revisions_of(said((0, 10, {"flavor_name": "small", "vcpus": 1}), (0, 20, {"flavor_name": "small"}),
                                  (0, 30, {"flavor_name": "large", "vcpus": 4})))  # fmt: skip
    assert spans(revisions) == [("dawn", 30, "small", 1.0), (30, "dusk", "large", 4.0)]
    assert revisions["seen_to"].tolist() == [at(20), at(30)]  # the last statement each describes


def test_an_attribute_a_sample_does_not_state_is_carried() -> None:
    # the 20' notification names the flavor only: the vCPUs the 10' poll stated still hold.
    revisions = revisions_of(said((0, 10, {"flavor_name": "small", "vcpus": 1}), (0, 20, {"flavor_name": "small"})))
    assert len(revisions) == 1
    assert attribute_at(revisions, 0, 20, "vcpus") == 1.0


def test_an_attribute_first_stated_late_fills_the_revisions_before() -> None:
    # created at 10' (a notification without vCPUs), resized at 30', first polled at 40'.
    revisions = revisions_of(said((0, 10, {"flavor_name": "small"}), (0, 30, {"flavor_name": "large"}),
                                  (0, 40, {"vcpus": 4})))  # fmt: skip
    assert spans(revisions) == [("dawn", 30, "small", 4.0), (30, "dusk", "large", 4.0)]


def test_a_late_change_after_the_last_statement_holds_until_the_next_revision() -> None:
    revisions = revisions_of(said((0, 10, {"flavor_name": "small"}), (0, 60, {"flavor_name": "large"})))
    # 30' is after the last statement of the 'small' revision (10'): nothing else is known there.
    revisions = deliver(revisions, said((0, 30, {"flavor_name": "medium"})))
    assert spans(revisions) == [("dawn", 30, "small", None), (30, 60, "medium", None), (60, "dusk", "large", None)]


def test_a_late_change_among_statements_is_an_island() -> None:
    revisions = revisions_of(said(*((0, m, {"flavor_name": "small"}) for m in (10, 20, 30, 40))))
    revisions = deliver(revisions, said((0, 25, {"flavor_name": "large"})))
    island = at(25) + RESOLUTION
    assert spans(revisions) == [("dawn", 25, "small", None), (25, (island - T0) / MINUTE, "large", None),
                                ((island - T0) / MINUTE, "dusk", "small", None)]  # fmt: skip
    for minute in (10, 20, 30, 40):  # the statements around it keep their values
        assert attribute_at(revisions, 0, minute, "flavor_name") == "small"
    assert attribute_at(revisions, 0, 25, "flavor_name") == "large"


def test_statements_at_one_instant_merge_the_last_stating_wins() -> None:
    revisions = revisions_of(said((0, 10, {"flavor_name": "small", "vcpus": 1}), (0, 10, {"vcpus": 2}),
                                  (1, 10, {"volume_type": "ssd"})))  # fmt: skip
    assert spans(revisions) == [("dawn", "dusk", "small", 2.0)]
    assert attribute_at(revisions, 1, 10, "volume_type") == "ssd"


def test_a_statement_that_says_nothing_makes_no_revision() -> None:
    assert revisions_of(said((0, 10, {}))).empty


def test_redelivery_changes_nothing() -> None:
    statements = said((0, 10, {"flavor_name": "small"}), (0, 20, {"flavor_name": "large"}), (1, 5, {"status": "x"}))
    revisions = revisions_of(statements)
    assert build_revisions(revisions, statements).empty


def test_an_in_order_batch_only_extends_the_last_revision() -> None:
    revisions = revisions_of(said((0, 10, {"flavor_name": "small"}), (1, 10, {"flavor_name": "tiny"})))
    changes = build_revisions(revisions, said((0, 20, {"flavor_name": "small"})))
    assert changes.deletes.empty
    assert changes.upserts[["rcode", "seen_to"]].values.tolist() == [[0, at(20)]]  # seen_to moved, nothing else


# ---------------------------------------------------------------- properties

VALUES = {"flavor_name": ["small", "large", "xl"], "vcpus": [1.0, 2.0, 4.0], "status": ["active", "shutoff"],
          "project_id": ["p1", "p2"], "volume_type_id": ["t-1", "t-2"]}  # fmt: skip


@st.composite
def histories(draw: st.DrawFn) -> list[tuple[int, int, dict[str, Any]]]:
    """Statements of up to 3 resources at distinct instants (minutes), each stating a random subset."""
    out = []
    for resource in range(draw(st.integers(1, 3))):
        minutes = draw(st.lists(st.integers(0, 600), min_size=1, max_size=14, unique=True))
        for minute in minutes:
            names = draw(st.lists(st.sampled_from(sorted(VALUES)), max_size=3, unique=True))
            out.append((resource, minute, {name: draw(st.sampled_from(VALUES[name])) for name in names}))
    return out


def batches(draw: st.DrawFn, items: list[Any]) -> list[list[Any]]:
    order = draw(st.permutations(items))
    cuts = sorted(draw(st.lists(st.integers(0, len(order)), max_size=4)))
    bounds = [0, *cuts, len(order)]
    return [order[a:b] for a, b in itertools.pairwise(bounds) if b > a]


def delivered(groups: list[list[tuple[int, int, dict[str, Any]]]]) -> pd.DataFrame:
    revisions = empty_revisions()
    for group in groups:
        revisions = deliver(revisions, said(*group))
    return revisions


def check_tiling(revisions: pd.DataFrame) -> None:
    for _, rows in revisions.groupby("rcode"):
        assert rows["valid_from"].iloc[0] == DAWN
        assert rows["valid_from"].is_monotonic_increasing
        assert rows["valid_to"].iloc[:-1].tolist() == rows["valid_from"].iloc[1:].tolist()
        assert rows["valid_to"].iloc[-1] == DUSK
        values = rows[list(ATTRIBUTES)].astype(object).where(rows[list(ATTRIBUTES)].notna(), None)
        records = [tuple(row) for row in values.itertuples(index=False)]
        assert all(a != b for a, b in itertools.pairwise(records)), "equal neighbours not merged"


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(st.data())
def test_exact_and_idempotent_whatever_the_arrival_order(data: st.DataObject) -> None:
    history = data.draw(histories())
    revisions = delivered(batches(data.draw, history))
    for resource, minute, attributes in history:
        for name, value in attributes.items():
            assert attribute_at(revisions, resource, minute, name) == value, (resource, minute, name)
    check_tiling(revisions)
    again = batches(data.draw, history)
    for group in again:  # re-delivering any of it, in any batches, changes nothing
        assert build_revisions(revisions, said(*group)).empty


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(st.data())
def test_in_time_order_the_vectorised_path_is_the_reference_and_carries_the_latest_statement(
    data: st.DataObject,
) -> None:
    history = sorted(data.draw(histories()), key=lambda item: (item[1], item[0]))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(history)), max_size=4)))
    bounds = [0, *cuts, len(history)]
    revisions = delivered([history[a:b] for a, b in itertools.pairwise(bounds) if b > a])

    reference: dict[int, list[Any]] = {}
    for resource, minute, attributes in history:  # one statement at a time, the reference steps
        stated = [(ATTRIBUTES.index(name), hash(value) & 0xFFFF) for name, value in attributes.items()]
        apply_statement(reference.setdefault(resource, []), at(minute), stated)
    for resource, steps in reference.items():
        mine = revisions[revisions["rcode"] == resource]
        assert mine["valid_from"].tolist() == [step[0] for step in steps]
        assert mine["seen_to"].tolist() == [step[2] for step in steps]

    for resource, minute, _ in history:  # every attribute: the latest statement at or before, else the first
        for name in VALUES:
            stated = [(m, a[name]) for r, m, a in history if r == resource and name in a]
            before = [value for m, value in stated if m <= minute]
            expected = before[-1] if before else (stated[0][1] if stated else None)
            assert attribute_at(revisions, resource, minute, name) == expected


def test_statement_extraction_feeds_the_builder() -> None:
    rows = [statement({"flavor": {"name": "m1.small", "vcpus": 1, "ram": 2048}}, "p1"), statement({}, None)]
    revisions = revisions_of(Statements.of([0, 0], [at(10), at(20)], rows))
    found = revisions[["flavor_name", "vcpus", "ram_mib", "project_id"]].values.tolist()
    assert found == [["m1.small", 1.0, 2048.0, "p1"]]


@pytest.mark.parametrize("resources", [[0, 0, 0], [2, 0, 1]])
def test_in_force_finds_the_revision_of_each_resource(resources: list[int]) -> None:
    rcode = np.array([0, 0, 1, 2, 2, 2])
    starts = np.array([DAWN, 100, DAWN, DAWN, 50, 70])
    found = in_force(rcode, starts, np.array(resources), np.array([99, 100, 60]))
    expected = {(0, 99): 0, (0, 100): 1, (0, 60): 0, (2, 99): 5, (1, 100): 2, (1, 60): 2}
    assert found.tolist() == [expected[(r, t)] for r, t in zip(resources, [99, 100, 60], strict=True)]
    assert in_force(rcode, starts, np.array([3, 0]), np.array([5, DAWN - 1])).tolist() == [-1, -1]
