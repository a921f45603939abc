"""The revision builder's coded world: attribute values as small integer codes shared by the
statements and the existing revisions, statements sorted one per (resource, instant), and
revisions as arrays. Used by `revisions` and `revision_steps`; pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd

from stackledger.transforms.usage.codes import DUSK, RESOLUTION
from stackledger.transforms.usage.lookup import in_force
from stackledger.transforms.usage.statements import ATTRIBUTES, NUMBERS, Statement, columns

WIDTH: Final = len(ATTRIBUTES)


@dataclass(frozen=True)
class Statements:
    """What samples state: sample i states `table` row `said[i]` about resource `rcode[i]` at `ts[i]`.

    `table` holds each distinct statement once (statements.columns), so a million polls of one
    unchanged instance are a million small integers."""

    rcode: np.ndarray  # int64 resource codes; -1: no resource, ignored
    ts: np.ndarray  # int64 ns since the epoch
    said: np.ndarray  # int64 rows of `table`
    table: dict[str, np.ndarray]

    @classmethod
    def of(cls, rcode: Sequence[int], ts: Sequence[int], rows: Sequence[Statement]) -> Statements:
        """One table row per sample (small inputs, tests)."""
        return cls(np.asarray(rcode, dtype=np.int64), np.asarray(ts, dtype=np.int64),
                   np.arange(len(rows), dtype=np.int64), columns(list(rows)))  # fmt: skip

    def __len__(self) -> int:
        return len(self.rcode)


class Dictionary:
    """Each attribute's values as small integer codes shared by the statements and the existing
    revisions (-1: not stated / unknown)."""

    def __init__(self, table: dict[str, np.ndarray], existing: pd.DataFrame) -> None:
        size = len(table[ATTRIBUTES[0]])
        self.said = np.empty((size, WIDTH), dtype=np.int32)
        self.existing = np.empty((len(existing), WIDTH), dtype=np.int32)
        self.values: list[np.ndarray] = []
        for k, name in enumerate(ATTRIBUTES):
            dtype = float if name in NUMBERS else object
            both = np.concatenate([np.asarray(table[name], dtype=dtype), existing[name].to_numpy(dtype=dtype)])
            codes, uniques = pd.factorize(both, use_na_sentinel=True)
            self.said[:, k] = codes[:size]
            self.existing[:, k] = codes[size:]
            self.values.append(np.asarray(uniques, dtype=dtype))

    def decode(self, codes: np.ndarray) -> dict[str, np.ndarray]:
        out = {}
        for k, name in enumerate(ATTRIBUTES):
            known = codes[:, k] >= 0
            number = name in NUMBERS
            column = np.full(len(codes), np.nan if number else None, dtype=float if number else object)
            column[known] = self.values[k][codes[known, k]]
            out[name] = column
        return out


@dataclass(frozen=True)
class Rows:
    """Statements sorted by (resource, instant), one per instant, each stating something:
    row i states `table[said[i]]` (codes)."""

    rcode: np.ndarray
    ts: np.ndarray
    said: np.ndarray
    table: np.ndarray  # (statements, attributes) codes

    def __len__(self) -> int:
        return len(self.rcode)

    def take(self, mask: np.ndarray) -> Rows:
        return Rows(self.rcode[mask], self.ts[mask], self.said[mask], self.table)

    def codes(self) -> np.ndarray:
        return self.table[self.said]

    @classmethod
    def of(cls, said: Statements, table: np.ndarray) -> Rows:
        keep = said.rcode >= 0
        rcode, said_rows = said.rcode[keep], said.said[keep]
        ts = said.ts[keep] // RESOLUTION * RESOLUTION
        order = np.lexsort((ts, rcode))  # stable: samples of one instant stay in arrival order
        rcode, ts, said_rows = rcode[order], ts[order], said_rows[order]
        same = np.zeros(len(rcode), dtype=bool)
        same[1:] = (rcode[1:] == rcode[:-1]) & (ts[1:] == ts[:-1])
        if same.any():
            rcode, ts, said_rows, table = merge_instants(rcode, ts, said_rows, table, same)
        states = np.asarray(np.any(table >= 0, axis=1))[said_rows]
        return cls(rcode[states], ts[states], said_rows[states], table)


def merge_instants(
    rcode: np.ndarray, ts: np.ndarray, said: np.ndarray, table: np.ndarray, same: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One statement per (resource, instant): per attribute, the last sample that states it."""
    starts = np.flatnonzero(~same)
    codes = table[said]
    position = np.where(codes >= 0, np.arange(len(codes))[:, None], -1)
    last = np.maximum.reduceat(position, starts, axis=0)
    merged = np.where(last >= 0, codes[np.maximum(last, 0), np.arange(WIDTH)], -1).astype(np.int32)
    new_table = np.concatenate([table, merged])
    return rcode[starts], ts[starts], len(table) + np.arange(len(starts), dtype=np.int64), new_table


