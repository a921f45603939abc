"""As-of lookups: which revision of a resource is in force at a time, for millions of queries."""

from __future__ import annotations

import numpy as np


def in_force(rev_rcode: np.ndarray, rev_from: np.ndarray, rcode: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Index of the revision in force for each (rcode, t): the one of that resource with the
    latest `rev_from` at or before t; -1 when the resource has none that early (or none at all).

    Revisions must be sorted by (rcode, from). A binary search inside each resource's run of
    revisions, all queries at once: as many numpy passes as the longest run needs halvings, and
    no key packing, so any code and any time range work."""
    rcode = np.asarray(rcode, dtype=np.int64)
    t = np.asarray(t, dtype=np.int64)
    low = np.searchsorted(rev_rcode, rcode, side="left")
    high = np.searchsorted(rev_rcode, rcode, side="right")
    first = low.copy()
    active = np.flatnonzero(low < high)
    while len(active):
        lo, hi = low[active], high[active]
        mid = (lo + hi) // 2
        after = rev_from[mid] <= t[active]
        low[active] = np.where(after, mid + 1, lo)
        high[active] = np.where(after, hi, mid)
        active = active[low[active] < high[active]]
    found = low - 1
    return np.where(found >= first, found, -1)
