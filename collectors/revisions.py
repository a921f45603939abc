"""Resource revisions the APIs do not keep: Nova's and Cinder's collectors build them.

The APIs show only a resource's current size (flavor, volume size and type). The collectors keep
history themselves: what a source stored earlier is handed to them (`collectors.base.History`,
read from the store by the pipeline), and when the current attributes differ from the latest
stored revision, that revision is closed and a new one opened at the time the API gives for the
change (`revisions`). `Collected` then carries every revision of those resources
(`resources_partial=False`), replacing the stored ones.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import pandas as pd

from stackledger.schema import RESOURCE_COLUMNS

log = logging.getLogger(__name__)

# The attributes a revision holds; the rest of a resource row is the same in every revision.
REVISIONED: Final = ("flavor_name", "vcpus", "ram_mib", "disk_gib", "volume_type", "size_gib")


@dataclass(frozen=True)
class Observed:
    """One resource as the API shows it now, in canonical terms."""

    resource_id: str
    resource_type: str
    project_id: str | None
    name: str | None
    region: str | None
    attributes: Mapping[str, Any]  # REVISIONED columns; None where unknown
    identity: tuple[str, ...]  # the attributes whose change is a new revision (flavor, size, type)
    started_at: dt.datetime | None
    ended_at: dt.datetime | None
    first_from: dt.datetime  # valid_from of its first revision when nothing is stored yet
    unknown_before: dt.datetime | None = None  # first sight: the attributes before this are unknown
    changed_at: tuple[dt.datetime | None, ...] = field(default=())  # when a change took effect, best first

    def known(self) -> bool:
        return _known(self.attributes, self.identity)


def revisions(observed: Observed, stored: Sequence[Mapping[str, Any]] = ()) -> list[dict[str, Any]]:
    """Every revision of `observed` (RESOURCE_COLUMNS rows), given what was stored before.

    - Nothing stored: one revision from `first_from` — or two, when `unknown_before` says the
      attributes before it are unknown (a revision with them None: usage then takes them from
      the samples' metadata).
    - The latest stored revision has the same identity attributes (or did not know them): it is
      refreshed in place. The API not knowing them now keeps what was stored.
    - They differ: the latest revision ends and a new one starts at the first `changed_at` later
      than its start; without such a time the latest revision is corrected in place (logged).
    """
    if not stored:
        rows = _first_sight(observed)
    else:
        rows = [{name: row.get(name) for name in RESOURCE_COLUMNS} for row in stored]
        rows.sort(key=lambda row: row["valid_from"])
        _advance(rows, observed)
    started = rows[0]["started_at"] if stored and rows[0]["started_at"] is not None else observed.started_at
    for position, row in enumerate(rows):
        row.update(
            resource_id=observed.resource_id,
            resource_type=observed.resource_type,
            project_id=observed.project_id or row.get("project_id"),
            name=observed.name,
            region=observed.region,
            started_at=started,
            ended_at=observed.ended_at,
            valid_to=rows[position + 1]["valid_from"] if position + 1 < len(rows) else None,
        )
    return rows


def _first_sight(observed: Observed) -> list[dict[str, Any]]:
    current = {name: observed.attributes.get(name) for name in REVISIONED}
    if observed.unknown_before is None or observed.unknown_before <= observed.first_from:
        return [{**current, "valid_from": observed.first_from}]
    unknown = dict.fromkeys(REVISIONED)
    return [{**unknown, "valid_from": observed.first_from}, {**current, "valid_from": observed.unknown_before}]


def _advance(rows: list[dict[str, Any]], observed: Observed) -> None:
    last = rows[-1]
    current = {name: observed.attributes.get(name) for name in REVISIONED}
    if not observed.known():
        return  # the API cannot tell us now: keep what we knew
    if not _known(last, observed.identity) or _same(last, current, observed.identity):
        last.update(current)
        return
    at = next((t for t in observed.changed_at if t is not None and t > last["valid_from"]), None)
    if at is None:
        log.warning(
            "%s %s: %s changed to %s with no time after %s to date it from; corrected in place",
            observed.resource_type, observed.resource_id, _describe(last, observed.identity),
            _describe(current, observed.identity), last["valid_from"],
        )  # fmt: skip
        last.update(current)
        return
    rows.append({**current, "valid_from": at})


def _known(attributes: Mapping[str, Any], identity: Sequence[str]) -> bool:
    return any(not _missing(attributes.get(name)) for name in identity)


def _same(a: Mapping[str, Any], b: Mapping[str, Any], identity: Sequence[str]) -> bool:
    return all((_missing(a.get(n)) and _missing(b.get(n))) or a.get(n) == b.get(n) for n in identity)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)  # NaN


def _describe(attributes: Mapping[str, Any], identity: Sequence[str]) -> str:
    return "/".join(str(attributes.get(name)) for name in identity)


def lifetime_overlaps(rows: Sequence[Mapping[str, Any]], start: dt.datetime, end: dt.datetime) -> bool:
    """Whether the resource existed at some time in [start, end): from its first revision to its end."""
    began = min(row["valid_from"] for row in rows)
    ended = rows[0]["ended_at"]
    return began < end and (ended is None or ended > start)


def resource_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Rows → a RESOURCE_COLUMNS frame with the canonical dtypes."""
    frame = pd.DataFrame([[row.get(name) for name in RESOURCE_COLUMNS] for row in rows], columns=list(RESOURCE_COLUMNS))
    return frame.astype(dict(RESOURCE_COLUMNS))


__all__ = ["REVISIONED", "Observed", "lifetime_overlaps", "resource_frame", "revisions"]
