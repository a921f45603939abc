"""transforms.codes: integer codes and run-collapsing groups agree with plain pandas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stackledger.transforms.codes import (
    Coded,
    Groups,
    blank_codes,
    combined_key,
    group_codes,
    sorted_codes,
    sorted_order,
)


def test_sorted_codes_order_like_values_with_missing_last_for_categoricals_and_objects() -> None:
    values = ["pear", None, "apple", "fig", "apple"]
    categorical = pd.Series(pd.Categorical(values, categories=["pear", "fig", "apple"]))  # not sorted
    for series in (categorical, pd.Series(values, dtype=object)):
        codes, uniques = sorted_codes(series)
        assert list(uniques) == ["apple", "fig", "pear"]
        assert list(codes) == [2, 3, 0, 1, 0]


def test_blank_codes_treat_missing_and_empty_string_as_one_value() -> None:
    codes = blank_codes(pd.Series(["", None, "m1.large", ""], dtype=object))
    assert codes[0] == codes[1] == codes[3] != codes[2]


def test_combined_key_orders_like_tuples_and_survives_int64_overflow() -> None:
    rng = np.random.default_rng(3)
    columns = [rng.integers(0, 1 << 20, 2_000) for _ in range(5)]  # 100 bits of radix: must re-code
    key = combined_key(columns)
    tuples = list(zip(*columns, strict=True))
    assert list(np.argsort(key, kind="stable")) == sorted(range(len(tuples)), key=lambda i: tuples[i])
    assert len(np.unique(key)) == len(set(tuples))


def test_group_codes_and_sorted_order_match_pandas() -> None:
    frame = pd.DataFrame({"a": ["x", "y", None, "x", "y"], "b": [2, 1, 1, 2, 1]})
    codes = group_codes(frame["a"], frame["b"].to_numpy())
    assert list(codes) == [0, 1, 2, 0, 1]
    expected = frame.sort_values(["a", "b"], kind="stable", na_position="last").index
    assert list(sorted_order(frame["a"], frame["b"].to_numpy())) == list(expected)


def test_coded_equals_compares_by_code_and_never_matches_missing() -> None:
    coded = Coded.of(pd.Series(pd.Categorical(["a", None, "b", "a"])))
    assert list(coded.equals("a")) == [True, False, False, True]
    assert not coded.equals("zzz").any()


@pytest.mark.parametrize("shuffle", [False, True])
def test_groups_reduce_like_groupby_in_any_row_order(shuffle: bool) -> None:
    rng = np.random.default_rng(11)
    n = 5_000
    frame = pd.DataFrame({
        "resource": pd.Categorical(rng.choice(["r3", "r1", "r2", None], n), categories=["r3", "r2", "r1"]),
        "day": np.sort(rng.integers(0, 4, n)),
        "kind": rng.choice(["gold", "silver"], n).astype(object),
        "amount": rng.integers(0, 1_000, n),
        "peak": np.where(rng.random(n) < 0.2, np.nan, rng.random(n)),
    })  # fmt: skip
    if shuffle:
        frame = frame.sample(frac=1, random_state=2).reset_index(drop=True)
    groups = Groups.of([frame["day"].to_numpy(), frame["resource"], frame["kind"]])
    expected = frame.groupby(["day", "resource", "kind"], dropna=False, observed=True, sort=True).agg(
        amount=("amount", "sum"), peak=("peak", "max")
    )
    by_value = expected.reset_index()  # groupby sorts a categorical by category order; Groups by value
    expected = by_value.sort_values(["day", "resource", "kind"], key=lambda c: c.astype(object), na_position="last")
    got = frame.iloc[groups.first][["day", "resource", "kind"]].reset_index(drop=True)
    assert got.astype(str).equals(expected[["day", "resource", "kind"]].reset_index(drop=True).astype(str))
    assert list(groups.sum(frame["amount"].to_numpy())) == list(expected["amount"])
    np.testing.assert_array_equal(groups.reduce(np.fmax, frame["peak"].to_numpy()), expected["peak"].to_numpy())
