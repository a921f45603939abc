"""The synthetic cloud as a collector source: `stackledger collect --source synthetic` and the DAG tests.

It stands where Gnocchi stands: for a window it returns the synthetic cloud's samples
(`collectors.synthetic`: the same Ceilometer samples the demo writes, from the lookback before
the window on), from which the pipeline computes usage as for every other source
(`transforms.usage.hourly_usage`), plus the cloud's inventory and projects (what Nova, Cinder
and Keystone would report). Everything it returns is labelled: source `synthetic`, projects
tagged `synthetic`.

- The cloud is generated per calendar month (`generate_cloud(month)`), so a window must lie
  inside one month; readings before the month do not exist (a counter's first hour gives no delta).
- The `Scope` narrows a collect to some project ids (and, for a project shard, every project not
  known yet), as it narrows Gnocchi's searches.
- It is never part of `--source all`: a real cloud's store must not receive synthetic rows by accident.

Generating and parsing a month of samples takes a few seconds; the parsed month is kept per
process (two months at most), so hourly windows of the same month cost milliseconds each.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

import pandas as pd

from stackledger.collectors.base import EVERY_PROJECT, Collected, History, Scope
from stackledger.collectors.samples import parse_message
from stackledger.collectors.synthetic import (
    DEFAULT_POLL_MINUTES,
    DEFAULT_SEED,
    SOURCE,
    generate_cloud,
    messages,
    projects_frame,
    resources_frame,
)
from stackledger.errors import ConfigError
from stackledger.schema import PROJECT_COLUMNS, SAMPLE_COLUMNS, validate_frame
from stackledger.settings import Settings
from stackledger.window import Window

NAME: Final = SOURCE


@dataclass(frozen=True)
class _Month:
    samples: pd.DataFrame  # SAMPLE_COLUMNS, sorted by timestamp
    resources: pd.DataFrame  # RESOURCE_COLUMNS, every revision
    projects: pd.DataFrame  # PROJECT_COLUMNS + source


class SyntheticCollector:
    """A window of the synthetic cloud's samples, inventory and projects (module docstring)."""

    name = NAME

    def __init__(
        self,
        *,
        seed: int = DEFAULT_SEED,
        poll_minutes: int = DEFAULT_POLL_MINUTES,
        region: str = "RegionOne",
        currency: str = "EUR",
        lookback: dt.timedelta = dt.timedelta(hours=24),
    ) -> None:
        self.seed = seed
        self.poll_minutes = poll_minutes
        self.region = region
        self.currency = currency
        self.lookback = lookback

    def collect(self, window: Window, scope: Scope = EVERY_PROJECT) -> Collected:
        month = window.start.strftime("%Y-%m")
        if window.end > Window.month(month).end:
            raise ConfigError(
                f"window {window.label} spans two months; the synthetic cloud is generated per month", key="--start"
            )
        data = _month(month, self.seed, self.poll_minutes, self.region, self.currency)
        stamps = data.samples["timestamp"]
        first, last = stamps.searchsorted(window.start - self.lookback), stamps.searchsorted(window.end)
        samples, resources, projects = data.samples.iloc[first:last], data.resources, data.projects
        if scope.narrowed:
            wanted, known = set(scope.projects or ()), set(scope.unknown_besides or ())

            def asked(ids: pd.Series) -> pd.Series:
                return ids.isin(wanted) | (~ids.isin(known) if known else False)

            samples = samples[asked(samples["project_id"])]
            resources = resources[asked(resources["project_id"])]
            projects = projects[asked(projects["project_id"])]
        alive = resources["started_at"].isna() | (resources["started_at"] < window.end)
        alive &= resources["ended_at"].isna() | (resources["ended_at"] > window.start - self.lookback)
        # The whole inventory of the resources alive in the window (every revision: not partial).
        return Collected(
            readings=samples.reset_index(drop=True),
            resources=resources[alive].reset_index(drop=True),
            projects=projects.reset_index(drop=True),
        )


@lru_cache(maxsize=2)
def _month(month: str, seed: int, poll_minutes: int, region: str, currency: str) -> _Month:
    cloud = generate_cloud(month, seed=seed, poll_minutes=poll_minutes, region=region, currency=currency)
    rows = [row for n, message in enumerate(messages(cloud)) for row in parse_message(message, f"synthetic {n}")]
    frame = pd.DataFrame(rows, columns=list(SAMPLE_COLUMNS)).astype({"volume": "float64"})
    frame["timestamp"] = pd.to_datetime(frame["timestamp"]).astype("datetime64[ns]")
    frame = frame.sort_values("timestamp", kind="stable").reset_index(drop=True)
    samples = validate_frame(frame, SAMPLE_COLUMNS, stage="synthetic samples")
    projects = projects_frame(cloud)
    validate_frame(projects, PROJECT_COLUMNS, stage="synthetic projects")
    return _Month(samples, resources_frame(cloud), projects)


def from_settings(settings: Settings, history: History | None = None) -> SyntheticCollector:
    """The registry's factory (`stackledger.pipeline.collect.COLLECTORS`); the cloud is generated,
    so it has no history to read."""
    from stackledger.ratecard import load_rate_card  # the budgets' currency is the rate card's

    return SyntheticCollector(
        region=settings.usage.region,
        currency=load_rate_card(settings.rate_card).currency,
        lookback=dt.timedelta(hours=settings.usage.cumulative_lookback_hours),
    )


__all__ = ["NAME", "SyntheticCollector", "from_settings"]
