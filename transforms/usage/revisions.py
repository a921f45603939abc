"""Effective-dated attribute revisions of resources, built from what samples state
(`statements`), whatever order the samples arrive in.

Model
-----
A resource's revisions tile time: each holds its attributes (`statements.ATTRIBUTES`) from
`valid_from` until the next one's (`valid_to`; DUSK for the last), the first one since DAWN.
`seen_to` is bookkeeping: no statement a revision describes is later than its `seen_to` (it may
overstate, never understate). Instants are whole microseconds (`RESOLUTION`, the store's).

Rules `build_revisions` keeps, whatever order and batches statements arrive in:

1. **Exact.** The revision in force at a statement's instant holds every attribute the statement
   states. (Statements of one resource at one instant are expected to agree — one polling
   cycle, one notification. When they do not, the one applied last wins.)
2. **Idempotent.** Applying a statement again changes nothing.
3. **A new revision only when something changes**; neighbours with equal attributes merge.
4. **Carry.** An attribute a statement does not state keeps the value in force.
5. **First statement fills.** An attribute never stated for a resource before takes its first
   stated value in all of the resource's revisions: like an inventory's first revision, it holds
   since the beginning (a create notification without vCPUs is followed by a poll with them).
6. **In order, a change holds until the next revision; out of order, it is an island.** A
   statement later than every statement of the revision in force (after its `seen_to`) opens a
   revision that holds until that revision's end. One that lands among the revision's
   statements holds for its own instant [t, t + 1 µs) and the previous attributes resume right
   after: statements around it, whose instants the store no longer knows, keep their values.

Rules 4 and 6 together mean that an attribute a sample does not state is read from the revision
in force; after an island that is the surrounding revision's value, where time order would give
the island's. Rule 1 holds regardless, and usage reads attributes at sample instants.

`build_revisions(existing, statements)` returns what to write (`RevisionChanges`); in time order
(the normal stream) it is vectorised, and only resources with late statements go through the
statement-by-statement path (`revision_steps`). Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd

from stackledger.transforms.usage.codes import DAWN, DUSK
from stackledger.transforms.usage.lookup import in_force
from stackledger.transforms.usage.revision_steps import RESOLUTION, apply_statement
from stackledger.transforms.usage.statements import ATTRIBUTES, NUMBERS, Statement, columns

__all__ = ["RESOLUTION", "REVISION_COLUMNS", "RevisionChanges", "Statements", "apply_changes", "build_revisions",
           "empty_revisions", "revisions_of", "typed"]  # fmt: skip

REVISION_COLUMNS: Final = {
    "rcode": "int64",
    "valid_from": "int64",  # ns since the epoch; DAWN for a resource's first revision
    "valid_to": "int64",  # the next revision's valid_from; DUSK for the last
    **{name: "float64" if name in NUMBERS else "object" for name in ATTRIBUTES},
    "seen_to": "int64",
}
_KEY: Final = ["rcode", "valid_from"]
_WIDTH: Final = len(ATTRIBUTES)


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


@dataclass(frozen=True)
class RevisionChanges:
    """What to write: whole revisions to insert or overwrite (key: rcode, valid_from), and the
    keys of revisions that no longer exist. Applying deletes, then upserts, in one transaction
    gives the new revisions (`apply_changes`)."""

    upserts: pd.DataFrame  # REVISION_COLUMNS
    deletes: pd.DataFrame  # rcode, valid_from

    @property
    def empty(self) -> bool:
        return self.upserts.empty and self.deletes.empty


def empty_revisions() -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in REVISION_COLUMNS.items()})


def typed(data: dict[str, np.ndarray]) -> pd.DataFrame:
    """Revision columns as a frame with REVISION_COLUMNS dtypes (text stays object, None stays None)."""
    return pd.DataFrame({name: pd.Series(data[name], dtype=dtype) for name, dtype in REVISION_COLUMNS.items()})


def revisions_of(said: Statements) -> pd.DataFrame:
    """The revisions of resources known only from these statements."""
    empty = empty_revisions()
    return apply_changes(empty, build_revisions(empty, said))


def apply_changes(existing: pd.DataFrame, changes: RevisionChanges) -> pd.DataFrame:
    """`existing` after `changes`, as the store would hold it, sorted by (rcode, valid_from)."""
    gone = pd.MultiIndex.from_frame(pd.concat([changes.deletes[_KEY], changes.upserts[_KEY]]))
    kept = existing[~pd.MultiIndex.from_frame(existing[_KEY]).isin(gone)]
    frames = [frame for frame in (kept, changes.upserts) if not frame.empty]
    merged = pd.concat(frames, ignore_index=True) if frames else empty_revisions()
    return merged.sort_values(_KEY, ignore_index=True)


def build_revisions(existing: pd.DataFrame, said: Statements) -> RevisionChanges:
    """The revision changes that make `existing` (REVISION_COLUMNS, any resources) describe the
    new statements too, under the rules in the module docstring."""
    existing = existing.sort_values(_KEY, ignore_index=True)
    words = _Dictionary(said.table, existing)
    rows = _Rows.of(said, words.said)
    current = _Current.of(existing, words)
    rows = rows.take(~current.confirms(rows))
    if not len(rows):
        return RevisionChanges(empty_revisions(), pd.DataFrame({"rcode": [], "valid_from": []}, dtype=np.int64))
    starts = _run_starts(rows.rcode)
    resources = rows.rcode[starts]
    last = current.last_of(resources)
    late = np.zeros(len(resources), dtype=bool)
    has = last >= 0
    late[has] = rows.ts[starts][has] <= current.seen_to[last[has]]
    in_late = np.repeat(late, np.diff(np.append(starts, len(rows))))
    parts = [
        _timely(rows.take(~in_late), current, resources[~late], last[~late]),
        _late(rows.take(in_late), current, resources[late]),
    ]
    new = _Revisions.concat(parts)
    old = current.of_resources(resources)
    return _diff(old, new, words)


# ---------------------------------------------------------------- coded values


class _Dictionary:
    """Each attribute's values as small integer codes shared by the statements and the existing
    revisions (-1: not stated / unknown)."""

    def __init__(self, table: dict[str, np.ndarray], existing: pd.DataFrame) -> None:
        size = len(table[ATTRIBUTES[0]])
        self.said = np.empty((size, _WIDTH), dtype=np.int32)
        self.existing = np.empty((len(existing), _WIDTH), dtype=np.int32)
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
class _Rows:
    """Statements sorted by (resource, instant), one per instant, each stating something:
    row i states `table[said[i]]` (codes)."""

    rcode: np.ndarray
    ts: np.ndarray
    said: np.ndarray
    table: np.ndarray  # (statements, attributes) codes

    def __len__(self) -> int:
        return len(self.rcode)

    def take(self, mask: np.ndarray) -> _Rows:
        return _Rows(self.rcode[mask], self.ts[mask], self.said[mask], self.table)

    def codes(self) -> np.ndarray:
        return self.table[self.said]

    @classmethod
    def of(cls, said: Statements, table: np.ndarray) -> _Rows:
        keep = said.rcode >= 0
        rcode, said_rows = said.rcode[keep], said.said[keep]
        ts = said.ts[keep] // RESOLUTION * RESOLUTION
        order = np.lexsort((ts, rcode))  # stable: samples of one instant stay in arrival order
        rcode, ts, said_rows = rcode[order], ts[order], said_rows[order]
        same = np.zeros(len(rcode), dtype=bool)
        same[1:] = (rcode[1:] == rcode[:-1]) & (ts[1:] == ts[:-1])
        if same.any():
            rcode, ts, said_rows, table = _merge_instants(rcode, ts, said_rows, table, same)
        states = np.asarray(np.any(table >= 0, axis=1))[said_rows]
        return cls(rcode[states], ts[states], said_rows[states], table)


def _merge_instants(
    rcode: np.ndarray, ts: np.ndarray, said: np.ndarray, table: np.ndarray, same: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One statement per (resource, instant): per attribute, the last sample that states it."""
    starts = np.flatnonzero(~same)
    codes = table[said]
    position = np.where(codes >= 0, np.arange(len(codes))[:, None], -1)
    last = np.maximum.reduceat(position, starts, axis=0)
    merged = np.where(last >= 0, codes[np.maximum(last, 0), np.arange(_WIDTH)], -1).astype(np.int32)
    new_table = np.concatenate([table, merged])
    return rcode[starts], ts[starts], len(table) + np.arange(len(starts), dtype=np.int64), new_table


