"""Every read `stackledger serve` makes beyond the report data (`stackledger.api`): plain records out.

The API never writes cost data, so nothing here writes. Costs are summed exactly like the
reports sum them (`cost_units_sum`: integer millionths), so any grouping of the same cost
lines adds up to the CSV's figures to the last decimal.

`data_version` is the cheap question the API asks before trusting its caches: monotone
markers of every table whose change alters a figure it serves (new cost lines, alarm
evaluations, dead letters, checkpoints, projects). A re-rate deletes and re-inserts cost
lines, so the highest cost line id moves with it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import ColumnElement, Select, and_, func, select

from stackledger.store import Store
from stackledger.store.reports import cost_units_sum, from_units
from stackledger.store.tables import (
    alarm_history,
    alarm_states,
    checkpoints,
    cost_lines,
    dead_letters,
    projects,
    resources,
    sample_batches,
)
from stackledger.window import Window

# What /v1/costs and /v2/summary may group cost lines by (API name -> cost_lines column).
COST_DIMENSIONS: Final = {
    "project": "project_id",
    "service": "service",
    "price_book": "price_book",
    "day": "charge_period_start",
    "resource": "resource_id",
}


@dataclass(frozen=True)
class ProjectRecord:
    project_id: str
    name: str
    team: str
    budget_amount: Decimal | None
    budget_currency: str
    source: str


@dataclass(frozen=True)
class CostGroup:
    """Cost lines summed over `keys` (the asked dimensions, in COST_DIMENSIONS order) and currency."""

    keys: dict[str, Any]  # dimension -> value ('day' as a date; 'project' '' when none)
    currency: str
    unit: str  # the consumed unit, '' when the group mixes units
    quantity: float
    cost: Decimal


@dataclass(frozen=True)
class CostPoint:
    """One cost line, as CloudKitty's dataframes show a rated data point."""

    start: dt.datetime
    end: dt.datetime
    project_id: str
    resource_id: str
    resource_type: str
    service: str
    flavor_name: str
    volume_type: str
    region: str
    quantity: float
    unit: str
    cost: Decimal
    currency: str


def data_version(store: Store) -> tuple[Any, ...]:
    """Monotone markers of what the API serves; a different tuple means something changed."""
    markers: Sequence[ColumnElement[Any]] = (
        select(func.max(cost_lines.c.id)).scalar_subquery(),
        select(func.count()).select_from(projects).scalar_subquery(),
        select(func.max(alarm_history.c.id)).scalar_subquery(),
        select(func.max(alarm_states.c.evaluated_at)).scalar_subquery(),
        select(func.max(dead_letters.c.id)).scalar_subquery(),
        select(func.max(checkpoints.c.completed_at)).scalar_subquery(),
    )
    with store.engine.connect() as conn:
        row = conn.execute(select(*markers)).one()
    return tuple(str(value) for value in row)


def project_records(store: Store) -> list[ProjectRecord]:
    p = projects.c
    query = select(p.project_id, p.name, p.team, p.budget_amount, p.budget_currency, p.source)
    with store.engine.connect() as conn:
        return [
            ProjectRecord(
                pid,
                name or pid,
                team or "",
                None if amount is None else Decimal(str(amount)),
                currency or "",
                source or "",
            )
            for pid, name, team, amount, currency, source in conn.execute(query)
        ]


def cost_span(store: Store) -> tuple[dt.datetime, dt.datetime] | None:
    """First and last charge period start of any cost line (the months the store can show)."""
    start = cost_lines.c.charge_period_start
    with store.engine.connect() as conn:
        first, last = conn.execute(select(func.min(start), func.max(start))).one()
    return None if first is None else (_naive(first), _naive(last))


def cost_groups(
    store: Store, window: Window, dimensions: Collection[str], *, price_books: Collection[str] = ()
) -> list[CostGroup]:
    """The window's cost lines summed per `dimensions` (keys of COST_DIMENSIONS) and currency.

    'day' groups by charge period start (cost lines are daily); lines of one calendar day
    that start at different times are merged here."""
    names = [name for name in COST_DIMENSIONS if name in dimensions]
    columns = [cost_lines.c[COST_DIMENSIONS[name]] for name in names]
    line = cost_lines.c
    query: Select[Any] = (
        select(
            *columns,
            line.currency,
            func.min(line.consumed_unit),
            func.max(line.consumed_unit),
            func.sum(line.consumed_quantity),
            cost_units_sum(),
        )
        .where(_in(window))
        .group_by(*columns, line.currency)
    )
    if price_books:
        query = query.where(line.price_book.in_(sorted(price_books)))
    merged: dict[tuple[Any, ...], list[Any]] = {}
    with store.engine.connect() as conn:
        for row in conn.execute(query):
            values = [_value(name, value) for name, value in zip(names, row[: len(names)], strict=True)]
            currency, low, high, quantity, units = row[len(names) :]
            key = (*values, currency)
            unit = low if low == high else ""
            found = merged.get(key)
            if found is None:
                merged[key] = [unit, float(quantity or 0.0), from_units(units)]
            else:  # the same day from lines starting at different hours
                found[0] = found[0] if found[0] == unit else ""
                found[1] += float(quantity or 0.0)
                found[2] += from_units(units)
    return [
        CostGroup(dict(zip(names, key[:-1], strict=True)), key[-1], unit, quantity, cost)
        for key, (unit, quantity, cost) in merged.items()
    ]


