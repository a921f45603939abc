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

from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd

from stackledger.transforms.usage.codes import DAWN, RESOLUTION
from stackledger.transforms.usage.revision_codes import Coded, Current, Dictionary, Rows, Statements, run_starts
from stackledger.transforms.usage.revision_steps import apply_late
from stackledger.transforms.usage.statements import ATTRIBUTES, NUMBERS

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
WIDTH: Final = len(ATTRIBUTES)


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
    words = Dictionary(said.table, existing)
    rows = Rows.of(said, words.said)
    current = Current.of(existing, words)
    rows = rows.take(~current.confirms(rows))
    if not len(rows):
        return RevisionChanges(empty_revisions(), pd.DataFrame({"rcode": [], "valid_from": []}, dtype=np.int64))
    starts = run_starts(rows.rcode)
    resources = rows.rcode[starts]
    last = current.last_of(resources)
    behind = np.zeros(len(resources), dtype=bool)  # some statement before the resource's last known one
    has = last >= 0
    behind[has] = rows.ts[starts][has] <= current.seen_to[last[has]]
    in_behind = np.repeat(behind, np.diff(np.append(starts, len(rows))))
    parts = [
        _timely(rows.take(~in_behind), current, resources[~behind], last[~behind]),
        apply_late(rows.take(in_behind), current, resources[behind]),
    ]
    new = Coded.concat(parts)
    old = current.of_resources(resources)
    return _diff(old, new, words)


# ---------------------------------------------------------------- in time order: vectorised


def _timely(rows: Rows, current: Current, resources: np.ndarray, last: np.ndarray) -> Coded:
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
    starts = run_starts(rcode)
    group = np.repeat(starts, np.diff(np.append(starts, len(rcode))))
    filled = _fill(codes, group)
    change = np.zeros(len(rcode), dtype=bool)
    change[starts] = True
    change[1:] |= (filled[1:] != filled[:-1]).any(axis=1)
    runs = np.flatnonzero(change)
    valid_from = at[runs]
    first_fresh = (runs == group[runs]) & ~is_seed[runs]
    valid_from[first_fresh] = DAWN
    timely = Coded(rcode[runs], valid_from, filled[runs], np.maximum.reduceat(seen, runs))
    earlier = _filled_earlier(current, resources[seeded], seeds, filled[is_seed])
    return Coded.concat([earlier, timely])


def _interior(rows: Rows) -> np.ndarray:
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
    group_end = np.repeat(ends, np.diff(np.concatenate(([0], ends + 1))).astype(np.int64))
    backward = np.where(codes >= 0, index, len(codes))[::-1]
    backward = np.minimum.accumulate(backward, axis=0)[::-1]
    backward = np.where(backward <= group_end[:, None], backward, -1)
    source = np.where(forward >= 0, forward, backward)
    return np.where(source >= 0, codes[np.maximum(source, 0), np.arange(WIDTH)], -1).astype(np.int32)


def _filled_earlier(current: Current, resources: np.ndarray, seeds: np.ndarray, seed_codes: np.ndarray) -> Coded:
    """The existing revisions before each seed, with the attributes first stated now filled in."""
    index = current.rows_of(resources)
    index = index[~np.isin(index, seeds)]
    codes = current.codes[index].copy()
    seed_of = np.searchsorted(resources, current.rcode[index])
    fill = seed_codes[seed_of]
    codes = np.where(codes >= 0, codes, fill)
    return Coded(current.rcode[index], current.valid_from[index], codes, current.seen_to[index])


# ---------------------------------------------------------------- helpers


def _diff(old: Coded, new: Coded, words: Dictionary) -> RevisionChanges:
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


def _frame(revisions: Coded, words: Dictionary) -> pd.DataFrame:
    data = {"rcode": revisions.rcode, "valid_from": revisions.valid_from, "valid_to": revisions.valid_to(),
            **words.decode(revisions.codes), "seen_to": revisions.seen_to}  # fmt: skip
    return typed(data)
