"""The finance summary as data: every figure the summary PDF, the XLSX and the JSON show.

`finance_summary(data, facts, ...)` is pure: `ReportData` (the window's cost rows, every price
book) and `MonthFacts` (previous period, daily costs, resources, budgets, data quality,
methodology) in, a `FinanceSummary` out. The renderers only format it, so the PDF, XLSX and
JSON agree by construction.

The grand total is the internal price book: what the cloud charges. AWS and DigitalOcean
price the same usage for comparison ("would this be cheaper in a public cloud?") and are
never added to it. Money stays exact; a change is `current − previous` in the report
currency, a saving `baseline − internal` (positive: the public cloud would cost more).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final

from stackledger.reports.budget import BudgetStatus, Forecaster, budget_status, complete_days, daily_costs, day_axis
from stackledger.reports.compare import Comparison, comparison
from stackledger.reports.data import ZERO, ReportData, Total
from stackledger.reports.facts import MonthFacts, ProjectInfo, ResourceCost
from stackledger.schema import INTERNAL_BOOK, UNALLOCATED_NAME
from stackledger.window import Window

TOP_RESOURCES: Final = 10
MOVERS: Final = 5
PERCENT: Final = Decimal("0.1")
NO_TEAM: Final = "(no team)"
STATUS_ORDER: Final = ("over budget", "forecast over", "nearly used", "on track", "not comparable")

Amounts = Mapping[str, Decimal]  # currency -> exact amount


@dataclass(frozen=True)
class Change:
    """This period against the previous one, in the report currency (None: not comparable)."""

    difference: Decimal | None
    percent: Decimal | None  # relative to the previous period; None when it was zero


@dataclass(frozen=True)
class ProjectLine:
    project_id: str
    name: str
    team: str
    cost_center: str
    known: bool  # in the project inventory
    synthetic: bool
    cost: Amounts  # internal, this period
    previous: Amounts  # internal, the previous period
    change: Change
    budget: BudgetStatus | None
    daily: tuple[Decimal, ...] = ()  # internal cost per day of the window, report currency

    def amount(self, currency: str) -> Decimal:
        return self.cost.get(currency, ZERO)


@dataclass(frozen=True)
class TeamLine:
    team: str  # NO_TEAM for projects without one
    projects: int
    cost: Amounts
    previous: Amounts
    change: Change
    share: Decimal | None  # percent of the grand total (report currency)


@dataclass(frozen=True)
class ResourceLine:
    resource: ResourceCost
    project_name: str
    team: str


@dataclass(frozen=True)
class FinanceSummary:
    data: ReportData
    facts: MonthFacts
    currency: str  # the report currency (the rate card's)
    grand_totals: tuple[Total, ...]  # the internal price book, per currency
    baseline_totals: tuple[Total, ...]  # label = price book; per currency
    previous_totals: Amounts
    change: Change
    teams: tuple[TeamLine, ...]
    projects: tuple[ProjectLine, ...]  # largest cost first
    comparison: Comparison
    top_resources: tuple[ResourceLine, ...]
    days_done: int
    days_total: int
    movers_up: tuple[ProjectLine, ...] = field(default=())
    movers_down: tuple[ProjectLine, ...] = field(default=())

    @property
    def window(self) -> Window:
        return self.data.window

    @property
    def complete(self) -> bool:
        return self.days_done >= self.days_total

    @property
    def budgets(self) -> tuple[ProjectLine, ...]:
        """Projects with a budget, the most urgent first."""
        lines = [p for p in self.projects if p.budget is not None]
        return tuple(sorted(lines, key=_budget_key))

    @property
    def budget_counts(self) -> dict[str, int]:
        counts = Counter(p.budget.status for p in self.projects if p.budget is not None)
        return {status: counts[status] for status in STATUS_ORDER if counts[status]}

    @property
    def unbudgeted(self) -> int:
        return sum(p.budget is None for p in self.projects)


def finance_summary(
    data: ReportData, facts: MonthFacts, *, currency: str | None = None, forecaster: Forecaster | None = None
) -> FinanceSummary:
    report_currency = currency or _main_currency(data)
    axis = day_axis(data.window)
    done = complete_days(data.window, facts.rated_through) if facts.rated_through else len(axis)
    projects = _projects(data, facts, report_currency, axis, done, forecaster)
    ranked = tuple(sorted(projects, key=lambda p: (-p.amount(report_currency), p.name.casefold(), p.project_id)))
    grand = {t.currency: t.amount for t in data.internal_totals}
    previous = _sum(p.previous for p in projects)
    rising = [p for p in ranked if (p.change.difference or ZERO) > 0]
    falling = [p for p in ranked if (p.change.difference or ZERO) < 0]
    return FinanceSummary(
        data=data,
        facts=facts,
        currency=report_currency,
        grand_totals=data.internal_totals,
        baseline_totals=tuple(t for t in data.price_book_totals if t.label != INTERNAL_BOOK),
        previous_totals=previous,
        change=change(grand, previous, report_currency),
        teams=_teams(projects, report_currency, grand.get(report_currency, ZERO)),
        projects=ranked,
        comparison=comparison(data, {}, data.fx, report_currency),
        top_resources=_top(facts, {p.project_id: p for p in projects}),
        days_done=done,
        days_total=len(axis),
        movers_up=tuple(sorted(rising, key=_up)[:MOVERS]),
        movers_down=tuple(sorted(falling, key=_down)[:MOVERS]),
    )


def change(current: Amounts, previous: Amounts, currency: str) -> Change:
    """None when there is nothing to compare with (no cost in the previous period: a new project)
    or the amounts are in another currency than the report's."""
    if not previous or not set(current) <= {currency} or not set(previous) <= {currency}:
        return Change(None, None)
    now, before = current.get(currency, ZERO), previous.get(currency, ZERO)
    percent = ((now - before) / before * 100).quantize(PERCENT) if before else None
    return Change(now - before, percent)


