"""Findings: usage a price book could not price as usual, recorded instead of stopping (DESIGN §11).

Every unit of usage is either priced or visibly explained. A *configuration* error (a service
the rate card does not price, a bad card, a flavor mapped to a type the book lacks) still
raises and names what to fix. *Data* one book cannot price never stops that book or the others;
each such daily usage row becomes a finding (FINDING_COLUMNS) with its quantity:

==========================  ===========  ==========================================================
kind                        effect       when
==========================  ===========  ==========================================================
`size unknown`              unpriced     a public book must choose an instance type for an
                                         instance whose vCPUs and RAM nothing says (no flavor
                                         metadata, no inventory) and no `flavors` entry maps it
`no equivalent`             unpriced     no instance type of the allowed families holds the
                                         flavor's vCPUs and RAM (e.g. 16 vCPU / 32 GiB with
                                         `families: [s]`)
`volume type unresolved`    base price   a volume, snapshot or backup carries a volume type *id*
                                         that no collected Cinder type resolves, and the book
                                         prices that service by volume type: the service's base
                                         price (or default SKU) applies
==========================  ===========  ==========================================================

"unpriced" rows have no cost line in that book, so its total leaves them out (reports say so
next to the total); "base price" rows have a cost line at the price that applies without the
attribute. Findings are replaced per price book and span of days, with the cost lines.

Volume types: usage carries a volume's type by name, or by id when the samples said only the id
(Cinder's notifications). `resolve_volume_types` maps ids to names through the types Cinder
listed before any override or SKU is matched; a value that reads as a UUID and resolves to
nothing is an unresolved id.

Pure: frames in, frames out; no I/O, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd

from stackledger.schema import FINDING_COLUMNS, UNALLOCATED, empty_frame, validate_frame
from stackledger.transforms.money import NANO, to_nanos

SIZE_UNKNOWN: Final = "size unknown"
NO_EQUIVALENT: Final = "no equivalent"
TYPE_UNRESOLVED: Final = "volume type unresolved"
KINDS: Final = (SIZE_UNKNOWN, NO_EQUIVALENT, TYPE_UNRESOLVED)
UNPRICED: Final = "unpriced"  # no cost line in this book: its total leaves the usage out
BASE_PRICE: Final = "base price"  # priced, at the price that applies without the attribute

VOLUME_SERVICES: Final = frozenset({"block.volume", "block.snapshot", "block.backup"})
# Cinder's volume type ids are UUIDs (with or without dashes); a type *name* that reads as one
# is taken for an id, as transforms.usage.statements does.
_TYPE_ID: Final = re.compile(r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}")


@dataclass(frozen=True)
class Priced:
    """What a price book made of daily usage: its cost lines and its findings."""

    lines: pd.DataFrame  # COST_COLUMNS (+ the book's own columns)
    findings: pd.DataFrame  # FINDING_COLUMNS

    @classmethod
    def of(cls, result: Priced | pd.DataFrame) -> Priced:
        """A book's result as `Priced`: a bare cost frame is a book that finds nothing."""
        return result if isinstance(result, Priced) else cls(result, empty_findings())


def empty_findings() -> pd.DataFrame:
    return empty_frame(FINDING_COLUMNS)


def findings_for(
    usage: pd.DataFrame, rows: np.ndarray, *, book: str, kind: str, effect: str, subject: Sequence[str] | np.ndarray,
    reason: Sequence[str] | np.ndarray,
) -> pd.DataFrame:  # fmt: skip
    """Findings of the daily usage `rows` (positions in `usage`), one per row; `subject` and
    `reason` per row."""
    taken = usage.iloc[rows]
    out = pd.DataFrame({
        "charge_period_start": taken["charge_period_start"].to_numpy(),
        "charge_period_end": taken["charge_period_end"].to_numpy(),
        "price_book": book,
        "kind": kind,
        "effect": effect,
        "project_id": taken["project_id"].to_numpy(dtype=object),
        "resource_id": taken["resource_id"].to_numpy(dtype=object),
        "resource_type": taken["resource_type"].to_numpy(dtype=object),
        "service": taken["service"].to_numpy(dtype=object),
        "subject": np.asarray(subject, dtype=object),
        "consumed_quantity": taken["consumed_quantity"].to_numpy(dtype=float),
        "consumed_unit": taken["consumed_unit"].to_numpy(dtype=object),
        "reason": np.asarray(reason, dtype=object),
    })  # fmt: skip
    return validate_frame(out, FINDING_COLUMNS, stage=f"findings {book}")


