"""Report queries: what the documents, the comparison and the FOCUS export read from the store.

Every query selects cost lines by the rule all reports share: the line's charge period starts
in the window. Results come back as plain records (named tuples, frames), with the drivers'
differences already settled here, so `stackledger.reports` builds its models from them alone:

- costs are exact `Decimal`s with COST_DECIMALS decimals. They are summed in the database as
  integer millionths: PostgreSQL's NUMERIC would sum exactly on its own, but SQLite keeps
  NUMERIC as REAL and a float SUM drifts; round(cost × 10^6) recovers each stored 6-decimal
  value exactly, and an integer SUM is exact on both.
- unit prices are `Decimal`s as written (SQLite hands NUMERIC back through float; the stored
  text had at most 10 decimals), exchange rates `Decimal`s, days `datetime.date`, instants naive.

`cost_records` feeds `ReportData` (every format), `month_records` everything else the
documents show (read on one connection), `baseline_mappings` the comparison, and
`focus_lines` / `focus_resource_names` the FOCUS export.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, Final

import pandas as pd
from sqlalchemy import BigInteger, ColumnElement, Select, and_, cast, func, select

from stackledger.schema import COST_DECIMALS, INTERNAL_BOOK
from stackledger.store import Store
from stackledger.store.alarm_evaluations import evaluations_for
from stackledger.store.alarms import transitions
from stackledger.store.findings import finding_sums
from stackledger.store.interfaces import interface_instances
from stackledger.store.quality import naive, quality_records
from stackledger.store.report_records import (
    CostRecords,
    CostSum,
    DailyCostSum,
    FxUse,
    MappingRecord,
    MonthRecords,
    PriceRecord,
    ProjectCostSum,
    ProjectRecord,
    ResourceCostSum,
    ResourceRevision,
)
from stackledger.store.tables import cost_lines, projects, resources
from stackledger.window import Window

_SCALE: Final = 10**COST_DECIMALS
_PRICE_DECIMALS: Final = Decimal("1e-10")  # tables.PRICE's scale


def cost_records(store: Store, window: Window) -> CostRecords:
    """The window's cost per project, service, price book, unit and currency, the exchange rates
    its converted lines used, and its findings."""
    with store.engine.connect() as conn:
        sums = tuple(_cost_sum(row) for row in conn.execute(_cost_query(window)))
        fx = tuple(_fx_use(row) for row in conn.execute(_fx_query(window)))
        findings = finding_sums(conn, window)
    return CostRecords(sums, fx, findings)


def month_records(store: Store, window: Window, previous: Window, *, lead_days: int = 0) -> MonthRecords:
    """Everything else the documents show for `window`; `previous` is the period compared against.
    The daily costs start `lead_days` days before the window: the trailing days a forecast
    made early in the window learns from."""
    daily_window = Window(window.start - dt.timedelta(days=lead_days), window.end)
    with store.engine.connect() as conn:
        through = conn.execute(_through_query(window)).scalar_one_or_none()
        resource_costs = tuple(_resource_cost(row) for row in conn.execute(_resource_query(window)))
        network = [cost.resource_id for cost in resource_costs if cost.service.startswith("network.")]
        return MonthRecords(
            window=window,
            previous_window=previous,
            projects=tuple(_project(row) for row in conn.execute(select(projects))),
            previous_costs=tuple(
                ProjectCostSum(p, c, from_units(u)) for p, c, u in conn.execute(_sums_query(previous))
            ),
            daily_costs=tuple(_daily(row) for row in conn.execute(_daily_query(daily_window))),
            rated_through=None if through is None else naive(through),
            resource_costs=resource_costs,
            resources=_latest_revisions(conn.execute(_revisions_query(window))),
            quality=quality_records(conn, window),
            prices=tuple(_price(row) for row in conn.execute(_prices_query(window))),
            instance_mappings=tuple(MappingRecord(*row) for row in conn.execute(_mappings_query(window))),
            alarm_transitions=transitions(conn, window),
            evaluations=evaluations_for(conn, window),
            interfaces=interface_instances(conn, network, window),
            lead_days=lead_days,
        )


def baseline_mappings(store: Store, window: Window, books: Iterable[str]) -> list[tuple[str | None, str, str, str]]:
    """Distinct (project id, price book, service, mapping text) of the window's lines of `books`."""
    line = cost_lines.c
    query = (
        select(line.project_id, line.price_book, line.service, line.mapping)
        .distinct()
        .where(in_window(window), line.price_book.in_(list(books)), line.mapping.is_not(None))
    )
    with store.engine.connect() as conn:
        return [(project_id, book, service, mapping) for project_id, book, service, mapping in conn.execute(query)]


