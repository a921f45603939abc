"""transforms.usage.revision_timely: the resources a batch only confirms move their last
revision's `seen_to`, and that split gives exactly what `build_revisions` gives on the whole batch."""

from __future__ import annotations

from typing import Any

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stackledger.transforms.usage.revision_timely import split_timely
from stackledger.transforms.usage.revisions import (
    Statements,
    apply_changes,
    build_revisions,
    empty_revisions,
    revisions_of,
)
from tests.unit.test_revisions import VALUES, at, batches, check_tiling, deliver, said


def deliver_split(revisions: pd.DataFrame, statements: Statements) -> pd.DataFrame:
    """What `sample_store._revise` does, without a store: move the timely resources' seen_to, build the others."""
    last = revisions.groupby("rcode").tail(1)  # sorted by (rcode, valid_from): each resource's last
    split = split_timely(last, statements)
    moved = revisions.copy()
    key = pd.MultiIndex.from_frame(moved[["rcode", "valid_from"]])
    at_key = key.get_indexer(pd.MultiIndex.from_arrays([split.rcode, split.valid_from]))
    assert (at_key >= 0).all()
    moved.loc[at_key, "seen_to"] = split.seen_to
    others = moved[moved["rcode"].isin(split.others)]
    return apply_changes(moved, build_revisions(others, split.rest))


def test_a_batch_that_restates_the_last_revision_only_moves_its_seen_to() -> None:
    revisions = revisions_of(said((0, 10, {"flavor_name": "small", "vcpus": 1}), (1, 10, {"flavor_name": "tiny"})))
    split = split_timely(revisions, said((0, 20, {"flavor_name": "small"}), (0, 30, {"vcpus": 1}), (1, 5, {})))
    assert split.rcode.tolist() == [0]
    assert split.seen_to.tolist() == [at(30)]
    assert len(split.others) == 0 and len(split.rest) == 0


def test_a_change_a_first_value_or_a_late_statement_goes_to_the_builder() -> None:
    revisions = revisions_of(said((0, 10, {"flavor_name": "small"}), (1, 10, {"flavor_name": "tiny"}),
                                  (2, 10, {"flavor_name": "big"}), (2, 20, {"flavor_name": "huge"})))  # fmt: skip
    last = revisions.groupby("rcode").tail(1)
    batch = said((0, 30, {"flavor_name": "large"}),  # a change
                 (1, 30, {"status": "active"}),  # an attribute never stated: fills every revision
                 (2, 15, {"flavor_name": "huge"}),  # before the last revision began
                 (3, 30, {"flavor_name": "new"}))  # fmt: skip  # a resource without revisions
    split = split_timely(last, batch)
    assert split.others.tolist() == [0, 1, 2, 3]
    assert len(split.rcode) == 0
    assert deliver_split(revisions, batch).equals(deliver(revisions, batch))


def test_statements_at_or_before_seen_to_that_agree_change_nothing() -> None:
    revisions = revisions_of(said((0, 10, {"flavor_name": "small"}), (0, 50, {"flavor_name": "small"})))
    split = split_timely(revisions, said((0, 20, {"flavor_name": "small"}), (0, 40, {})))
    assert len(split.rcode) == 0 and len(split.others) == 0


@st.composite
def steady_histories(draw: st.DrawFn) -> list[tuple[int, int, dict[str, Any]]]:
    """Statements of up to 4 resources that mostly restate one set of values (the usual stream),
    now and then a change, a first value or nothing at all."""
    out = []
    for resource in range(draw(st.integers(1, 4))):
        usual = {name: draw(st.sampled_from(values)) for name, values in VALUES.items()}
        minutes = draw(st.lists(st.integers(0, 600), min_size=1, max_size=16, unique=True))
        for minute in minutes:
            names = draw(st.lists(st.sampled_from(sorted(VALUES)), max_size=3, unique=True))
            odd = draw(st.integers(0, 5)) == 0
            stated = {name: draw(st.sampled_from(VALUES[name])) if odd else usual[name] for name in names}
            out.append((resource, minute, stated))
    return out


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(st.data())
def test_the_split_builds_what_the_builder_builds_in_any_order_and_batches(data: st.DataObject) -> None:
    history = data.draw(steady_histories())
    if data.draw(st.booleans()):  # time order (the usual stream) or any order
        history.sort(key=lambda item: (item[1], item[0]))
        order = history
        cuts = sorted(data.draw(st.lists(st.integers(0, len(order)), max_size=5)))
        groups = [order[a:b] for a, b in zip([0, *cuts], [*cuts, len(order)], strict=True) if b > a]
    else:
        groups = batches(data.draw, history)
    reference = new = empty_revisions()
    for group in groups:
        statements = said(*group)
        reference = deliver(reference, statements)
        new = deliver_split(new, statements)
        pd.testing.assert_frame_equal(new, reference)
    check_tiling(new)
    for group in batches(data.draw, history):  # re-delivery: nothing moves, nothing is built
        split = split_timely(new.groupby("rcode").tail(1), said(*group))
        assert len(split.rcode) == 0
        assert build_revisions(new[new["rcode"].isin(split.others)], split.rest).empty