@dataclass(frozen=True)
class Coded:
    """Revisions in coded form, sorted by (rcode, valid_from)."""

    rcode: np.ndarray
    valid_from: np.ndarray
    codes: np.ndarray  # (revisions, attributes)
    seen_to: np.ndarray

    @classmethod
    def concat(cls, parts: Sequence[Coded]) -> Coded:
        rcode = np.concatenate([p.rcode for p in parts])
        valid_from = np.concatenate([p.valid_from for p in parts])
        order = np.lexsort((valid_from, rcode))
        return cls(rcode[order], valid_from[order], np.concatenate([p.codes for p in parts])[order],
                   np.concatenate([p.seen_to for p in parts])[order])  # fmt: skip

    def valid_to(self) -> np.ndarray:
        to = np.full(len(self.rcode), DUSK, dtype=np.int64)
        same = self.rcode[1:] == self.rcode[:-1]
        to[:-1][same] = self.valid_from[1:][same]
        return to


class Current(Coded):
    """The existing revisions, coded, with the questions the builder asks of them."""

    @classmethod
    def of(cls, existing: pd.DataFrame, words: Dictionary) -> Current:
        return cls(existing["rcode"].to_numpy(dtype=np.int64), existing["valid_from"].to_numpy(dtype=np.int64),
                   words.existing, existing["seen_to"].to_numpy(dtype=np.int64))  # fmt: skip

    def confirms(self, rows: Rows) -> np.ndarray:
        """Rows that state only what the revision in force says, at or before its seen_to: no-ops."""
        found = in_force(self.rcode, self.valid_from, rows.rcode, rows.ts)
        has = np.flatnonzero(found >= 0)
        said = rows.table[rows.said[has]]
        agree = ((said == self.codes[found[has]]) | (said < 0)).all(axis=1)
        out = np.zeros(len(rows), dtype=bool)
        out[has] = agree & (rows.ts[has] <= self.seen_to[found[has]])
        return out

    def last_of(self, resources: np.ndarray) -> np.ndarray:
        """Index of each resource's last revision, -1 for resources without any."""
        last = np.searchsorted(self.rcode, resources, side="right") - 1
        ok = last >= 0
        ok[ok] = self.rcode[last[ok]] == resources[ok]
        return np.where(ok, last, -1)

    def rows_of(self, resources: np.ndarray) -> np.ndarray:
        """Indexes of the revisions of `resources` (sorted, distinct), in order."""
        begin = np.searchsorted(self.rcode, resources, side="left")
        end = np.searchsorted(self.rcode, resources, side="right")
        count = end - begin
        if not count.sum():
            return np.zeros(0, dtype=np.int64)
        offsets = np.repeat(begin - np.cumsum(np.append(0, count[:-1])), count)
        return offsets + np.arange(count.sum())

    def of_resources(self, resources: np.ndarray) -> Coded:
        index = self.rows_of(resources)
        return Coded(self.rcode[index], self.valid_from[index], self.codes[index], self.seen_to[index])


def run_starts(rcode: np.ndarray) -> np.ndarray:
    change = np.ones(len(rcode), dtype=bool)
    change[1:] = rcode[1:] != rcode[:-1]
    return np.flatnonzero(change)