def focus_lines(store: Store, window: Window) -> pd.DataFrame:
    """Every cost line of the window (every price book) with its project's name, team, cost
    center and tags; in no particular order."""
    line = cost_lines.c
    query = (
        select(
            line.charge_period_start, line.charge_period_end, line.project_id, projects.c.name.label("project_name"),
            projects.c.team, projects.c.cost_center, projects.c.tags, line.resource_id, line.resource_type,
            line.service, line.flavor_name, line.region, line.consumed_quantity, line.consumed_unit, line.price_book,
            line.sku, line.list_unit_price, line.pricing_quantity, line.pricing_unit, line.cost, line.currency,
            line.price_as_of, line.fx_rate, line.source_unit_price, line.source_currency, line.pricing_region,
            line.mapping,
        )
        .select_from(cost_lines.outerjoin(projects, projects.c.project_id == line.project_id))
        .where(in_window(window))
    )  # fmt: skip
    return store.frame(query)


def focus_resource_names(store: Store, window: Window) -> pd.DataFrame:
    """resource_id, valid_from, resource_name of every revision of the resources with cost lines in the window."""
    ids = select(func.distinct(cost_lines.c.resource_id)).where(in_window(window)).scalar_subquery()
    r = resources.c
    return store.frame(select(r.resource_id, r.valid_from, r.name.label("resource_name")).where(r.resource_id.in_(ids)))


# ---------------------------------------------------------------- queries


def in_window(window: Window) -> ColumnElement[bool]:
    """Cost lines whose charge period starts in `window` (the rule every report query uses)."""
    return and_(cost_lines.c.charge_period_start >= window.start, cost_lines.c.charge_period_start < window.end)


def cost_units_sum() -> ColumnElement[Any]:
    """SUM of cost_lines.cost as exact integer millionths (`from_units` makes it a Decimal again):
    SQLite keeps NUMERIC as REAL, and round(cost × 10^6) recovers each stored 6-decimal value
    before an integer SUM, so every grouping of the same lines sums to the same cents."""
    return func.sum(cast(func.round(cost_lines.c.cost * _SCALE), BigInteger)).label("units")


def _internal() -> ColumnElement[bool]:
    return cost_lines.c.price_book == INTERNAL_BOOK


def _cost_query(window: Window) -> Select[Any]:
    line = cost_lines.c
    keys = (
        line.project_id, projects.c.name, projects.c.team, projects.c.source,
        projects.c.project_id.label("known_project_id"), line.service, line.price_book, line.consumed_unit,
        line.currency,
    )  # fmt: skip
    return (
        select(*keys, func.sum(line.consumed_quantity).label("consumed_quantity"), cost_units_sum())
        .select_from(cost_lines.outerjoin(projects, projects.c.project_id == line.project_id))
        .where(in_window(window))
        .group_by(*keys)
    )


def _fx_query(window: Window) -> Select[Any]:
    line = cost_lines.c
    keys = (line.project_id, line.service, line.price_book, line.consumed_unit, line.currency, line.source_currency)
    return select(*keys, line.fx_rate).distinct().where(in_window(window), line.fx_rate.is_not(None))


def _sums_query(window: Window) -> Select[Any]:
    line = cost_lines.c
    keys = (line.project_id, line.currency)
    return select(*keys, cost_units_sum()).where(in_window(window), _internal()).group_by(*keys)


def _daily_query(window: Window) -> Select[Any]:
    line = cost_lines.c
    keys = (line.project_id, line.charge_period_start, line.service, line.currency)
    return select(*keys, cost_units_sum()).where(in_window(window), _internal()).group_by(*keys)


def _through_query(window: Window) -> Select[Any]:
    return select(func.max(cost_lines.c.charge_period_end)).where(in_window(window), _internal())


def _resource_query(window: Window) -> Select[Any]:
    line = cost_lines.c
    keys = (line.project_id, line.resource_id, line.resource_type, line.service, line.flavor_name, line.currency)
    return select(*keys, cost_units_sum()).where(in_window(window), _internal()).group_by(*keys)


