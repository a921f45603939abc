"""One project's report for its team lead, as data (pure, like `reports.summary`).

`project_reports(summary)` gives one `ProjectReport` per project with cost lines in the window:
its usage by service (every price book side by side), its daily internal cost by service
group, its budget burn-down with the forecast, the alarms about it, its team or its resources
(and whether the alarm rules were evaluated for the window at all: "no alarm fired" is only
said when they were), and its resources with their internal cost. Nothing of another project is in it: the email to
a team lead carries only these.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Final

from stackledger.reports.alarm_history import AlarmEvent, events_for
from stackledger.reports.budget import BurnDown, burn_down, day_axis
from stackledger.reports.compare import ComparisonRow
from stackledger.reports.data import ZERO, CostRow, ReportData
from stackledger.reports.facts import ResourceCost
from stackledger.reports.summary import FinanceSummary, ProjectLine
from stackledger.reports.tables import Column, ProjectTable, cost_table
from stackledger.store.alarm_evaluations import Evaluations

# Service name prefix -> the group its daily cost is stacked under.
SERVICE_GROUPS: Final = {"compute": "Compute", "block": "Storage", "image": "Storage", "network": "Network"}
OTHER_GROUP: Final = "Other"


@dataclass(frozen=True)
class ProjectReport:
    line: ProjectLine
    currency: str
    columns: tuple[Column, ...]  # price books of the usage table, internal first
    usage: ProjectTable | None  # None: the project has no cost rows this window (only last window's)
    comparison: ComparisonRow | None
    days: tuple[dt.date, ...]
    daily_groups: dict[str, tuple[Decimal, ...]]  # service group -> cost per day (report currency)
    burn_down: BurnDown | None
    alarms: tuple[AlarmEvent, ...] | None  # None: no alarm history in the store
    evaluations: Evaluations  # when the alarm rules ran for the window; none: "not evaluated", not "none fired"
    resources: tuple[ResourceCost, ...]  # largest first
    synthetic: bool
    data: ReportData  # this project's rows only

    @property
    def project_id(self) -> str:
        return self.line.project_id

    @property
    def fired(self) -> tuple[AlarmEvent, ...]:
        return tuple(event for event in self.alarms or () if event.fired)


def project_reports(summary: FinanceSummary) -> list[ProjectReport]:
    """Reports for every project with cost rows in the window (not the '(no project)' lines)."""
    rows: dict[str, list[CostRow]] = defaultdict(list)
    for row in summary.data.rows:
        rows[row.project_id].append(row)
    resources: dict[str, list[ResourceCost]] = defaultdict(list)
    for resource in summary.facts.resources:
        resources[resource.project_id].append(resource)
    compared = {row.project_id: row for row in summary.comparison.rows}
    out = []
    for line in summary.projects:
        if not line.project_id or line.project_id not in rows:
            continue
        data = replace(summary.data, rows=tuple(rows[line.project_id]), synthetic=line.synthetic,
                       synthetic_ids=frozenset({line.project_id}) if line.synthetic else frozenset(),
                       findings=tuple(f for f in summary.data.findings if f.project_id == line.project_id))  # fmt: skip
        out.append(_report(summary, line, data, resources.get(line.project_id, []), compared.get(line.project_id)))
    return out


def _report(
    summary: FinanceSummary, line: ProjectLine, data: ReportData, resources: list[ResourceCost],
    compared: ComparisonRow | None,
) -> ProjectReport:  # fmt: skip
    table = cost_table(data)
    axis = day_axis(summary.window)
    events = summary.facts.alarms
    ids = {resource.resource_id for resource in resources}
    mine = None if events is None else events_for(events, line.project_id, line.team, ids)
    burn = None
    if line.budget is not None and line.budget.spent is not None:
        burn = burn_down(line.budget, axis, list(line.daily), summary.days_done)
    return ProjectReport(
        line=line,
        currency=summary.currency,
        columns=table.columns,
        usage=table.projects[0] if table.projects else None,
        comparison=compared,
        days=axis,
        daily_groups=_groups(summary, line.project_id, axis),
        burn_down=burn,
        alarms=mine,
        evaluations=summary.facts.evaluations,
        resources=tuple(resources),
        synthetic=line.synthetic,
        data=data,
    )


def _groups(summary: FinanceSummary, project_id: str, axis: tuple[dt.date, ...]) -> dict[str, tuple[Decimal, ...]]:
    index = {day: i for i, day in enumerate(axis)}
    sums: dict[str, list[Decimal]] = {}
    for item in summary.facts.daily.get(project_id, ()):
        if item.currency != summary.currency or item.day not in index:
            continue
        group = SERVICE_GROUPS.get(item.service.split(".", 1)[0], OTHER_GROUP)
        sums.setdefault(group, [ZERO] * len(axis))[index[item.day]] += item.cost
    order = [*dict.fromkeys(SERVICE_GROUPS.values()), OTHER_GROUP]
    return {group: tuple(sums[group]) for group in order if group in sums}
