"""What every collector returns, and the small protocol the pipeline drives.

A collector takes a ready client and a window and returns canonical records — hourly readings
(sample rows: Gnocchi's aggregates, the synthetic cloud's samples), resource revisions and
projects; it never writes and never computes usage. `stackledger.pipeline.collect` turns the
readings into usage (`transforms.usage`) and stores a window's records and its checkpoint in
one transaction, so a checkpoint never moves past a window that did not land.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

import pandas as pd

from stackledger.schema import PROJECT_COLUMNS, RESOURCE_COLUMNS, SAMPLE_COLUMNS, empty_frame
from stackledger.window import Window


@dataclass(frozen=True)
class Scope:
    """The projects a collect asks its source for.

    `projects` None: every project. Otherwise the listed ids — plus, when `unknown_besides` is
    given, every project not in it (one the store has not heard of yet: a project shard asks for
    its own known projects and for any new one). A source that cannot narrow by project answers
    for every project; the pipeline keeps only what the scope's shard owns."""

    projects: tuple[str, ...] | None = None
    unknown_besides: tuple[str, ...] | None = None

    @property
    def narrowed(self) -> bool:
        """Whether the ask leaves projects out, so a project filter must be sent. (An empty
        `projects` without `unknown_besides` would ask for nothing: the pipeline does not ask.)"""
        return bool(self.projects) or bool(self.unknown_besides)

    def asks(self, project_id: str | None) -> bool:
        """Whether rows of `project_id` (None: rows without a project, which no one knows) are asked for."""
        if self.projects is None or project_id in self.projects:
            return True
        return self.unknown_besides is not None and project_id not in self.unknown_besides


EVERY_PROJECT: Final = Scope()

# What a source stored before for some resource ids: resource_id -> its rows (RESOURCE_COLUMNS).
# The pipeline hands one to the collectors that keep their own revision history (Nova, Cinder).
History = Callable[[Sequence[str]], dict[str, list[dict[str, Any]]]]


@dataclass
class Failure:
    """One part of a window that could not be collected (a meter, a project, a page)."""

    scope: str  # e.g. "meter volume.size", "project 8f0c…"
    reason: str
    transient: bool = False


@dataclass
class Collected:
    """A window's worth of canonical records from one source."""

    # Hourly readings or samples (SAMPLE_COLUMNS), from before the window too where a counter
    # needs its previous reading: the pipeline computes the window's usage from them and `resources`.
    readings: pd.DataFrame = field(default_factory=lambda: empty_frame(SAMPLE_COLUMNS))
    resources: pd.DataFrame = field(default_factory=lambda: empty_frame(RESOURCE_COLUMNS))
    projects: pd.DataFrame = field(default_factory=lambda: empty_frame(PROJECT_COLUMNS))
    failures: list[Failure] = field(default_factory=list)
    requests: int = 0  # HTTP requests made, for the benchmarks and the run summary
    # False: `resources` is everything the source knows of those resources (every revision), so
    # their stored rows are replaced. True: only the revisions seen in this window (Gnocchi),
    # stored by (resource_id, valid_from) beside the revisions earlier windows stored.
    resources_partial: bool = False
    # Volume type id -> name (Cinder): rating resolves usage's volume type ids through them.
    volume_types: dict[str, str] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return not self.failures


class Collector(Protocol):
    name: str

    def collect(self, window: Window, scope: Scope) -> Collected:
        """The source's records for `window` (whole hours), of the projects `scope` asks for."""
        ...


__all__ = ["EVERY_PROJECT", "Collected", "Collector", "Failure", "History", "Scope"]
