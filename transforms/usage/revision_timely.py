"""The common case of a batch of statements, cheaply: resources whose statements only confirm
their last revision (`split_timely`). Pure.

In the normal stream every batch re-states what each polled resource's last revision already
says, later than anything it has seen. Under the rules of `revisions.build_revisions` such a
resource keeps its revisions and only its last revision's `seen_to` moves to its latest
statement. `split_timely` finds those resources from their last revisions alone, so the caller
needs neither the resources' other revisions nor the builder for them; every other resource
goes to `build_revisions` with its own statements, exactly as before.

A resource is *timely* when each of its statements that states something (the builder drops
those that state nothing)
- lands in its last revision (at or after its `valid_from`: by the tiling, a later instant is in
  no other), and
- states only values that revision holds: an attribute the revision does not know (a first
  statement would fill it, rule 5) or holds otherwise (a change) makes the resource not timely.
Statements of one instant that agree with the revision each agree after merging, too.

Why the result equals the builder's: statements at or before `seen_to` are confirmations
(`Current.confirms`), no-ops; the others all follow `seen_to`, so the builder continues the last
revision (`_timely`) with one run of equal attributes: the same revision, `seen_to` the latest
statement. Its fill of earlier revisions changes nothing either, because an attribute is known
in all of a resource's revisions or in none (invariant I3, `docs/dev/SCALE.md` §3) and this
resource states no attribute its last revision does not know.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from stackledger.transforms.usage.codes import RESOLUTION
from stackledger.transforms.usage.revision_codes import Dictionary, Statements

__all__ = ["Timely", "split_timely"]


@dataclass(frozen=True)
class Timely:
    """The split of a batch's statements (`split_timely`).

    `rcode`, `valid_from`, `seen_to`: the last revisions whose `seen_to` moves, and to what
    (int64; only those that move); `rest`: the statements of every resource that is not timely,
    for `build_revisions`; `others`: those resources' codes (sorted, distinct)."""

    rcode: np.ndarray
    valid_from: np.ndarray
    seen_to: np.ndarray
    rest: Statements
    others: np.ndarray


def split_timely(last: pd.DataFrame, said: Statements) -> Timely:
    """Split `said` by resource (module docstring). `last`: the last revision (`valid_to` DUSK) of
    any of the statements' resources that have revisions, REVISION_COLUMNS, one row per resource."""
    last = last.sort_values("rcode", ignore_index=True)
    codes = last["rcode"].to_numpy(dtype=np.int64)
    starts = last["valid_from"].to_numpy(dtype=np.int64)
    seen = last["seen_to"].to_numpy(dtype=np.int64)
    words = Dictionary(said.table, last)
    known = np.flatnonzero(said.rcode >= 0)  # statements of no resource: the builder ignores them
    rcode = said.rcode[known]
    ts = said.ts[known] // RESOLUTION * RESOLUTION
    stated = words.said[said.said[known]]
    states = (stated >= 0).any(axis=1)
    at = np.searchsorted(codes, rcode).clip(0, max(len(codes) - 1, 0))
    fits = np.zeros(len(rcode), dtype=bool)
    if len(codes):
        agree = ((stated == words.existing[at]) | (stated < 0)).all(axis=1)
        fits = (codes[at] == rcode) & (ts >= starts[at]) & agree
    others = np.unique(rcode[states & ~fits])
    timely = ~np.isin(rcode, others)
    moves = timely & states  # every such statement fits: its resource has a last revision
    seen_to = seen.copy()
    np.maximum.at(seen_to, at[moves], ts[moves])
    moved = np.flatnonzero(seen_to != seen)
    rest = known[~timely]
    return Timely(codes[moved], starts[moved], seen_to[moved],
                  Statements(said.rcode[rest], said.ts[rest], said.said[rest], said.table), others)  # fmt: skip
