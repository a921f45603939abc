"""Say it when there is nothing: what a window lacks, for `rate`, `compare` and `report`.

`window_coverage(settings, window)` counts the window's samples (when usage is computed from
them, `usage.source: ceilometer`), its usage rows of `usage.source` and its internal cost lines;
`Coverage.warning()` names the window and what is missing, and the step that would fill it —
or None when the window has cost lines.
"""

from __future__ import annotations

from dataclasses import dataclass

from stackledger.pipeline.base import store_for
from stackledger.settings import Settings
from stackledger.store.coverage import window_counts
from stackledger.window import Window

SAMPLES_SOURCE = "ceilometer"  # the usage source computed from stored samples (pipeline.usage.SOURCE)


@dataclass(frozen=True)
class Coverage:
    window: Window
    usage_source: str
    samples: int | None  # None: usage does not come from samples (gnocchi, synthetic)
    usage_rows: int
    cost_lines: int  # internal price book

    @property
    def empty(self) -> bool:
        """No cost lines: nothing to price, compare or report."""
        return self.cost_lines == 0

    def missing(self) -> list[str]:
        """'no samples', 'no usage', 'no cost lines': what the window lacks, in pipeline order."""
        gaps = [("no samples", self.samples == 0), ("no usage", self.usage_rows == 0),
                ("no cost lines", self.cost_lines == 0)]  # fmt: skip
        return [name for name, absent in gaps if absent]

    def warning(self) -> str | None:
        """'2026-11: no samples, no usage and no cost lines: …' or None when it has cost lines."""
        if not self.empty:
            return None
        label = self.window.label
        gaps = self.missing()
        listed = gaps[0] if len(gaps) == 1 else ", ".join(gaps[:-1]) + " and " + gaps[-1]
        if self.samples == 0:
            hint = "nothing was ingested for it (stackledger ingest FILE, or stackledger consume)"
        elif self.usage_rows == 0 and self.samples is None:
            hint = f"nothing was collected for it (stackledger collect --source {self.usage_source})"
        else:
            start, end = self.window.start.isoformat(), self.window.end.isoformat()
            which = f"--month {label}" if "/" not in label else f"--start {start} --end {end}"
            hint = f"it is not rated yet (stackledger rate {which})"
        held = f" ({self.samples:,} samples stored)" if self.samples else ""
        return f"{label}: {listed} in the store{held}: {hint}"


def window_coverage(settings: Settings, window: Window) -> Coverage:
    """What the store holds for `window` (counts only; nothing is computed or written)."""
    source = settings.usage.source
    counts = window_counts(store_for(settings), window, usage_source=source)
    samples = counts.samples if source == SAMPLES_SOURCE else None
    return Coverage(window, source, samples, counts.usage_rows, counts.cost_lines)
