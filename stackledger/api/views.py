"""The JSON the API answers with, built from the report objects and the store's records (pure).

Amounts are exact decimal strings with 6 decimals, the way the CSV prints them, beside their
currency: summing any of them as decimals gives the CSV's figures to the last digit. Every
function takes the caller's `Access` and leaves out what it may not see.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Final

from stackledger.api.figures import MonthDocuments
from stackledger.api.policy import Access
from stackledger.reports.alarm_history import AlarmEvent
from stackledger.reports.budget import BudgetStatus
from stackledger.reports.data import ZERO
from stackledger.reports.findings import FindingLine
from stackledger.reports.formatting import exact_cost
from stackledger.reports.quality import DataQuality
from stackledger.reports.summary import ProjectLine
from stackledger.store.serving import CostGroup, ProjectRecord

NO_BUDGET: Final = "no budget"
GROUPS: Final = ("project", "team", "service", "price_book", "day")


def amount(value: Decimal | None) -> str | None:
    return None if value is None else exact_cost(value)


def percent(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


# ---------------------------------------------------------------- budgets


def budget_entry(line: ProjectLine, currency: str) -> dict[str, Any]:
    budget: BudgetStatus | None = line.budget
    entry: dict[str, Any] = {
        "project_id": line.project_id,
        "project_name": line.name,
        "team": line.team,
        "currency": currency,
        "actual": amount(line.amount(currency)),
        "actual_by_currency": {cur: amount(value) for cur, value in sorted(line.cost.items())},
        "budget": None,
        "forecast": None,
        "remaining": None,
        "used_percent": None,
        "forecast_percent": None,
        "state": NO_BUDGET,
        "note": "",
        "synthetic": line.synthetic,
    }
    if budget is not None:
        entry |= {
            "currency": budget.currency,
            "actual": amount(budget.spent) if budget.spent is not None else entry["actual"],
            "budget": amount(budget.amount),
            "forecast": amount(budget.forecast),
            "remaining": amount(budget.remaining),
            "used_percent": percent(budget.used_percent),
            "forecast_percent": percent(budget.forecast_percent),
            "state": budget.status,
            "note": budget.note,
        }
    return entry


def budget_lines(documents: MonthDocuments, access: Access) -> list[ProjectLine]:
    """The caller's projects in the summary: the most urgent budget first, then the others by cost."""
    summary = documents.summary
    visible = [line for line in summary.projects if line.project_id and access.sees(line.project_id, line.team)]
    order = {line.project_id: i for i, line in enumerate(summary.budgets)}
    return sorted(
        visible,
        key=lambda line: (order.get(line.project_id, len(order)), -line.amount(summary.currency), line.name.casefold()),
    )


# ---------------------------------------------------------------- costs


