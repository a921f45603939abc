"""What the documents need beyond `ReportData`, read from the store once per report run.

`month_facts(store, window, ...)` returns a `MonthFacts`: the projects' attributes and budgets,
the internal cost of the previous period (month over month), the internal cost per day and
service (daily charts, burn-down, forecast), the internal cost per resource, the instant
rating has reached, and — from their own modules — the data-quality checks, the methodology
facts and the alarm history.

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

from sqlalchemy import Select, func, select

from stackledger.reports.alarm_history import AlarmEvent, alarm_events
from stackledger.reports.data import INTERNAL_BOOK, ZERO, cost_units_sum, from_units, in_window
from stackledger.reports.methodology import Methodology, PriceSource, methodology
from stackledger.reports.quality import DataQuality, data_quality
from stackledger.store import Store
from stackledger.store.alarm_evaluations import Evaluations, evaluations_for
from stackledger.store.tables import cost_lines, projects, resources
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
    name: str  # the latest revision's name; "" when the inventory does not know it
    resource_type: str
    detail: str  # flavor, or volume size and type
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

    @classmethod
    def empty(cls, window: Window) -> MonthFacts:
        return cls(window=window, previous_window=previous_window(window))

    @property
    def complete(self) -> bool:
        """Rating has reached the end of the window (no forecast needed)."""
        return self.rated_through is not None and self.rated_through >= self.window.end


def previous_window(window: Window) -> Window:
    """The calendar month before a month; otherwise the same length just before the window."""
    if window.label == window.start.strftime("%Y-%m"):
        return window.previous_month()
    return Window(window.start - (window.end - window.start), window.start)


def month_facts(
    store: Store, window: Window, *, price_sources: Mapping[tuple[str, str, str], PriceSource] | None = None,
    internal_source: str = "",
) -> MonthFacts:  # fmt: skip
    """Read everything the documents need for `window` beyond `ReportData`.

    `price_sources`: (price book, region, SKU) -> where that list price comes from (the
    loaded price books); `internal_source` names the rate card.
    """
    previous = previous_window(window)
    with store.engine.connect() as conn:
        info = {row.project_id: _info(row) for row in conn.execute(select(projects))}
        prior = _project_sums(conn.execute(_sums_query(previous)))
        daily = _daily(conn.execute(_daily_query(window)))
        through = conn.execute(
            select(func.max(cost_lines.c.charge_period_end)).where(in_window(window), _internal())
        ).scalar_one_or_none()
        costs = conn.execute(_resource_query(window)).all()
        names = {row.resource_id: row for row in conn.execute(_names_query(window))}
    facts = MonthFacts(
        window=window,
        previous_window=previous,
        projects=info,
        previous=prior,
        daily=daily,
        resources=_resources(costs, names),
        rated_through=min(through, window.end) if through is not None else None,
        quality=data_quality(store, window, through),
        methodology=methodology(store, window, price_sources or {}, internal_source),
        alarms=alarm_events(store, window),
        evaluations=evaluations_for(store, window),
    )
    log.debug("report facts %s: %d projects, %d resources", window.label, len(info), len(facts.resources))
    return facts


def _internal() -> Any:
    return cost_lines.c.price_book == INTERNAL_BOOK


def _info(row: Any) -> ProjectInfo:
    amount = row.budget_amount
    return ProjectInfo(
        project_id=row.project_id,
        name=row.name or row.project_id,
        team=row.team or "",
        cost_center=row.cost_center or "",
        budget_amount=None if amount is None else Decimal(str(amount)),
        budget_currency=row.budget_currency or "",
        budget_period=row.budget_period or "",
        source=row.source or "",
    )


def _sums_query(window: Window) -> Select[Any]:
    line = cost_lines.c
    return (
        select(line.project_id, line.currency, cost_units_sum().label("units"))
        .where(in_window(window), _internal())
        .group_by(line.project_id, line.currency)
    )


def _project_sums(rows: Any) -> dict[str, dict[str, Decimal]]:
    out: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))
    for project_id, currency, units in rows:
        out[project_id or ""][currency] += from_units(units)
    return {key: dict(value) for key, value in out.items()}


def _daily_query(window: Window) -> Select[Any]:
    line = cost_lines.c
    keys = (line.project_id, line.charge_period_start, line.service, line.currency)
    return select(*keys, cost_units_sum().label("units")).where(in_window(window), _internal()).group_by(*keys)


def _daily(rows: Any) -> dict[str, tuple[DayCost, ...]]:
    # Daily cost lines start at midnight; a shorter line (a window starting mid-day) counts on its day.
    sums: dict[tuple[str, dt.date, str, str], Decimal] = defaultdict(lambda: ZERO)
    for project_id, start, service, currency, units in rows:
        day = start.date() if isinstance(start, dt.datetime) else dt.date.fromisoformat(str(start)[:10])
        sums[(project_id or "", day, service, currency)] += from_units(units)
    out: dict[str, list[DayCost]] = defaultdict(list)
    for (project_id, day, service, currency), cost in sorted(sums.items()):
        out[project_id].append(DayCost(day, service, currency, cost))
    return {key: tuple(value) for key, value in out.items()}


def _resource_query(window: Window) -> Select[Any]:
    line = cost_lines.c
    keys = (line.project_id, line.resource_id, line.resource_type, line.service, line.flavor_name, line.currency)
    return select(*keys, cost_units_sum().label("units")).where(in_window(window), _internal()).group_by(*keys)


def _names_query(window: Window) -> Select[Any]:
    ids = select(cost_lines.c.resource_id).where(in_window(window)).distinct().scalar_subquery()
    r = resources.c
    return (
        select(r.resource_id, r.valid_from, r.name, r.flavor_name, r.size_gib, r.volume_type)
        .where(r.resource_id.in_(ids))
        .order_by(r.resource_id, r.valid_from)  # the latest revision wins below
    )


def _resources(costs: Iterable[Any], names: Mapping[str, Any]) -> tuple[ResourceCost, ...]:
    groups: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for project_id, resource_id, resource_type, service, flavor, currency, units in costs:
        key = (project_id or "", resource_id, resource_type, currency)
        group = groups.setdefault(key, {"cost": ZERO, "services": set(), "flavors": set()})
        group["cost"] += from_units(units)
        group["services"].add(service)
        if flavor:
            group["flavors"].add(flavor)
    out = []
    for (project_id, resource_id, resource_type, currency), group in groups.items():
        known = names.get(resource_id)
        out.append(ResourceCost(
            project_id=project_id, resource_id=resource_id, name=(known.name or "") if known else "",
            resource_type=resource_type, detail=_detail(known, sorted(group["flavors"])),
            services=tuple(sorted(group["services"])), currency=currency, cost=group["cost"],
        ))  # fmt: skip
    return tuple(sorted(out, key=lambda r: (-r.cost, r.currency, r.project_id, r.resource_id)))


def _detail(known: Any, flavors: list[str]) -> str:
    """What the resource is: its flavor(s), or its size and volume type."""
    if flavors:
        return ", ".join(flavors)  # several: resized during the window
    if known is None or known.size_gib is None:
        return ""
    size = f"{float(known.size_gib):g} GiB"
    return f"{size} {known.volume_type}" if known.volume_type else size