def concat_findings(parts: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Findings in one frame, ordered by day, book, kind, project, resource and service."""
    found = [part for part in parts if len(part)]
    if not found:
        return empty_findings()
    frame = pd.concat(found, ignore_index=True)
    order = ["charge_period_start", "price_book", "kind", "project_id", "resource_id", "service", "subject"]
    return frame.sort_values(order, kind="stable", na_position="first").reset_index(drop=True)


# ---------------------------------------------------------------- volume types


def resolve_volume_types(usage: pd.DataFrame, names: Mapping[str, str]) -> pd.DataFrame:
    """`usage` with every volume type id that `names` (Cinder type id -> name) knows replaced by
    its name; the frame itself when nothing changes."""
    if not names or usage.empty:
        return usage
    values = usage["volume_type"].to_numpy(dtype=object)
    kinds, seen = pd.factorize(values)
    mapped = np.array([names.get(value, value) if isinstance(value, str) else value for value in seen], dtype=object)
    if all(a is b or a == b for a, b in zip(mapped, seen, strict=True)):
        return usage
    resolved = usage.copy()
    out = values.copy()
    known = kinds >= 0
    out[known] = mapped[kinds[known]]
    resolved["volume_type"] = pd.Series(out, index=usage.index, dtype=object)
    return resolved


def is_type_id(value: object) -> bool:
    """Whether a volume type value reads as a Cinder type id (a UUID) rather than a name."""
    return isinstance(value, str) and _TYPE_ID.fullmatch(value) is not None


def unresolved_type_rows(usage: pd.DataFrame, services: Iterable[str] = VOLUME_SERVICES) -> np.ndarray:
    """Positions of the rows of `services` whose volume type is still an id (after
    `resolve_volume_types`)."""
    wanted = usage["service"].isin(list(services)).to_numpy()
    if not wanted.any():
        return np.array([], dtype=np.int64)
    kinds, seen = pd.factorize(usage["volume_type"].to_numpy(dtype=object))
    ids = np.array([is_type_id(value) for value in seen] + [False], dtype=bool)
    return np.flatnonzero(wanted & ids[kinds])


def type_findings(usage: pd.DataFrame, rows: np.ndarray, *, book: str, fallback: Sequence[str]) -> pd.DataFrame:
    """`volume type unresolved` findings of `rows`; `fallback[i]` says what priced row i instead."""
    ids = usage["volume_type"].to_numpy(dtype=object)[rows]
    reasons = [
        f"volume type id {type_id} is not a Cinder volume type StackLedger has collected "
        f"(`stackledger collect --source cinder` stores them): priced at {instead}"
        for type_id, instead in zip(ids, fallback, strict=True)
    ]
    subjects = [f"volume type id {type_id}" for type_id in ids]
    return findings_for(usage, rows, book=book, kind=TYPE_UNRESOLVED, effect=BASE_PRICE, subject=subjects,
                        reason=reasons)  # fmt: skip


# ---------------------------------------------------------------- summaries


@dataclass(frozen=True)
class FindingSummary:
    """Findings of one book, kind, service and subject (and project, when asked) added up."""

    price_book: str
    kind: str
    effect: str
    service: str
    subject: str
    consumed_unit: str
    quantity: float  # exact to 9 decimals (summed as integer billionths)
    resources: int
    lines: int  # daily usage rows
    reason: str  # the first row's
    project_id: str | None = None  # set when summarised per project; None also means unallocated

    def describe(self) -> str:
        """'aws: 72 instance-hour of compute.instance unpriced (size unknown: flavor (unnamed), 1 resource)'."""
        effect = "left unpriced" if self.effect == UNPRICED else f"priced at the {self.effect}"
        things = f"{self.resources} resource{'s' if self.resources != 1 else ''}"
        return (f"{self.price_book}: {quantity_text(self.quantity)} {self.consumed_unit} of {self.service} {effect} "
                f"({self.kind}: {self.subject}, {things})")  # fmt: skip


def summarize(findings: pd.DataFrame, *, by_project: bool = False) -> tuple[FindingSummary, ...]:
    """Findings added up per book, kind, effect, service, subject and unit (and project), in
    that order; quantities exact to 9 decimals."""
    if findings.empty:
        return ()
    frame = findings.assign(
        _nanos=to_nanos(findings["consumed_quantity"], stage="findings"),
        _project=findings["project_id"].fillna("").astype(str) if by_project else "",
    )
    keys = ["price_book", "kind", "effect", "service", "subject", "consumed_unit", "_project"]
    out = []
    for key, group in frame.groupby(keys, sort=True, dropna=False):
        book, kind, effect, service, subject, unit, project = (str(part) for part in key)
        out.append(FindingSummary(
            price_book=book, kind=kind, effect=effect, service=service, subject=subject, consumed_unit=unit,
            quantity=int(group["_nanos"].sum()) / NANO, resources=int(group["resource_id"].nunique()),
            lines=len(group), reason=str(group["reason"].iat[0]), project_id=(project or None) if by_project else None,
        ))  # fmt: skip
    return tuple(out)


def quantity_text(value: float) -> str:
    """A quantity for people: thousands separated, at most 6 decimals, no trailing zeros."""
    text = f"{value:,.6f}".rstrip("0").rstrip(".")
    return text or "0"


def project_label(project_id: object) -> str:
    """A finding's project as a report names it: its id, or `unallocated`."""
    return project_id if isinstance(project_id, str) and project_id else UNALLOCATED


__all__ = [
    "BASE_PRICE", "KINDS", "NO_EQUIVALENT", "SIZE_UNKNOWN", "TYPE_UNRESOLVED", "UNPRICED", "VOLUME_SERVICES",
    "FindingSummary", "Priced", "concat_findings", "empty_findings", "findings_for", "is_type_id", "project_label",
    "quantity_text", "resolve_volume_types", "summarize", "type_findings", "unresolved_type_rows",
]  # fmt: skip