def cost_results(
    groups: Iterable[CostGroup],
    projects: Mapping[str, ProjectRecord],
    access: Access,
    group_by: Sequence[str],
    filters: Mapping[str, frozenset[str]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Cost groups the caller may see, regrouped by `group_by`; and totals per price book and currency."""
    sums: dict[tuple[Any, ...], list[Any]] = {}
    totals: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    for group in groups:
        pid = group.keys["project"]
        record = projects.get(pid)
        team = record.team if record else ""
        if not access.sees(pid, team) or not _passes(group, team, filters):
            continue
        values = {"project": pid, "team": team, **{k: v for k, v in group.keys.items() if k != "project"}}
        key = (*(values.get(name) for name in group_by), group.keys.get("price_book", ""), group.currency)
        found = sums.setdefault(key, [group.unit, 0.0, ZERO])
        found[0] = found[0] if found[0] == group.unit else ""
        found[1] += group.quantity
        found[2] += group.cost
        totals[(group.keys.get("price_book", ""), group.currency)] += group.cost
    results = []
    for key, (unit, quantity, cost) in sorted(sums.items(), key=lambda item: tuple(map(_sortable, item[0]))):
        entry: dict[str, Any] = {}
        for name, value in zip(group_by, key, strict=False):
            entry |= _dimension(name, value, projects)
        entry |= {"price_book": key[-2], "currency": key[-1], "cost": amount(cost)}
        if "service" in group_by:
            entry |= {"quantity": quantity, "unit": unit}
        results.append(entry)
    total_list = [
        {"price_book": book, "currency": cur, "cost": amount(value)} for (book, cur), value in sorted(totals.items())
    ]
    return results, total_list


def _passes(group: CostGroup, team: str, filters: Mapping[str, frozenset[str]]) -> bool:
    checks = {
        "project": group.keys["project"],
        "team": team,
        "service": group.keys.get("service"),
        "price_book": group.keys.get("price_book"),
    }
    return all(checks.get(name) in allowed for name, allowed in filters.items() if allowed)


def _dimension(name: str, value: Any, projects: Mapping[str, ProjectRecord]) -> dict[str, Any]:
    if name == "project":
        record = projects.get(value)
        return {
            "project_id": value,
            "project_name": record.name if record else value or "(no project)",
            "team": record.team if record else "",
        }
    if name == "day":
        return {"day": value.isoformat()}
    return {name: value}


def _sortable(value: Any) -> str:
    return value.isoformat() if isinstance(value, dt.date) else str(value or "")


# ---------------------------------------------------------------- alarms


def scope_of(scope_key: str) -> tuple[str, str]:
    kind, _, name = scope_key.partition(":")
    return kind, name


def sees_scope(access: Access, scope_key: str, team_of: Mapping[str, str], owners: Mapping[str, str]) -> bool:
    """project:<id>, team:<name>, resource:<id> (its project's), or total (the whole cloud)."""
    kind, name = scope_of(scope_key)
    if kind == "project":
        return access.sees(name, team_of.get(name, ""))
    if kind == "team":
        return access.sees_team(name)
    if kind == "resource" and name in owners:
        return access.sees(owners[name], team_of.get(owners[name], ""))
    return access.cloud


def alarm_state_entry(row: Mapping[str, Any]) -> dict[str, Any]:
    kind, name = scope_of(row["scope_key"])
    return {
        "rule": row["rule"],
        "condition": row["condition"],
        "scope": {"kind": kind, "id": name},
        "alarm_id": row["alarm_id"],
        "kind": row["kind"],
        "state": row["state"],
        "severity": row["severity"],
        "since": _iso(row["since"]),
        "evaluated_at": _iso(row["evaluated_at"]),
        "reason": row["reason"] or "",
    }


def alarm_event_entry(event: AlarmEvent) -> dict[str, Any]:
    kind, name = scope_of(event.scope_key)
    return {
        "at": _iso(event.at),
        "rule": event.rule,
        "condition": event.condition,
        "scope": {"kind": kind, "id": name},
        "previous": event.previous,
        "current": event.current,
        "severity": event.severity,
        "reason": event.reason,
    }


# ---------------------------------------------------------------- findings


def findings(quality: DataQuality | None, access: Access) -> list[dict[str, Any]]:
    """The month's data-quality findings the caller may see, one object per finding, each with a
    `kind` and the project it concerns (`project_id` None: the whole cloud). Today's kinds come
    from the finance report's data-quality section: usage gaps, collection gaps per source,
    dead letters per reason, and the reconciliation against Nova."""
    if quality is None:
        return []
    found: list[dict[str, Any]] = []
    for gap in quality.usage_gaps:
        found.append(
            _finding(
                "usage_gap",
                "warning",
                f"no usage stored for {gap.hours:g} hours",
                start=_iso(gap.start),
                end=_iso(gap.end),
                hours=gap.hours,
            )
        )
    for source in quality.sources:
        for gap in source.gaps:
            found.append(
                _finding(
                    "collection_gap",
                    "warning",
                    f"{source.source}: no checkpoint covers {gap.hours:g} hours",
                    source=source.source,
                    start=_iso(gap.start),
                    end=_iso(gap.end),
                    hours=gap.hours,
                )
            )
    for reason in quality.dead_letters:
        found.append(
            _finding(
                "dead_letters",
                "warning",
                f"{reason.count} messages could not be used: {reason.reason}",
                reason=reason.reason,
                count=reason.count,
                example=reason.example,
            )
        )
    reconciliation = quality.reconciliation
    found.append(
        _finding(
            "reconciliation",
            "info" if reconciliation.available else "notice",
            reconciliation.summary,
            available=reconciliation.available,
            rows=[
                dict(zip(("project", "nova_hours", "stackledger_hours", "difference"), row, strict=True))
                for row in reconciliation.rows
            ],
        )
    )
    return [item for item in found if item["project_id"] is None and access.cloud]


def teams_of(documents: MonthDocuments) -> dict[str, str]:
    """project id -> its team in the month's summary."""
    return {pid: line.team for pid, line in documents.lines.items()}


def unpriced_findings(lines: Iterable[FindingLine], teams: Mapping[str, str], access: Access) -> list[dict[str, Any]]:
    """Usage a price book could not price as usual (left out of its total, or priced at a base
    price), per project, book, service and subject, as the reports list it. A project's lines go to
    whoever sees the project; unallocated usage (no project) to the cloud's readers only."""
    found = []
    for line in lines:
        visible = access.sees(line.project_id, teams.get(line.project_id, "")) if line.project_id else access.cloud
        if not visible:
            continue
        item = _finding(
            "unpriced" if line.unpriced else "base_price",
            "warning",
            line.text(),
            price_book=line.price_book,
            finding=line.kind,
            service=line.service,
            subject=line.subject,
            quantity=line.quantity,
            unit=line.consumed_unit,
            resources=line.resources,
            reason=line.reason,
        )
        item["project_id"] = line.project_id or None
        item["project_name"] = line.project_name
        found.append(item)
    return found


def quality_checked(quality: DataQuality | None) -> dict[str, Any] | None:
    if quality is None:
        return None
    return {
        "span": None if quality.span is None else {"begin": _iso(quality.span.start), "end": _iso(quality.span.end)},
        "hours": quality.hours,
        "hours_with_usage": quality.hours_with_usage,
        "dead_letters": quality.dead_letter_total,
        "instance_hours": quality.instance_hours,
    }


def _finding(kind: str, severity: str, message: str, **detail: Any) -> dict[str, Any]:
    return {"kind": kind, "severity": severity, "project_id": None, "message": message, "detail": detail}


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.replace(tzinfo=None).isoformat() + "Z"
