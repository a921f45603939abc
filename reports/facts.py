"""What the documents need beyond `ReportData`, built from the store's `MonthRecords`.

`month_facts(records, ...)` returns a `MonthFacts`: the projects' attributes and budgets,
the internal cost of the previous period (month over month), the internal cost per day and
service (daily charts, burn-down, forecast; from `lead_days` days before the window, the
trailing days an early forecast learns from), the internal cost per resource, the instant
rating has reached, and — from their own modules — the data-quality checks, the methodology
facts and the alarm history. The records are read by `stackledger.store.reports.month_records`
for the window and `previous_window(window)`.

Resources are shown as what they are: a network interface's traffic (its `instance_id` names
another resource: `stackledger.store.interfaces`) is "egress of <instance name>", type
`interface`, with the interface as detail — not an instance with a flavor.

Every cost here is the internal price book (what the cloud charges), summed exactly as in
`reports.data`; the public baselines are only ever in `ReportData` and the comparison.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from stackledger.reports.alarm_history import AlarmEvent, alarm_events
from stackledger.reports.data import ZERO
from stackledger.reports.methodology import Methodology, PriceSource, methodology
from stackledger.reports.quality import DataQuality, data_quality
from stackledger.store.alarm_evaluations import Evaluations
from stackledger.store.interfaces import Interface
from stackledger.store.reports import (
    DailyCostSum,
    MonthRecords,
    ProjectCostSum,
    ProjectRecord,
    ResourceCostSum,
    ResourceRevision,
)
from stackledger.window import Window

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProjectInfo:
    """A project's row in the inventory (Keystone), as the documents show it."""

    project_id: str
    name: str
    team: str = ""
    cost_center: str = ""
    budget_amount: Decimal | None = None  # per `budget_period` (normally a month)
    budget_currency: str = ""
    budget_period: str = ""
    source: str = ""


@dataclass(frozen=True)
class DayCost:
    """Internal cost of one project, day and service."""

    day: dt.date
    service: str
    currency: str
    cost: Decimal


@dataclass(frozen=True)
class ResourceCost:
    """Internal cost of one resource over the window."""

    project_id: str
    resource_id: str
    name: str  # the latest revision's name, "egress of <instance>" for an interface; "" when unknown
    resource_type: str  # "interface" for an instance's network interface
    detail: str  # flavor, or volume size and type, or "interface <name>"
    services: tuple[str, ...]
    currency: str
    cost: Decimal


@dataclass(frozen=True)
class MonthFacts:
    window: Window
    previous_window: Window
    projects: Mapping[str, ProjectInfo] = field(default_factory=dict)
    previous: Mapping[str, Mapping[str, Decimal]] = field(default_factory=dict)  # project -> currency -> cost
    daily: Mapping[str, tuple[DayCost, ...]] = field(default_factory=dict)  # project -> days, in day order
    resources: tuple[ResourceCost, ...] = ()  # largest cost first
    rated_through: dt.datetime | None = None  # end of the last internal cost line in the window
    quality: DataQuality | None = None  # None: not read (a document rendered without the store)
    methodology: Methodology = field(default_factory=Methodology)
    alarms: tuple[AlarmEvent, ...] | None = None  # None: the store keeps no alarm history
    # When the alarm rules were evaluated for the window: none means "not evaluated", not "no alarm fired".
    evaluations: Evaluations = field(default_factory=lambda: Evaluations(0, None, None))
    lead_days: int = 0  # whole days before the window that `daily` holds too

    @classmethod
    def empty(cls, window: Window) -> MonthFacts:
        return cls(window=window, previous_window=previous_window(window))

    @property
    def complete(self) -> bool:
        """Rating has reached the end of the window (no forecast needed)."""
        return self.rated_through is not None and self.rated_through >= self.window.end

    @property
    def lead_axis(self) -> tuple[dt.date, ...]:
        """The `lead_days` days before the window, oldest first."""
        first = self.window.start.date()
        return tuple(first - dt.timedelta(days=back) for back in range(self.lead_days, 0, -1))

    def rated_days(self) -> frozenset[dt.date]:
        """Days with any internal cost line (of any project): a day without one is unknown, not zero."""
        return frozenset(item.day for days in self.daily.values() for item in days)


def previous_window(window: Window) -> Window:
    """The calendar month before a month; otherwise the same length just before the window."""
    if window.label == window.start.strftime("%Y-%m"):
        return window.previous_month()
    return Window(window.start - (window.end - window.start), window.start)


