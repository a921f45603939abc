"""The data an evaluation sees: a snapshot taken at one instant, and daily cost arranged per scope.

`Snapshot` is plain data (frames and mappings) so the engine stays a pure function of it;
`stackledger.pipeline.alarms` builds one from the store and Gnocchi, tests build them inline.

Daily cost is kept as integer micro-units on a day axis starting at `Snapshot.first_day`
and ending with the day `at` falls in (the day before, when `at` is midnight). A day is
*rated* when the price book has any cost line that day; an unrated day is unknown, not zero.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
import pandas as pd

from stackledger.alarms.stats import MICRO
from stackledger.transforms.currency import FxRate, pair_rates

DAILY_COST_COLUMNS = ("day", "project_id", "price_book", "currency", "cost")
PROJECT_COLUMNS = ("project_id", "name", "team", "budget_amount", "budget_currency", "budget_period")
MONTHLY_PERIODS = {None, "", "month", "monthly"}
_TINY = dt.timedelta(microseconds=1)


@dataclass(frozen=True)
class MetricPoints:
    """One metric rule's points: scope key -> [(naive UTC bucket start, value)], oldest first;
    or `error` saying why none could be read (the rule's alarms go to insufficient_data)."""

    series: Mapping[str, Sequence[tuple[dt.datetime, float]]] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class Snapshot:
    at: dt.datetime  # naive UTC
    first_day: dt.date  # first day of `daily_cost`'s axis
    daily_cost: pd.DataFrame  # DAILY_COST_COLUMNS: one row per day, project, book, currency; cost a number
    projects: pd.DataFrame  # PROJECT_COLUMNS
    metrics: Mapping[str, MetricPoints] = field(default_factory=dict)  # by rule name
    fx: tuple[FxRate, ...] = ()

    def __post_init__(self) -> None:
        # An empty frame built from no rows has no columns; give it the ones the engine reads.
        for name, columns in (("daily_cost", DAILY_COST_COLUMNS), ("projects", PROJECT_COLUMNS)):
            frame = getattr(self, name)
            if not set(columns) <= set(frame.columns):
                object.__setattr__(self, name, frame.reindex(columns=list(columns)))

    @property
    def last_day(self) -> dt.date:
        """The day `at` falls in, or the day before when `at` is midnight."""
        return (self.at - _TINY).date()

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    def index(self, day: dt.date) -> int:
        return (day - self.first_day).days


@dataclass
class CostCube:
    """Daily cost of one price book in one currency, per project, team and in total."""

    rated: np.ndarray  # bool per day
    projects: dict[str, np.ndarray]  # int64 micro-units per day
    teams: dict[str, list[str]]  # team -> its project ids
    problems: dict[str, str]  # project -> why its cost is unusable (no exchange rate)
    days: int
    _cache: dict[str, np.ndarray] = field(default_factory=dict)

    def series(self, scope_key: str) -> np.ndarray:
        """'project:<id>', 'team:<name>' or 'total'; a project without cost is all zeros."""
        cached = self._cache.get(scope_key)
        if cached is not None:
            return cached
        kind, _, name = scope_key.partition(":")
        if kind == "project":
            rows = [self.projects[name]] if name in self.projects else []
        elif kind == "team":
            rows = [self.projects[p] for p in self.teams.get(name, ()) if p in self.projects]
        else:
            rows = list(self.projects.values())
        found: np.ndarray = np.zeros(self.days, dtype=np.int64)
        for row in rows:
            found = found + row
        self._cache[scope_key] = found
        return found

    def problem(self, scope_key: str) -> str | None:
        if not self.problems:
            return None
        kind, _, name = scope_key.partition(":")
        members = [name] if kind == "project" else self.teams.get(name, []) if kind == "team" else list(self.problems)
        return next((self.problems[p] for p in members if p in self.problems), None)


def build_cube(snapshot: Snapshot, price_book: str, currency: str, team_of: Mapping[str, str]) -> CostCube:
    """Arrange the snapshot's daily cost of `price_book`, converted to `currency` with the
    snapshot's exchange rates (a project whose lines cannot be converted is listed in `problems`)."""
    frame = snapshot.daily_cost
    frame = frame[frame["price_book"] == price_book]
    days = pd.to_datetime(frame["day"]).to_numpy().astype("datetime64[D]")
    index = (days - np.datetime64(snapshot.first_day, "D")).astype(np.int64)
    inside = (index >= 0) & (index < snapshot.days)
    frame, index = frame[inside], index[inside]
    line_days = days[inside]
    rated = np.zeros(snapshot.days, dtype=bool)
    rated[index] = True
    micros = np.rint(frame["cost"].astype(float).to_numpy() * MICRO)
    problems: dict[str, str] = {}
    for source in sorted(set(frame["currency"].unique()) - {currency}):
        chosen = (frame["currency"] == source).to_numpy()
        rates = pair_rates(snapshot.fx, source, currency)
        starts = np.array([r.valid_from for r in rates], dtype="datetime64[D]")
        which = np.searchsorted(starts, line_days[chosen], side="right") - 1
        if not rates or (which < 0).any():
            for project in set(frame["project_id"][chosen]):
                problems[str(project)] = f"cost in {source} and no {source}→{currency} exchange rate for its days"
            micros[chosen] = 0
            continue
        factors = np.array([float(r.rate) for r in rates])[which]
        micros[chosen] = np.rint(micros[chosen] * factors)
    codes, names = pd.factorize(frame["project_id"].fillna(""))
    matrix = np.zeros((len(names), snapshot.days), dtype=np.int64)
    np.add.at(matrix, (codes, index), micros.astype(np.int64))
    projects = {str(name): matrix[i] for i, name in enumerate(names)}
    teams: dict[str, list[str]] = {}
    for project, team in team_of.items():
        teams.setdefault(team, []).append(project)
    return CostCube(rated, projects, teams, problems, snapshot.days)


def money(micros: float, places: int = 2) -> str:
    """Micro-units as a decimal string rounded half-even to `places` (cents by default)."""
    return str((Decimal(round(micros)) / MICRO).quantize(Decimal(1).scaleb(-places)))