@dataclass(frozen=True)
class _Revisions:
    """Revisions in coded form, sorted by (rcode, valid_from)."""

    rcode: np.ndarray
    valid_from: np.ndarray
    codes: np.ndarray  # (revisions, attributes)
    seen_to: np.ndarray

    @classmethod
    def concat(cls, parts: Sequence[_Revisions]) -> _Revisions:
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


class _Current(_Revisions):
    """The existing revisions, coded, with the questions the builder asks of them."""

    @classmethod
    def of(cls, existing: pd.DataFrame, words: _Dictionary) -> _Current:
        return cls(existing["rcode"].to_numpy(dtype=np.int64), existing["valid_from"].to_numpy(dtype=np.int64),
                   words.existing, existing["seen_to"].to_numpy(dtype=np.int64))  # fmt: skip

    def confirms(self, rows: _Rows) -> np.ndarray:
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

    def of_resources(self, resources: np.ndarray) -> _Revisions:
        index = self.rows_of(resources)
        return _Revisions(self.rcode[index], self.valid_from[index], self.codes[index], self.seen_to[index])


# ---------------------------------------------------------------- in time order: vectorised


def _timely(rows: _Rows, current: _Current, resources: np.ndarray, last: np.ndarray) -> _Revisions:
    """Revisions of resources whose statements all follow their existing statements: runs of
    equal carried attributes, continuing each resource's last revision (the seed)."""
    rows = rows.take(_interior(rows) == 0)  # a run of one statement needs only its first and last
    seeded = last >= 0
    seeds = last[seeded]
    size = len(seeds)
    rcode = np.concatenate([current.rcode[seeds], rows.rcode])
    at = np.concatenate([current.valid_from[seeds], rows.ts])
    seen = np.concatenate([current.seen_to[seeds], rows.ts])
    codes = np.concatenate([current.codes[seeds], rows.codes()])
    order = np.lexsort((at, rcode))  # a seed starts before its resource's new statements
    rcode, at, seen, codes = rcode[order], at[order], seen[order], codes[order]
    is_seed = np.zeros(len(order), dtype=bool)
    is_seed[np.argsort(order)[:size]] = True
    starts = _run_starts(rcode)
    group = np.repeat(starts, np.diff(np.append(starts, len(rcode))))
    filled = _fill(codes, group)
    change = np.zeros(len(rcode), dtype=bool)
    change[starts] = True
    change[1:] |= (filled[1:] != filled[:-1]).any(axis=1)
    runs = np.flatnonzero(change)
    valid_from = at[runs]
    first_fresh = (runs == group[runs]) & ~is_seed[runs]
    valid_from[first_fresh] = DAWN
    timely = _Revisions(rcode[runs], valid_from, filled[runs], np.maximum.reduceat(seen, runs))
    earlier = _filled_earlier(current, resources[seeded], seeds, filled[is_seed])
    return _Revisions.concat([earlier, timely])