def _revisions_query(window: Window) -> Select[Any]:
    ids = select(cost_lines.c.resource_id).where(in_window(window)).distinct().scalar_subquery()
    r = resources.c
    return (
        select(r.resource_id, r.name, r.flavor_name, r.size_gib, r.volume_type)
        .where(r.resource_id.in_(ids))
        .order_by(r.resource_id, r.valid_from)  # the latest revision is read last
    )


def _prices_query(window: Window) -> Select[Any]:
    line = cost_lines.c
    keys = (
        line.price_book, line.sku, line.pricing_region, line.list_unit_price, line.pricing_unit, line.currency,
        line.price_as_of, line.fx_rate, line.source_unit_price, line.source_currency,
    )  # fmt: skip
    return select(*keys, func.count().label("lines")).where(in_window(window)).group_by(*keys)


def _mappings_query(window: Window) -> Select[Any]:
    line = cost_lines.c
    return (
        select(line.flavor_name, line.price_book, line.mapping)
        .distinct()
        .where(in_window(window), line.service == "compute.instance", line.price_book != INTERNAL_BOOK)
        .where(line.mapping.is_not(None))
    )


# ---------------------------------------------------------------- rows → records


def from_units(units: Any) -> Decimal:
    """Integer millionths (`cost_units_sum`) as the Decimal amount."""
    return Decimal(int(units or 0)).scaleb(-COST_DECIMALS)


def _price_decimal(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(_PRICE_DECIMALS).normalize()


def _day(value: Any) -> dt.date:
    """A DATE or TIMESTAMP as the driver hands it (SQLite's may be ISO text) → its date."""
    if isinstance(value, dt.datetime):
        return value.date()
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


def _cost_sum(row: Any) -> CostSum:
    project_id, name, team, source, known_id, service, book, unit, currency, quantity, units = row
    return CostSum(project_id, name, team, source, known_id is not None, service, book, unit, currency,
                   float(quantity or 0.0), from_units(units))  # fmt: skip


def _fx_use(row: Any) -> FxUse:
    project_id, service, book, unit, currency, source_currency, rate = row
    return FxUse(project_id, service, book, unit, currency, source_currency, Decimal(str(rate)))


def _project(row: Any) -> ProjectRecord:
    amount = row.budget_amount
    return ProjectRecord(
        row.project_id, row.name, row.team, row.cost_center, None if amount is None else Decimal(str(amount)),
        row.budget_currency, row.budget_period, row.source,
    )  # fmt: skip


def _daily(row: Any) -> DailyCostSum:
    project_id, start, service, currency, units = row
    return DailyCostSum(project_id, _day(start), service, currency, from_units(units))


def _resource_cost(row: Any) -> ResourceCostSum:
    project_id, resource_id, resource_type, service, flavor, currency, units = row
    return ResourceCostSum(project_id, resource_id, resource_type, service, flavor or "", currency, from_units(units))


def _latest_revisions(rows: Iterable[Any]) -> dict[str, ResourceRevision]:
    found: dict[str, ResourceRevision] = {}
    for resource_id, name, flavor, size_gib, volume_type in rows:
        found[resource_id] = ResourceRevision(name, flavor, None if size_gib is None else float(size_gib), volume_type)
    return found


def _price(row: Any) -> PriceRecord:
    book, sku, region, price, unit, currency, as_of, fx, source_price, source_currency, lines = row
    return PriceRecord(
        book, sku, region, _price_decimal(price), unit, currency, None if as_of in (None, "") else _day(as_of),
        None if fx is None else _price_decimal(fx), None if source_price is None else _price_decimal(source_price),
        source_currency, int(lines),
    )  # fmt: skip


__all__ = [
    "CostRecords",
    "CostSum",
    "DailyCostSum",
    "FxUse",
    "MappingRecord",
    "MonthRecords",
    "PriceRecord",
    "ProjectCostSum",
    "ProjectRecord",
    "ResourceCostSum",
    "ResourceRevision",
    "baseline_mappings",
    "cost_records",
    "cost_units_sum",
    "focus_lines",
    "focus_resource_names",
    "from_units",
    "in_window",
    "month_records",
]  # fmt: skip
