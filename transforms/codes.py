"""Integer codes for grouping and ordering the columns of big frames.

Rating works on millions of rows. Hashing their strings again and again (`groupby` on object
columns, `factorize` per call) was most of its time; a categorical column already carries integer
codes, and a few integer columns combine into one int64 key that numpy sorts and reduces fast.
Pure: arrays in, arrays out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd

_INT64_MAX: Final = np.iinfo(np.int64).max


def sorted_codes(values: pd.Series | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes that order like the values, missing values last as their own code, and the
    distinct values in that order.

    A categorical's codes are remapped through its sorted categories (one entry per category)
    instead of hashing every row again."""
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.CategoricalDtype):
        categories = values.cat.categories.to_numpy(dtype=object)
        order = np.argsort(categories, kind="stable")
        rank = np.empty(len(categories) + 1, dtype=np.int32)
        rank[order] = np.arange(len(categories))
        rank[-1] = len(categories)  # code -1 (missing) sorts last
        return rank[values.cat.codes.to_numpy()], categories[order]
    array = values.to_numpy() if isinstance(values, pd.Series) else values
    codes, uniques = pd.factorize(array, sort=True)
    codes = codes.astype(np.int64)
    codes[codes < 0] = len(uniques)
    return codes, np.asarray(uniques)


@dataclass(frozen=True)
class Coded:
    """A column as sorting codes and its distinct values: compare a million rows to a value by
    comparing integers."""

    codes: np.ndarray
    values: np.ndarray  # distinct values, sorted; code len(values) is a missing value

    @classmethod
    def of(cls, values: pd.Series | np.ndarray) -> Coded:
        return cls(*sorted_codes(values))

    def equals(self, value: object) -> np.ndarray:
        found = [index for index, known in enumerate(self.values) if known == value]
        if not found:
            return np.zeros(len(self.codes), dtype=bool)
        return self.codes == found[0]


def blank_codes(values: pd.Series | np.ndarray) -> np.ndarray:
    """`sorted_codes`, with a missing value and the empty string as one value (how the store
    keys an absent flavor)."""
    codes, uniques = sorted_codes(values)
    blank = np.flatnonzero(uniques == "")
    if len(blank):
        codes[codes == len(uniques)] = blank[0]
    return codes


def combined_key(columns: Iterable[np.ndarray]) -> np.ndarray:
    """One int64 per row that orders like the tuple of the rows' non-negative integer codes.

    Mixed radix, built in place one column at a time (every temporary of a few million rows
    costs). When the next column would overflow int64 the key so far is re-coded densely (a
    sorted factorize keeps the order), so any number of columns fits."""
    key: np.ndarray | None = None
    span = 1
    for column in columns:
        size = int(column.max()) + 1 if len(column) else 1
        if key is None:
            key, span = column.astype(np.int64, copy=True), size
            continue
        if span * size > _INT64_MAX:
            codes, uniques = pd.factorize(key, sort=True)
            key, span = codes.astype(np.int64), len(uniques)
        key *= size
        key += column
        span *= size
    if key is None:
        raise ValueError("combined_key needs at least one column")
    return key


def group_codes(*arrays: pd.Series | np.ndarray) -> np.ndarray:
    """Dense codes 0..k-1 of the rows' combined values (a missing value is a value of its own)."""
    return pd.factorize(combined_key(_ordinal(array) for array in arrays))[0]


def sorted_order(*arrays: pd.Series | np.ndarray) -> np.ndarray:
    """The stable permutation that sorts rows by the arrays' values, first array first."""
    return np.argsort(combined_key(_ordinal(array) for array in arrays), kind="stable")


def _ordinal(values: pd.Series | np.ndarray) -> np.ndarray:
    """Non-negative integers that order like the values: integers and instants shifted by their
    minimum (no hashing), anything else `sorted_codes`."""
    array = values.to_numpy() if isinstance(values, pd.Series) and values.dtype.kind in "iuMm" else values
    if isinstance(array, np.ndarray) and array.dtype.kind in "iuMm" and len(array) and not _has_nat(array):
        numbers = array.view(np.int64) if array.dtype.kind in "Mm" else array.astype(np.int64, copy=False)
        return numbers - numbers.min()
    return sorted_codes(values)[0]


def _has_nat(array: np.ndarray) -> bool:
    return array.dtype.kind in "Mm" and bool(np.isnat(array).any())


@dataclass(frozen=True)
class _KeyColumn:
    """A key column as `equal` (cheap codes: equal rows ⇔ equal entries) and a way to get sorting
    codes for a few rows. A categorical's own codes serve as `equal`, untouched."""

    equal: np.ndarray
    rank: np.ndarray | None  # categorical: equal code → sorting code (index -1: missing)

    @classmethod
    def of(cls, values: pd.Series | np.ndarray) -> _KeyColumn:
        if isinstance(values, pd.Series) and isinstance(values.dtype, pd.CategoricalDtype):
            categories = values.cat.categories.to_numpy(dtype=object)
            rank = np.empty(len(categories) + 1, dtype=np.int64)
            rank[np.argsort(categories, kind="stable")] = np.arange(len(categories))
            rank[-1] = len(categories)
            return cls(values.cat.codes.to_numpy(), rank)
        array = values.to_numpy() if isinstance(values, pd.Series) else values
        if array.dtype.kind in "iub":
            return cls(array, None)
        if array.dtype.kind in "mM":
            return cls(array.view(np.int64), None)
        return cls(sorted_codes(array)[0], None)  # strings: hashed once, codes already sort

    def sorting_codes(self, rows: np.ndarray) -> np.ndarray:
        picked = self.equal[rows]
        return self.rank[picked] if self.rank is not None else sorted_codes(picked)[0]


@dataclass(frozen=True)
class Groups:
    """Rows grouped on key columns, for exact numpy reductions in key order.

    Usage arrives mostly in runs (a resource's hours one after another), so rows are first
    collapsed run by run — a run ends where any key column changes, found by comparing small
    integer codes of neighbours, no hashing — and only the runs are sorted and collapsed again.
    Both steps combine partial results with the same ufunc, so the outcome does not depend on
    row order; groups come out in the order of their key values (missing last)."""

    runs: np.ndarray  # start row of each run of equal keys
    order: np.ndarray  # runs sorted by key
    starts: np.ndarray  # start of each group within the sorted runs
    first: np.ndarray  # one row index per group (the first row of its first run)

    @classmethod
    def of(cls, columns: Sequence[pd.Series | np.ndarray]) -> Groups:
        keys = [_KeyColumn.of(column) for column in columns]
        change = np.zeros(len(keys[0].equal), dtype=bool)
        change[:1] = True
        for key in keys:
            change[1:] |= key.equal[1:] != key.equal[:-1]
        runs = np.flatnonzero(change)
        run_keys = combined_key(key.sorting_codes(runs) for key in keys)
        order = np.argsort(run_keys, kind="stable")
        sorted_keys = run_keys[order]
        starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
        return cls(runs, order, starts, runs[order[starts]])

    def reduce(self, ufunc: np.ufunc, values: np.ndarray) -> np.ndarray:
        return ufunc.reduceat(ufunc.reduceat(values, self.runs)[self.order], self.starts)

    def sum(self, values: np.ndarray) -> np.ndarray:
        return self.reduce(np.add, values)