def _interior(rows: _Rows) -> np.ndarray:
    """1 for a statement between two equal ones of its resource (it changes nothing), else 0."""
    same_prev = np.zeros(len(rows), dtype=bool)
    same_prev[1:] = (rows.rcode[1:] == rows.rcode[:-1]) & (rows.said[1:] == rows.said[:-1])
    same_next = np.append(same_prev[1:], False)
    return (same_prev & same_next).astype(np.int8)


def _fill(codes: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Carry each attribute forward within its resource; before its first statement, back (rule 5)."""
    index = np.arange(len(codes))[:, None]
    forward = np.maximum.accumulate(np.where(codes >= 0, index, -1), axis=0)
    forward = np.where(forward >= group[:, None], forward, -1)
    end = np.append(group[1:] != group[:-1], True)  # last row of each resource
    ends = np.flatnonzero(end)
    group_end = np.repeat(ends, np.diff(np.insert(ends + 1, 0, 0)).astype(np.int64))
    backward = np.where(codes >= 0, index, len(codes))[::-1]
    backward = np.minimum.accumulate(backward, axis=0)[::-1]
    backward = np.where(backward <= group_end[:, None], backward, -1)
    source = np.where(forward >= 0, forward, backward)
    return np.where(source >= 0, codes[np.maximum(source, 0), np.arange(_WIDTH)], -1).astype(np.int32)


def _filled_earlier(current: _Current, resources: np.ndarray, seeds: np.ndarray, seed_codes: np.ndarray) -> _Revisions:
    """The existing revisions before each seed, with the attributes first stated now filled in."""
    index = current.rows_of(resources)
    index = index[~np.isin(index, seeds)]
    codes = current.codes[index].copy()
    seed_of = np.searchsorted(resources, current.rcode[index])
    fill = seed_codes[seed_of]
    codes = np.where(codes >= 0, codes, fill)
    return _Revisions(current.rcode[index], current.valid_from[index], codes, current.seen_to[index])


# ---------------------------------------------------------------- out of order: one by one


def _late(rows: _Rows, current: _Current, resources: np.ndarray) -> _Revisions:
    """Revisions of resources with statements among their existing ones, applied one at a time."""
    out: list[tuple[int, int, list[int], int]] = []
    row_starts = np.searchsorted(rows.rcode, resources, side="left")
    row_ends = np.searchsorted(rows.rcode, resources, side="right")
    codes = rows.codes()
    for resource, begin, end in zip(resources.tolist(), row_starts.tolist(), row_ends.tolist(), strict=True):
        index = current.rows_of(np.array([resource], dtype=np.int64))
        revs = [[int(f), current.codes[i].tolist(), int(s)]
                for i, f, s in zip(index, current.valid_from[index], current.seen_to[index], strict=True)]  # fmt: skip
        for i in range(begin, end):
            stated = [(k, int(v)) for k, v in enumerate(codes[i].tolist()) if v >= 0]
            apply_statement(revs, int(rows.ts[i]), stated)
        out.extend((resource, rev[0], rev[1], rev[2]) for rev in revs)
    if not out:
        return _Revisions(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, _WIDTH), np.int32),
                          np.zeros(0, np.int64))  # fmt: skip
    rcode, valid_from, codes_out, seen = zip(*out, strict=True)
    coded = np.array(codes_out, dtype=np.int32).reshape(-1, _WIDTH)
    return _Revisions(np.array(rcode, dtype=np.int64), np.array(valid_from, dtype=np.int64), coded,
                      np.array(seen, dtype=np.int64))  # fmt: skip


# ---------------------------------------------------------------- helpers


def _run_starts(rcode: np.ndarray) -> np.ndarray:
    change = np.ones(len(rcode), dtype=bool)
    change[1:] = rcode[1:] != rcode[:-1]
    return np.flatnonzero(change)


def _diff(old: _Revisions, new: _Revisions, words: _Dictionary) -> RevisionChanges:
    """Rows of `new` that `old` lacks or holds differently, and keys of `old` that `new` lacks."""
    old_frame = _frame(old, words)
    new_frame = _frame(new, words)
    joined = new_frame.merge(old_frame, on=_KEY, how="left", suffixes=("", "_old"), indicator=True)
    changed = joined["_merge"] == "left_only"
    for name in REVISION_COLUMNS:
        if name in _KEY:
            continue
        a, b = joined[name], joined[f"{name}_old"]
        changed |= ~((a == b) | (a.isna() & b.isna()))
    upserts = new_frame[changed.to_numpy()].reset_index(drop=True)
    gone = old_frame.merge(new_frame[_KEY], on=_KEY, how="left", indicator=True)
    deletes = gone.loc[gone["_merge"] == "left_only", _KEY].reset_index(drop=True).astype(np.int64)
    return RevisionChanges(upserts, deletes)


def _frame(revisions: _Revisions, words: _Dictionary) -> pd.DataFrame:
    data = {"rcode": revisions.rcode, "valid_from": revisions.valid_from, "valid_to": revisions.valid_to(),
            **words.decode(revisions.codes), "seen_to": revisions.seen_to}  # fmt: skip
    return typed(data)