def month_facts(
    records: MonthRecords, *, price_sources: Mapping[tuple[str, str, str], PriceSource] | None = None,
    internal_source: str = "",
) -> MonthFacts:  # fmt: skip
    """Everything the documents need for `records.window` beyond `ReportData`.

    `price_sources`: (price book, region, SKU) -> where that list price comes from (the
    loaded price books); `internal_source` names the rate card.
    """
    window, through = records.window, records.rated_through
    facts = MonthFacts(
        window=window,
        previous_window=records.previous_window,
        projects={record.project_id: _info(record) for record in records.projects},
        previous=_project_sums(records.previous_costs),
        daily=_daily(records.daily_costs),
        resources=_resources(records.resource_costs, records.resources, records.interfaces),
        rated_through=min(through, window.end) if through is not None else None,
        quality=data_quality(window, through, records.quality),
        methodology=methodology(records.prices, records.instance_mappings, price_sources or {}, internal_source),
        alarms=alarm_events(records.alarm_transitions),
        evaluations=records.evaluations,
        lead_days=records.lead_days,
    )
    log.debug("report facts %s: %d projects, %d resources", window.label, len(facts.projects), len(facts.resources))
    return facts


def _info(record: ProjectRecord) -> ProjectInfo:
    return ProjectInfo(
        project_id=record.project_id,
        name=record.name or record.project_id,
        team=record.team or "",
        cost_center=record.cost_center or "",
        budget_amount=record.budget_amount,
        budget_currency=record.budget_currency or "",
        budget_period=record.budget_period or "",
        source=record.source or "",
    )


def _project_sums(sums: Iterable[ProjectCostSum]) -> dict[str, dict[str, Decimal]]:
    out: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))
    for project_id, currency, cost in sums:
        out[project_id or ""][currency] += cost
    return {key: dict(value) for key, value in out.items()}


def _daily(sums: Iterable[DailyCostSum]) -> dict[str, tuple[DayCost, ...]]:
    # Daily cost lines start at midnight; a shorter line (a window starting mid-day) counts on its day.
    by_day: dict[tuple[str, dt.date, str, str], Decimal] = defaultdict(lambda: ZERO)
    for project_id, day, service, currency, cost in sums:
        by_day[(project_id or "", day, service, currency)] += cost
    out: dict[str, list[DayCost]] = defaultdict(list)
    for (project_id, day, service, currency), cost in sorted(by_day.items()):
        out[project_id].append(DayCost(day, service, currency, cost))
    return {key: tuple(value) for key, value in out.items()}


def _resources(
    costs: Iterable[ResourceCostSum], revisions: Mapping[str, ResourceRevision], interfaces: Mapping[str, Interface]
) -> tuple[ResourceCost, ...]:  # fmt: skip
    groups: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for project_id, resource_id, resource_type, service, flavor, currency, cost in costs:
        key = (project_id or "", resource_id, resource_type, currency)
        group = groups.setdefault(key, {"cost": ZERO, "services": set(), "flavors": set(), "charged": set()})
        group["cost"] += cost
        group["services"].add(service)
        if cost:
            group["charged"].add(service)
        if flavor:
            group["flavors"].add(flavor)
    out = []
    for (project_id, resource_id, resource_type, currency), group in groups.items():
        known = revisions.get(resource_id)
        name, detail = (known.name or "") if known else "", _detail(known, sorted(group["flavors"]))
        interface = interfaces.get(resource_id)
        if interface is not None:
            name, resource_type = _traffic_of(interface, group["charged"] or group["services"]), "interface"
            detail = f"interface {interface.name or resource_id}"
        out.append(ResourceCost(
            project_id=project_id, resource_id=resource_id, name=name, resource_type=resource_type, detail=detail,
            services=tuple(sorted(group["services"])), currency=currency, cost=group["cost"],
        ))  # fmt: skip
    return tuple(sorted(out, key=lambda r: (-r.cost, r.currency, r.project_id, r.resource_id)))


def _traffic_of(interface: Interface, services: Iterable[str]) -> str:
    """'egress of web-1' (the network services that cost something, else all of them)."""
    kinds = sorted(service.split(".", 1)[1] for service in services if service.startswith("network."))
    return f"{' and '.join(kinds) or 'traffic'} of {interface.instance_name or interface.instance_id}"


def _detail(known: ResourceRevision | None, flavors: list[str]) -> str:
    """What the resource is: its flavor(s), or its size and volume type."""
    if flavors:
        return ", ".join(flavors)  # several: resized during the window
    if known is None or known.size_gib is None:
        return ""
    size = f"{float(known.size_gib):g} GiB"
    return f"{size} {known.volume_type}" if known.volume_type else size
