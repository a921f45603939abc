"""The inventory of the sampled resources: their lifetimes and the revision in force at a time."""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd

from stackledger.transforms.usage.attributes import ATTRIBUTE_TYPES
from stackledger.transforms.usage.codes import DAWN, DUSK, overlap

_SECOND_BITS: Final = 34  # seconds since DAWN fit in 34 bits until 2444


class Inventory:
    """Lifetimes and revisions of the sampled resources, indexed by their rcode.

    Revisions become spans that tile time with no gaps: each holds until the next one
    starts and the first one since DAWN, whatever the stored valid_to says."""

    def __init__(self, resources: pd.DataFrame, resource_ids: np.ndarray) -> None:
        count = len(resource_ids)
        rcode = pd.Index(resource_ids, dtype=object).get_indexer(
            pd.Index(resources["resource_id"].to_numpy(dtype=object), dtype=object)
        )
        frame = resources.assign(rcode=rcode)
        frame = frame[frame["rcode"] >= 0].sort_values(["rcode", "valid_from"], kind="stable", na_position="first")
        codes = frame["rcode"].to_numpy()
        self.known = np.zeros(count, dtype=bool)
        self.known[codes] = True
        # Deletion is final, so the latest ended_at any revision carries ends the lifetime.
        lifetimes = frame.groupby("rcode").agg(started=("started_at", "min"), ended=("ended_at", "max"))
        self.started = np.full(count, DAWN, dtype=np.int64)
        self.started[lifetimes.index] = _ns(lifetimes["started"], DAWN)
        self.ended = np.full(count, DUSK, dtype=np.int64)
        self.ended[lifetimes.index] = _ns(lifetimes["ended"], DUSK)

        first = np.ones(len(codes), dtype=bool)
        first[1:] = codes[1:] != codes[:-1]
        last = np.append(first[1:], True)[: len(codes)]
        valid_from = _ns(frame["valid_from"], DAWN)
        span_from = np.where(first, DAWN, valid_from)
        span_to = np.where(last, DUSK, np.append(valid_from[1:], DUSK)[: len(codes)])
        self.rcode = codes
        self.key = _time_key(codes, span_from)
        flavor = pd.factorize(frame["flavor_name"].to_numpy(dtype=object))[0]
        self.spans = pd.DataFrame(
            {"rcode": codes, "span_from": span_from, "span_to": span_to, "flavor": flavor, "rev": np.arange(len(codes))}
        )
        self.attributes = {
            name: frame[name].to_numpy(dtype=float if name in ("vcpus", "ram_mib") else object, copy=True)
            for name in (*ATTRIBUTE_TYPES, "region", "project_id")
        }
        self.missing = {name: pd.isna(values) for name, values in self.attributes.items()}
        for name, values in self.attributes.items():
            values[self.missing[name]] = None  # None, not NaN, in object columns

    def lifetime_fraction(self, rcode: np.ndarray, hour: np.ndarray) -> np.ndarray:
        """Fraction of each hour the resource existed; 1 where the inventory does not know it."""
        return overlap(hour, self.started[rcode], self.ended[rcode])

    def revision_at(self, rcode: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Index of the revision in force for each (resource, time), -1 if none is known."""
        found = np.searchsorted(self.key, _time_key(rcode, t), side="right") - 1
        ok = found >= 0
        ok[ok] = self.rcode[found[ok]] == rcode[ok]
        return np.where(ok, found, -1)


def _ns(column: pd.Series, missing: int) -> np.ndarray:
    """A datetime column as int64 ns since the epoch, `missing` where NaT."""
    values = column.astype("datetime64[ns]").to_numpy()
    return np.where(np.isnat(values), missing, values.view(np.int64))


def _time_key(rcode: np.ndarray, t: np.ndarray) -> np.ndarray:
    """(resource, time to the second) as one sortable int64, for as-of lookups."""
    seconds = (np.clip(t, DAWN, DUSK) - DAWN) // 1_000_000_000
    return (rcode.astype(np.int64) << _SECOND_BITS) | seconds