def _projects(
    data: ReportData, facts: MonthFacts, currency: str, axis: tuple[dt.date, ...], done: int,
    forecaster: Forecaster | None,
) -> list[ProjectLine]:  # fmt: skip
    costs: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))
    seen: dict[str, tuple[str, str, bool]] = {}
    lead_axis, rated_days = facts.lead_axis, facts.rated_days()
    rated = [day in rated_days for day in (*lead_axis, *axis)]
    for row in data.rows:
        seen.setdefault(row.project_id, (row.project_name, row.team, row.known_project))
        if row.price_book == INTERNAL_BOOK:
            costs[row.project_id][row.currency] += row.cost
    for project_id in facts.previous:  # cost last period, none now: still a line (a drop to zero)
        known_info = facts.projects.get(project_id)
        seen.setdefault(project_id, _identity(project_id, known_info))
    out = []
    for project_id, (name, team, known) in seen.items():
        info = facts.projects.get(project_id)
        cost = dict(costs.get(project_id, {}))
        previous = dict(facts.previous.get(project_id, {}))
        days = facts.daily.get(project_id, ())
        daily = daily_costs(days, axis, currency)
        lead = daily_costs(days, lead_axis, currency)
        budget = budget_status(info, cost, daily, done, len(axis), forecaster, lead=lead, rated=rated)
        out.append(ProjectLine(
            project_id=project_id, name=name, team=team, cost_center=info.cost_center if info else "",
            known=known, synthetic=project_id in data.synthetic_ids, cost=cost, previous=previous,
            change=change(cost, previous, currency), budget=budget, daily=tuple(daily),
        ))  # fmt: skip
    return out


def _identity(project_id: str, info: ProjectInfo | None) -> tuple[str, str, bool]:
    if info is None:
        return (project_id or UNALLOCATED_NAME, "", False)
    return (info.name, info.team, True)


def _teams(projects: list[ProjectLine], currency: str, grand: Decimal) -> tuple[TeamLine, ...]:
    groups: dict[str, list[ProjectLine]] = defaultdict(list)
    for project in projects:
        groups[project.team or NO_TEAM].append(project)
    lines = []
    for team, members in groups.items():
        cost, previous = _sum(p.cost for p in members), _sum(p.previous for p in members)
        share = (cost.get(currency, ZERO) / grand * 100).quantize(PERCENT) if grand else None
        active = sum(1 for p in members if p.cost)
        lines.append(TeamLine(team, active, cost, previous, change(cost, previous, currency), share))
    return tuple(sorted(lines, key=lambda t: (-t.cost.get(currency, ZERO), t.team == NO_TEAM, t.team.casefold())))


def _top(facts: MonthFacts, projects: Mapping[str, ProjectLine]) -> tuple[ResourceLine, ...]:
    lines = []
    for resource in facts.resources[:TOP_RESOURCES]:  # already largest first
        project = projects.get(resource.project_id)
        lines.append(ResourceLine(resource, project.name if project else resource.project_id,
                                  project.team if project else ""))  # fmt: skip
    return tuple(lines)


def _sum(items: Iterable[Amounts]) -> dict[str, Decimal]:
    out: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for amounts in items:
        for currency, amount in amounts.items():
            out[currency] += amount
    return dict(sorted(out.items()))


def _main_currency(data: ReportData) -> str:
    totals = sorted(data.internal_totals, key=lambda t: (-t.amount, t.currency))
    return totals[0].currency if totals else (data.currencies[0] if data.currencies else "")


def _budget_key(project: ProjectLine) -> tuple[int, Decimal, str]:
    assert project.budget is not None
    used = project.budget.forecast_percent or project.budget.used_percent or Decimal(0)
    return (STATUS_ORDER.index(project.budget.status), -used, project.name.casefold())


def _up(project: ProjectLine) -> tuple[Decimal, str]:
    return (-(project.change.difference or ZERO), project.name.casefold())


def _down(project: ProjectLine) -> tuple[Decimal, str]:
    return (project.change.difference or ZERO, project.name.casefold())
