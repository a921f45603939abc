"""The records report queries return (`stackledger.store.reports`): plain named tuples and frozen
dataclasses, with the drivers' differences already settled — costs exact `Decimal`s, days
`datetime.date`, instants naive UTC — so `stackledger.reports` builds its models from them alone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple

from stackledger.store.alarm_evaluations import Evaluations
from stackledger.store.alarms import AlarmTransition
from stackledger.store.findings import FindingSum
from stackledger.store.interfaces import Interface
from stackledger.store.quality import QualityRecords
from stackledger.window import Window


class CostSum(NamedTuple):
    """Cost of one project, service, price book, unit and currency over a window."""

    project_id: str | None  # None: cost lines without a project
    project_name: str | None  # None: the project is not in the projects table, or has no name
    team: str | None
    project_source: str | None  # projects.source ('synthetic' for the demo cloud)
    known_project: bool  # the project id is in the projects table
    service: str
    price_book: str
    consumed_unit: str
    currency: str
    consumed_quantity: float  # in consumed_unit
    cost: Decimal  # exact sum, COST_DECIMALS decimals


class FxUse(NamedTuple):
    """An exchange rate some of a window's cost lines were converted with."""

    project_id: str | None
    service: str
    price_book: str
    consumed_unit: str
    currency: str  # converted into
    source_currency: str | None  # converted from
    fx_rate: Decimal


@dataclass(frozen=True)
class CostRecords:
    sums: tuple[CostSum, ...]
    fx: tuple[FxUse, ...]  # distinct
    findings: tuple[FindingSum, ...] = ()  # usage the books could not price as usual


class ProjectRecord(NamedTuple):
    project_id: str
    name: str | None
    team: str | None
    cost_center: str | None
    budget_amount: Decimal | None
    budget_currency: str | None
    budget_period: str | None
    source: str | None


class ProjectCostSum(NamedTuple):
    project_id: str | None
    currency: str
    cost: Decimal


class DailyCostSum(NamedTuple):
    """The cost lines of one project, service and currency starting at one instant (normally midnight)."""

    project_id: str | None
    day: dt.date  # the day the lines start on
    service: str
    currency: str
    cost: Decimal


class ResourceCostSum(NamedTuple):
    project_id: str | None
    resource_id: str
    resource_type: str
    service: str
    flavor_name: str  # '' when none
    currency: str
    cost: Decimal


class ResourceRevision(NamedTuple):
    """A resource as its latest inventory revision describes it."""

    name: str | None
    flavor_name: str | None
    size_gib: float | None
    volume_type: str | None


class PriceRecord(NamedTuple):
    """One unit price that priced `lines` cost lines of a window."""

    price_book: str
    sku: str
    pricing_region: str | None
    list_unit_price: Decimal
    pricing_unit: str
    currency: str
    price_as_of: dt.date | None
    fx_rate: Decimal | None
    source_unit_price: Decimal | None
    source_currency: str | None
    lines: int


class MappingRecord(NamedTuple):
    """How a flavor's instance-hours were matched to a public instance type."""

    flavor_name: str
    price_book: str
    mapping: str  # 'm1.large 4 vCPU 8 GiB → m5.xlarge 0.192 USD/h, us-east-1, as of …'


@dataclass(frozen=True)
class MonthRecords:
    """What the documents need for a window beyond its `CostRecords`.

    Costs here are the internal price book's. `quality` covers the whole window: the
    data-quality section clips it to the hours rating has reached.
    """

    window: Window
    previous_window: Window
    projects: tuple[ProjectRecord, ...]
    previous_costs: tuple[ProjectCostSum, ...]  # the previous window's, per project and currency
    daily_costs: tuple[DailyCostSum, ...]  # from `lead_days` days before the window to its end
    rated_through: dt.datetime | None  # the latest end of the window's internal cost lines
    resource_costs: tuple[ResourceCostSum, ...]
    resources: Mapping[str, ResourceRevision]  # resource id -> latest revision, for those with cost lines
    quality: QualityRecords  # collected and rejected data
    prices: tuple[PriceRecord, ...]
    instance_mappings: tuple[MappingRecord, ...]  # distinct, public books' compute.instance lines
    alarm_transitions: tuple[AlarmTransition, ...] | None  # None: the store keeps no alarm history
    evaluations: Evaluations  # when the alarm rules were evaluated for the window (none: "not evaluated")
    # Resources with network cost lines that are an instance's interface -> that instance.
    interfaces: Mapping[str, Interface] = field(default_factory=dict)
    lead_days: int = 0  # whole days before the window that `daily_costs` covers too (a forecast's history)


# ---------------------------------------------------------------- loaders
