"""One statement applied to one resource's revisions: the reference for `revisions.build_revisions`
(whose vectorised path must give the same result for statements in time order) and the path it
takes for statements that arrive out of order.

A revision here is `[valid_from, codes, seen_to]`: `codes` are the attribute codes (-1: never
stated), sorted by valid_from, the first from DAWN. See `revisions` for the rules.
"""

from __future__ import annotations

from bisect import bisect_right

import numpy as np

from stackledger.transforms.usage.codes import DAWN, RESOLUTION
from stackledger.transforms.usage.revision_codes import WIDTH, Coded, Current, Rows
from stackledger.transforms.usage.statements import ATTRIBUTES

Revision = list  # [valid_from: int, codes: list[int], seen_to: int]


def apply_statement(revisions: list[Revision], t: int, stated: list[tuple[int, int]]) -> None:
    """Make `revisions` (one resource's, changed in place) describe a statement at instant `t`
    (whole µs) stating `stated` = [(attribute index, code), ...]."""
    if not stated:
        return
    width = len(revisions[0][1]) if revisions else len(ATTRIBUTES)
    if not revisions:
        codes = [-1] * width
        for k, code in stated:
            codes[k] = code
        revisions.append([DAWN, codes, t])
        return
    for k, code in stated:
        if revisions[0][1][k] < 0:  # never stated for this resource: it holds in every revision
            for revision in revisions:
                revision[1][k] = code
    i = bisect_right([revision[0] for revision in revisions], t) - 1
    start, codes, seen = revisions[i]
    if all(codes[k] == code for k, code in stated):
        if t > seen:
            revisions[i][2] = t
        return
    desired = list(codes)
    for k, code in stated:
        desired[k] = code
    following = revisions[i + 1][0] if i + 1 < len(revisions) else None
    pieces: list[Revision] = []
    if t > start:
        pieces.append([start, codes, min(seen, t - RESOLUTION)])
    pieces.append([t, desired, t])
    if seen > t and (following is None or following > t + RESOLUTION):
        # Statements of this revision follow t: they keep its values (an island, rule 6).
        pieces.append([t + RESOLUTION, list(codes), seen])
    revisions[i : i + 1] = pieces
    _merge_equal(revisions, max(i - 1, 0), i + len(pieces))


def _merge_equal(revisions: list[Revision], low: int, high: int) -> None:
    """Merge neighbours with equal codes among revisions[low..high] (rule 3)."""
    j = min(high, len(revisions) - 1) - 1
    while j >= low:
        if revisions[j][1] == revisions[j + 1][1]:
            revisions[j][2] = max(revisions[j][2], revisions[j + 1][2])
            del revisions[j + 1]
        j -= 1


def apply_late(rows: Rows, current: Current, resources: np.ndarray) -> Coded:
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
        return Coded(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, WIDTH), np.int32),
                     np.zeros(0, np.int64))  # fmt: skip
    rcode, valid_from, codes_out, seen = zip(*out, strict=True)
    coded = np.array(codes_out, dtype=np.int32).reshape(-1, WIDTH)
    return Coded(np.array(rcode, dtype=np.int64), np.array(valid_from, dtype=np.int64), coded,
                 np.array(seen, dtype=np.int64))  # fmt: skip
