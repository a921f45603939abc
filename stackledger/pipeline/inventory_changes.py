"""What an inventory write changes in usage (pure): `pipeline.inventory` marks the rated days of it.

With `usage.source: ceilometer` usage is computed from samples and the inventory: lifetimes cut
hours, and the revision in force gives flavor, vCPUs, RAM, volume type, region and project. A
resource's usage may change where its inventory as usage reads it changes (`changed_spans`):
between the old and the new `started_at` / `ended_at` of its lifetime, where the revision in
force differs in those attributes (clipped to the lifetime), or over the whole lifetime of a
resource added or removed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, Final

from stackledger.pipeline.rerate import comparable
from stackledger.pipeline.usage import INVENTORY_FIRST
from stackledger.transforms.usage.attributes import ATTRIBUTE_TYPES

# What the usage transform reads of a revision besides its times (`transforms.usage.inventory`).
USAGE_ATTRIBUTES: Final = (*ATTRIBUTE_TYPES, "region", "project_id")
PAST, FUTURE = dt.datetime.min, dt.datetime.max  # an open end of a lifetime or of a span


class ResourceUsage:
    """One resource's inventory as the usage transform reads it: its lifetime (earliest
    started_at, latest ended_at) and its revisions' attributes, each holding from its valid_from
    until the next one's (the first since the beginning of time)."""

    def __init__(self, revisions: Sequence[Mapping[str, Any]]) -> None:
        rank = {name: n for n, name in enumerate(INVENTORY_FIRST)}
        ordered = sorted(
            revisions,
            key=lambda r: (comparable(r["valid_from"]), rank.get(r["source"], len(INVENTORY_FIRST)), r["source"]),
        )
        self.revisions: list[tuple[dt.datetime, tuple[Any, ...]]] = []
        for revision in ordered:  # one per instant, as `pipeline.usage.one_revision_per_instant` keeps
            valid_from = comparable(revision["valid_from"])
            if not self.revisions or self.revisions[-1][0] != valid_from:
                self.revisions.append((valid_from, tuple(comparable(revision[n]) for n in USAGE_ATTRIBUTES)))
        started = [comparable(r["started_at"]) for r in revisions if r["started_at"] is not None]
        ended = [comparable(r["ended_at"]) for r in revisions if r["ended_at"] is not None]
        self.started: dt.datetime | None = min(started) if started else None
        self.ended: dt.datetime | None = max(ended) if ended else None
        self.born = min([*started, self.revisions[0][0]])  # no sample before it (nor usage)

    @classmethod
    def of(cls, revisions: Sequence[Mapping[str, Any]] | None) -> ResourceUsage | None:
        return cls(revisions) if revisions else None

    def in_force(self, t: dt.datetime) -> tuple[Any, ...]:
        """The attributes of the revision in force at `t` (`PAST`: the first one)."""
        found = self.revisions[0][1]
        for valid_from, attributes in self.revisions:
            if valid_from > t:
                break
            found = attributes
        return found

    def key(self) -> tuple[Any, ...]:
        return self.started, self.ended, self.revisions


def changed_spans(old: ResourceUsage | None, new: ResourceUsage | None) -> list[tuple[dt.datetime, dt.datetime]]:
    """The spans of time where usage computed with `new` may differ from usage with `old`."""
    if old is None or new is None:  # added or removed: its whole lifetime
        known = old or new
        return [] if known is None else [(known.born, known.ended or FUTURE)]
    if old.key() == new.key():
        return []
    spans = []
    if old.started != new.started:
        earlier, later = sorted(t or PAST for t in (old.started, new.started))
        spans.append((max(earlier, min(old.born, new.born)), later))
    if old.ended != new.ended:
        earlier, later = sorted(t or FUTURE for t in (old.ended, new.ended))
        spans.append((earlier, later))
    if old.revisions != new.revisions:
        born = min(old.born, new.born)
        dead = max(old.ended or FUTURE, new.ended or FUTURE)
        edges = sorted({t for t, _ in old.revisions} | {t for t, _ in new.revisions})
        for start, end in zip([PAST, *edges], [*edges, FUTURE], strict=True):
            if old.in_force(start) != new.in_force(start) and start < dead and end > born:
                spans.append((max(start, born), min(end, dead)))
    return spans


__all__ = ["FUTURE", "PAST", "USAGE_ATTRIBUTES", "ResourceUsage", "changed_spans"]
