"""CloudKitty v2 compatibility: `/v2/summary` and `/v2/dataframes` in CloudKitty's shapes, so
`openstack rating summary get` and `openstack rating dataframes get` (python-cloudkittyclient)
and Horizon's rating panel read StackLedger.

What maps to what (read from CloudKitty 25's `cloudkitty/api/v2` and `storage/v2`):
- CloudKitty rates with one price: its `rate` / `price` is StackLedger's internal price book
  (the rate card); the AWS and DigitalOcean comparisons are not in these answers.
- A metric `type` is a StackLedger service (`compute.vcpu`, `block.volume`, …); `id` a
  resource id; `project_id` a project. A data point is one daily cost line.
- summary: `groupby` project_id, type, id, time (each day), time-d / time-w / time-m / time-y
  (day of the year, ISO week, month, year), and `team` (ours); `filters` on project_id, type
  and id; `response_format` table or object; offset/limit; begin/end default to the current
  month. Columns: begin, end, qty, rate, then the groupby keys.
- dataframes: one dataframe per charge period (day), points keyed by type.
- Amounts are JSON numbers written with their exact decimal digits.
- Who sees what follows StackLedger's policy (a team lead sees the team's projects), not
  CloudKitty's (admin or the token's project only). Writes (POST dataframes, rating modules,
  scopes, reprocessing) are not served.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, Final

from fastapi import HTTPException

from stackledger.api.policy import Access
from stackledger.reports.data import ZERO
from stackledger.schema import INTERNAL_BOOK
from stackledger.store.serving import CostGroup, CostPoint

# CloudKitty groupby -> (our cost dimension, how to name the value)
SUMMARY_GROUPS: Final = {
    "project_id": "project",
    "type": "service",
    "id": "resource",
    "team": "project",
    "time": "day",
    "time-d": "day",
    "time-w": "day",
    "time-m": "day",
    "time-y": "day",
}
TIME_COLUMNS: Final = {"time-d": "day_of_the_year", "time-w": "week_of_the_year", "time-m": "month", "time-y": "year"}
FILTERS: Final = {"project_id": "project", "type": "service", "id": "resource"}
POINT_FILTERS: Final = {"project_id": "project_id", "type": "service", "id": "resource_id"}


def parse_filters(values: Iterable[str], *, unique: bool, allowed: Mapping[str, str]) -> dict[str, list[str]]:
    """CloudKitty's `key:value,key:value` (repeatable) as key -> values; 400 on a bad one."""
    out: dict[str, list[str]] = {}
    for token in (t for value in values for t in value.split(",") if t):
        key, sep, val = token.partition(":")
        if not sep or ":" in val:
            raise HTTPException(400, f"filters: invalid key:value association {token!r}")
        if key not in allowed:
            raise HTTPException(400, f"filters: cannot filter on {key!r}; valid: {', '.join(allowed)}")
        if unique and key in out:
            raise HTTPException(400, f"filters: key {key} already provided")
        out.setdefault(key, []).append(val)
    return out


def summary_rows(
    groups: Iterable[CostGroup],
    groupby: list[str],
    filters: Mapping[str, list[str]],
    access: Access,
    team_of: Mapping[str, str],
    begin: dt.datetime,
    end: dt.datetime,
) -> list[dict[str, Any]]:
    """The internal price book summed per `groupby`, as CloudKitty's `total()` results, sorted."""
    sums: dict[tuple[Any, ...], list[Any]] = {}
    for group in groups:
        pid = group.keys["project"]
        team = team_of.get(pid, "")
        if group.keys.get("price_book") != INTERNAL_BOOK or not access.sees(pid, team):
            continue
        if any(str(group.keys[FILTERS[key]]) not in values for key, values in filters.items()):
            continue
        day = group.keys.get("day")
        key = (*(_group_value(name, group, team, day) for name in groupby), group.currency)
        found = sums.setdefault(key, [0.0, ZERO, _period(groupby, day, begin, end)])
        found[0] += group.quantity
        found[1] += group.cost
    rows = []
    for key, (quantity, rate, (first, last)) in sorted(sums.items(), key=lambda item: [str(v) for v in item[0]]):
        row: dict[str, Any] = {"begin": _iso(first), "end": _iso(last), "qty": _number(quantity), "rate": rate}
        for name, value in zip(groupby, key, strict=False):
            row[TIME_COLUMNS.get(name, name if name != "time" else "time")] = value
        row.pop("time", None)
        rows.append(row)
    return rows


def summary_response(rows: list[dict[str, Any]], response_format: str, offset: int, limit: int) -> dict[str, Any]:
    page = rows[offset : offset + limit]
    if response_format == "object":
        return {"total": len(rows), "results": page, "format": "object"}
    columns = list(page[0]) if page else []
    return {"total": len(rows), "columns": columns, "results": [list(row.values()) for row in page], "format": "table"}


def dataframes(points: Iterable[CostPoint]) -> list[dict[str, Any]]:
    """Points grouped by their charge period (in the order given), each keyed by type."""
    frames: dict[tuple[dt.datetime, dt.datetime], dict[str, list[dict[str, Any]]]] = {}
    for point in points:
        usage = frames.setdefault((point.start, point.end), {})
        usage.setdefault(point.service, []).append(
            {
                "vol": {"unit": point.unit, "qty": _number(point.quantity)},
                "rating": {"price": point.cost},
                "groupby": {"id": point.resource_id, "project_id": point.project_id},
                "metadata": {
                    "resource_type": point.resource_type,
                    "flavor_name": point.flavor_name,
                    "volume_type": point.volume_type,
                    "region": point.region,
                    "currency": point.currency,
                },
            }
        )
    return [
        {"period": {"begin": _iso(start), "end": _iso(end)}, "usage": usage} for (start, end), usage in frames.items()
    ]


def month_bounds(now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """CloudKitty's default period: the current calendar month."""
    start = dt.datetime(now.year, now.month, 1)
    return start, dt.datetime(start.year + start.month // 12, start.month % 12 + 1, 1)


def _group_value(name: str, group: CostGroup, team: str, day: dt.date | None) -> Any:
    if name == "team":
        return team
    if name.startswith("time"):
        assert day is not None
        if name == "time":
            return day.isoformat()
        return {
            "time-d": day.timetuple().tm_yday,
            "time-w": day.isocalendar().week,
            "time-m": day.month,
            "time-y": day.year,
        }[name]
    return group.keys[SUMMARY_GROUPS[name]]


def _period(groupby: list[str], day: dt.date | None, begin: dt.datetime, end: dt.datetime) -> tuple[Any, Any]:
    if "time" in groupby and day is not None:
        start = dt.datetime.combine(day, dt.time())
        return start, start + dt.timedelta(days=1)
    return begin, end


def _number(value: float) -> Decimal:
    """A float quantity as the shortest decimal that reads back as it (no binary noise)."""
    return Decimal(repr(float(value))) if value == value else Decimal(0)


def _iso(value: dt.datetime) -> str:
    return value.replace(tzinfo=dt.UTC).isoformat()
