"""What every collector returns, and the small protocol the pipeline drives.

A collector takes a ready client and a window and returns canonical frames; it never writes.
`stackledger.pipeline.collect` stores a window's frames and its checkpoint in one transaction,
so a checkpoint never moves past a window that did not land.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import pandas as pd

from stackledger.schema import PROJECT_COLUMNS, RESOURCE_COLUMNS, USAGE_COLUMNS, empty_frame
from stackledger.window import Window


@dataclass
class Failure:
    """One part of a window that could not be collected (a meter, a project, a page)."""

    scope: str  # e.g. "meter volume.size", "project 8f0c…"
    reason: str
    transient: bool = False


@dataclass
class Collected:
    """A window's worth of canonical records from one source."""

    usage: pd.DataFrame = field(default_factory=lambda: empty_frame(USAGE_COLUMNS))
    resources: pd.DataFrame = field(default_factory=lambda: empty_frame(RESOURCE_COLUMNS))
    projects: pd.DataFrame = field(default_factory=lambda: empty_frame(PROJECT_COLUMNS))
    failures: list[Failure] = field(default_factory=list)
    requests: int = 0  # HTTP requests made, for the benchmarks and the run summary
    # False: `resources` is everything the source knows of those resources (every revision), so
    # their stored rows are replaced. True: only the revisions seen in this window (Gnocchi),
    # stored by (resource_id, valid_from) beside the revisions earlier windows stored.
    resources_partial: bool = False

    @property
    def complete(self) -> bool:
        return not self.failures


class Collector(Protocol):
    name: str

    def collect(self, window: Window) -> Collected: ...