def cost_points(
    store: Store,
    window: Window,
    *,
    price_book: str,
    project_ids: Collection[str] | None,
    where: dict[str, str],
    offset: int,
    limit: int,
) -> tuple[int, list[CostPoint]]:
    """Cost lines of one price book in the window, in a stable order, paginated; and how many
    there are in all. `project_ids` None: every project. `where`: column -> value equalities
    on project_id, service, resource_id."""
    line = cost_lines.c
    conditions = [_in(window), line.price_book == price_book]
    if project_ids is not None:
        conditions.append(func.coalesce(line.project_id, "").in_(sorted(project_ids)))
    for column, value in where.items():
        conditions.append(line[column] == value)
    columns = (
        line.charge_period_start,
        line.charge_period_end,
        line.project_id,
        line.resource_id,
        line.resource_type,
        line.service,
        line.flavor_name,
        line.volume_type,
        line.region,
        line.consumed_quantity,
        line.consumed_unit,
        line.cost,
        line.currency,
    )
    order = (line.charge_period_start, line.service, line.project_id, line.resource_id, line.flavor_name, line.sku)
    with store.engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(cost_lines).where(*conditions)).scalar_one()
        rows = conn.execute(select(*columns).where(*conditions).order_by(*order).offset(offset).limit(limit)).all()
    points = [
        CostPoint(
            _naive(start),
            _naive(end),
            pid or "",
            rid,
            rtype,
            service,
            flavor or "",
            vtype or "",
            region or "",
            float(quantity),
            unit,
            Decimal(str(cost)).quantize(_EXACT),
            currency,
        )
        for start, end, pid, rid, rtype, service, flavor, vtype, region, quantity, unit, cost, currency in rows
    ]
    return int(total), points


def alarm_state_rows(store: Store) -> list[dict[str, Any]]:
    """Every alarm's current state (alarm_states), rule order."""
    s = alarm_states.c
    query = select(
        s.rule, s.condition, s.scope_key, s.alarm_id, s.kind, s.state, s.severity, s.since, s.evaluated_at, s.reason
    ).order_by(s.rule, s.condition, s.scope_key)
    with store.engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]


def resource_projects(store: Store, resource_ids: Collection[str]) -> dict[str, str]:
    """resource id -> the project owning it (its latest revision), for alarms scoped to a resource."""
    if not resource_ids:
        return {}
    r = resources.c
    query = select(r.resource_id, r.project_id).where(r.resource_id.in_(sorted(resource_ids))).order_by(r.valid_from)
    with store.engine.connect() as conn:
        return {rid: pid or "" for rid, pid in conn.execute(query)}


@dataclass(frozen=True)
class PipelineStatus:
    """What /metrics says about the pipeline's progress (naive UTC instants)."""

    collected: dict[str, tuple[dt.datetime, dt.datetime]]  # source -> (last completed_at, its window's end)
    rated_through: dict[str, dt.datetime]  # price book -> end of its last cost line
    samples: dict[str, int]  # where samples came from (a file, "kafka:<topic>") -> samples stored
    dead_letters: dict[str, int]  # origin -> dead letters stored


def pipeline_status(store: Store, *, count_samples: bool = True) -> PipelineStatus:
    c, line, d = checkpoints.c, cost_lines.c, dead_letters.c
    latest = select(c.source, func.max(c.completed_at).label("at")).group_by(c.source).subquery()
    collected_query = (
        select(c.source, c.completed_at, func.max(c.window_end))
        .join(latest, and_(latest.c.source == c.source, latest.c.at == c.completed_at))
        .group_by(c.source, c.completed_at)
    )
    with store.engine.connect() as conn:
        collected = {src: (_naive(at), _naive(end)) for src, at, end in conn.execute(collected_query)}
        rated = {
            book: _naive(end)
            for book, end in conn.execute(
                select(line.price_book, func.max(line.charge_period_end)).group_by(line.price_book)
            )
        }
        counted: dict[str, int] = {}
        if count_samples:
            query = select(sample_batches.c.origin, func.sum(sample_batches.c.samples)).group_by(
                sample_batches.c.origin
            )  # the batches' counts: no scan of the sample rows
            counted = {origin or "": int(n or 0) for origin, n in conn.execute(query)}
        letters = {origin: int(n) for origin, n in conn.execute(select(d.origin, func.count()).group_by(d.origin))}
    return PipelineStatus(collected, rated, counted, letters)


_EXACT: Final = Decimal("0.000001")


def _in(window: Window) -> ColumnElement[bool]:
    return and_(cost_lines.c.charge_period_start >= window.start, cost_lines.c.charge_period_start < window.end)


def _value(name: str, value: Any) -> Any:
    if name == "day":
        return _naive(value).date()
    if name == "project":
        return value or ""
    return value


def _naive(value: dt.datetime | str) -> dt.datetime:
    instant = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return instant.replace(tzinfo=None)
