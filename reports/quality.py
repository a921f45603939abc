"""Data quality of a month, as the finance summary states it: what was collected, what was
rejected, and whether the instance-hours agree with Nova.

- Collection gaps: hours of the window (up to the last rated instant) in which the store holds
  no usage row at all, and, per checkpointed collector source, the stretches its checkpoints
  do not cover. A cloud that runs nothing in an hour looks like a gap here too: the section
  says "hours without usage", not "data lost".
- Dead letters: the messages received during the window that could not be used, counted by
  reason. Reasons carry positions and values ("at column 17"); digits and quoted values are
  masked so one cause counts once.
- Reconciliation against Nova: a `Reconciliation` the pipeline hands in when the reconcile
  step has produced one; otherwise the section says so and shows the instance-hours the
  store recorded.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Final

from stackledger.window import Window

if TYPE_CHECKING:
    from stackledger.store.quality import QualityRecords

HOUR: Final = dt.timedelta(hours=1)
REASONS_SHOWN: Final = 12
_MASKS: Final = ((re.compile(r"'[^']*'|\"[^\"]*\""), "'…'"), (re.compile(r"\d+"), "#"))


@dataclass(frozen=True)
class Gap:
    start: dt.datetime
    end: dt.datetime

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600


@dataclass(frozen=True)
class SourceCoverage:
    """One checkpointed collector source over the checked span."""

    source: str
    windows: int
    rows: int
    gaps: tuple[Gap, ...]


@dataclass(frozen=True)
class ReasonCount:
    reason: str  # masked: digits as '#', quoted values as '…'
    count: int
    example: str  # one original reason


@dataclass(frozen=True)
class Reconciliation:
    """Instance-hours per project: Nova's os-simple-tenant-usage against StackLedger's usage."""

    available: bool
    summary: str  # one sentence for the report
    rows: tuple[tuple[str, str, str, str], ...] = ()  # project, Nova hours, StackLedger hours, difference


@dataclass(frozen=True)
class DataQuality:
    span: Window | None  # the hours checked: the window up to the last rated instant
    hours: int  # hours in the span
    hours_with_usage: int
    usage_gaps: tuple[Gap, ...]
    sources: tuple[SourceCoverage, ...]  # checkpointed collectors; empty when none ran
    dead_letters: tuple[ReasonCount, ...]
    dead_letter_total: int
    instance_hours: float  # compute.instance usage the store holds for the window
    reconciliation: Reconciliation

    def with_reconciliation(self, reconciliation: Reconciliation) -> DataQuality:
        return replace(self, reconciliation=reconciliation)


NOT_RECONCILED: Final = Reconciliation(
    available=False,
    summary="No reconciliation against Nova is stored for this period: run `stackledger reconcile` "
    "(Nova's os-simple-tenant-usage) to compare instance-hours.",
)


def data_quality(window: Window, rated_through: dt.datetime | None, found: QualityRecords) -> DataQuality:
    """The window's data quality, checked up to `rated_through` (the whole window when None),
    from the store's records of the whole window."""
    end = min(rated_through, window.end) if rated_through is not None else window.end
    span = Window(window.start, end) if end > window.start else None
    hours = _hours(span)
    reasons = Counter(found.dead_letter_reasons)
    return DataQuality(
        span=span,
        hours=len(hours),
        hours_with_usage=sum(hour in found.usage_hours for hour in hours),
        usage_gaps=_runs([hour for hour in hours if hour not in found.usage_hours]),
        sources=_coverage(found.checkpoints, span),
        dead_letters=masked_reasons(reasons),
        dead_letter_total=sum(reasons.values()),
        instance_hours=found.instance_hours,
        reconciliation=NOT_RECONCILED,
    )


def masked_reasons(reasons: Counter[str]) -> tuple[ReasonCount, ...]:
    """Reasons grouped after masking, most frequent first (ties by text); at most REASONS_SHOWN,
    the rest summed into one "other reasons" line."""
    groups: Counter[str] = Counter()
    examples: dict[str, str] = {}
    for reason, count in sorted(reasons.items()):
        masked = mask(reason)
        groups[masked] += count
        examples.setdefault(masked, reason)
    ranked = sorted(groups.items(), key=lambda item: (-item[1], item[0]))
    out = [ReasonCount(reason, count, examples[reason]) for reason, count in ranked[:REASONS_SHOWN]]
    rest = ranked[REASONS_SHOWN:]
    if rest:
        out.append(ReasonCount(f"{len(rest)} other reasons", sum(count for _, count in rest), ""))
    return tuple(out)


def mask(reason: str) -> str:
    text = " ".join(reason.split())
    for pattern, replacement in _MASKS:
        text = pattern.sub(replacement, text)
    return text[:160]


def _hours(span: Window | None) -> list[dt.datetime]:
    if span is None:
        return []
    first = span.start.replace(minute=0, second=0, microsecond=0)
    count = int((span.end - first) / HOUR + 0.999999)
    return [first + i * HOUR for i in range(count)]


def _runs(hours: list[dt.datetime]) -> tuple[Gap, ...]:
    """Consecutive hours merged into gaps."""
    gaps: list[Gap] = []
    for hour in hours:
        if gaps and gaps[-1].end == hour:
            gaps[-1] = Gap(gaps[-1].start, hour + HOUR)
        else:
            gaps.append(Gap(hour, hour + HOUR))
    return tuple(gaps)


def _coverage(windows: Iterable[tuple[str, dt.datetime, dt.datetime, int]], span: Window | None) -> tuple[
    SourceCoverage, ...
]:  # fmt: skip
    if span is None:
        return ()
    by_source: dict[str, list[tuple[dt.datetime, dt.datetime, int]]] = {}
    for source, start, end, rows in windows:
        if end > span.start and start < span.end:  # the collector windows overlapping the span
            by_source.setdefault(source, []).append((start, end, rows))
    out = []
    for source, found in sorted(by_source.items()):
        gaps, cursor = [], span.start
        for start, end, _rows in sorted(found):
            if start > cursor:
                gaps.append(Gap(cursor, min(start, span.end)))
            cursor = max(cursor, end)
        if cursor < span.end:
            gaps.append(Gap(cursor, span.end))
        out.append(SourceCoverage(source, len(found), sum(rows for *_, rows in found), tuple(gaps)))
    return tuple(out)
