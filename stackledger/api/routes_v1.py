"""The JSON API (`/v1`): costs, budgets, alarms, findings, projects and report downloads.

Every route needs a Keystone token (`X-Auth-Token`) or the page's session cookie, and answers
only with what the caller may see (`stackledger.api.policy`): naming another team's project is
a 403, not an empty answer.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, HTTPException, Query, Response

from stackledger.api import views
from stackledger.api.deps import CachedRoute, Services, api_caller, forbidden, services
from stackledger.api.params import choices, csv_list, month_window, period
from stackledger.api.policy import Access
from stackledger.store.serving import COST_DIMENSIONS

router = APIRouter(prefix="/v1", tags=["v1"], route_class=CachedRoute)

Caller = Annotated[Access, Depends(api_caller)]
Shared = Annotated[Services, Depends(services)]
Month = Annotated[
    str | None, Query(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM (default: the latest month with costs)")
]
Many = Annotated[list[str] | None, Query()]

DOWNLOADS: Final = {
    "pdf": "application/pdf",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "json": "application/json",
    "focus": "text/csv; charset=utf-8",
}


@router.get("/me", summary="The caller: user, scope, the teams they lead and what they may see")
def me(caller: Caller, shared: Shared) -> dict[str, Any]:
    principal = caller.principal
    projects = shared.figures.projects()
    visible = caller.visible((pid, record.team) for pid, record in projects.items())
    return {
        "user": {"id": principal.user_id, "name": principal.user_name, "domain_id": principal.domain_id},
        "project": None
        if principal.project_id is None
        else {"id": principal.project_id, "name": principal.project_name},
        "roles": list(principal.roles),
        "leads": list(caller.leads),
        "cloud": caller.cloud,
        "projects": sorted(visible),
        "demo": principal.demo,
    }


@router.get("/projects", summary="The projects the caller may see, with team and budget")
def projects(caller: Caller, shared: Shared) -> dict[str, Any]:
    records = shared.figures.projects()
    out = [
        {
            "project_id": pid,
            "name": r.name,
            "team": r.team,
            "budget": views.amount(r.budget_amount),
            "budget_currency": r.budget_currency or None,
            "synthetic": r.source == "synthetic",
        }
        for pid, r in sorted(records.items(), key=lambda item: (item[1].name.casefold(), item[0]))
        if caller.sees(pid, r.team)
    ]
    return {"projects": out}


@router.get("/costs", summary="Cost by project, team, service, price book or day, for a month or a range")
def costs(
    caller: Caller,
    shared: Shared,
    month: Month = None,
    begin: Annotated[str | None, Query(description="ISO 8601, with end instead of month")] = None,
    end: Annotated[str | None, Query(description="ISO 8601, exclusive")] = None,
    group_by: Annotated[list[str] | None, Query(description="project, team, service, price_book, day")] = None,
    project_id: Many = None,
    team: Many = None,
    service: Many = None,
    price_book: Many = None,
) -> dict[str, Any]:
    window = period(month, begin, end, shared.figures)
    groups = choices(csv_list(group_by) or ["project"], views.GROUPS, "group_by")
    filters = {
        "project": frozenset(csv_list(project_id)),
        "team": frozenset(csv_list(team)),
        "service": frozenset(csv_list(service)),
        "price_book": frozenset(csv_list(price_book)),
    }
    records = shared.figures.projects()
    for pid in sorted(filters["project"]):
        if not caller.sees(pid, records[pid].team if pid in records else ""):
            raise forbidden(f"project {pid}")
    dimensions = {name for name in [*groups, *(k for k, v in filters.items() if v)] if name in COST_DIMENSIONS}
    found = shared.figures.costs(window, dimensions, ())
    results, totals = views.cost_results(found, records, caller, groups, filters)
    return {
        "period": {"begin": _iso(window.start), "end": _iso(window.end), "label": window.label},
        "group_by": groups,
        "results": results,
        "totals": totals,
    }


@router.get("/budgets", summary="Each of the caller's projects: month to date, budget, forecast, state")
def budgets(caller: Caller, shared: Shared, month: Month = None) -> dict[str, Any]:
    documents = shared.figures.month(month_window(month, shared.figures).label)
    summary = documents.summary
    lines = views.budget_lines(documents, caller)
    return {
        "month": documents.window.label,
        "currency": summary.currency,
        "days_done": summary.days_done,
        "days_total": summary.days_total,
        "complete": summary.complete,
        "budgets": [views.budget_entry(line, summary.currency) for line in lines],
    }


@router.get("/alarms", summary="Current alarm states, and the month's state transitions")
def alarms(
    caller: Caller,
    shared: Shared,
    month: Month = None,
    state: Annotated[str | None, Query(pattern="^(ok|alarm|insufficient_data)$")] = None,
) -> dict[str, Any]:
    figures = shared.figures
    documents = figures.month(month_window(month, figures).label)
    states = figures.alarm_states()
    events = documents.summary.facts.alarms or ()
    resources = {
        key.partition(":")[2]
        for key in [r["scope_key"] for r in states] + [e.scope_key for e in events]
        if key.startswith("resource:")
    }
    owners = figures.resource_owners(resources)
    team_of = {pid: record.team for pid, record in figures.projects().items()}
    current = [
        views.alarm_state_entry(row)
        for row in states
        if views.sees_scope(caller, row["scope_key"], team_of, owners) and (state is None or row["state"] == state)
    ]
    history = [
        views.alarm_event_entry(event) for event in events if views.sees_scope(caller, event.scope_key, team_of, owners)
    ]
    return {
        "month": documents.window.label,
        "states": current,
        "history": history,
        "evaluated": documents.summary.facts.alarms is not None,
    }


@router.get(
    "/findings", summary="The month's data-quality findings (gaps, dead letters, reconciliation, unpriced usage)"
)
def findings(caller: Caller, shared: Shared, month: Month = None) -> dict[str, Any]:
    documents = shared.figures.month(month_window(month, shared.figures).label)
    quality = documents.summary.facts.quality
    return {
        "month": documents.window.label,
        "checked": views.quality_checked(quality) if caller.cloud else None,
        "findings": views.findings(quality, caller)
        + views.unpriced_findings(documents.data.findings, views.teams_of(documents), caller),
    }


@router.get("/reports/{month}", summary="The downloads of a month the caller may have")
def report_list(caller: Caller, shared: Shared, month: str) -> dict[str, Any]:
    window = month_window(month, shared.figures)
    documents = shared.figures.month(window.label)
    base = f"/v1/reports/{window.label}"
    mine = [r for pid, r in documents.projects.items() if caller.sees(pid, r.line.team)]
    downloads: list[dict[str, Any]] = [
        {
            "project_id": r.project_id,
            "project_name": r.line.name,
            "format": "pdf",
            "url": f"{base}/pdf?project_id={r.project_id}",
        }
        for r in mine
    ]
    downloads.append({"project_id": None, "format": "csv", "url": f"{base}/csv"})
    if caller.cloud:
        downloads += [
            {"project_id": None, "format": kind, "url": f"{base}/{kind}"} for kind in ("pdf", "xlsx", "json", "focus")
        ]
    return {"month": window.label, "downloads": downloads}


@router.get(
    "/reports/{month}/{format}",
    summary="A report file: the finance summary or a project's PDF, the CSV…",
    response_class=Response,
)
def report_file(
    caller: Caller,
    shared: Shared,
    month: str,
    format: str,
    project_id: Annotated[str | None, Query(description="a project's PDF or CSV rows")] = None,
) -> Response:
    from stackledger.pipeline.report import project_file_name

    if format not in DOWNLOADS:
        raise HTTPException(404, f"format {format!r}: valid are {', '.join(DOWNLOADS)}")
    window = month_window(month, shared.figures)
    figures, stem = shared.figures, f"stackledger-{window.label}"
    if project_id is not None:
        if not caller.sees(project_id, figures.team_of(project_id)):
            raise forbidden(f"project {project_id}")
        documents = figures.month(window.label)
        if format == "csv":
            return _file(
                figures.csv(window.label, lambda pid, _team: pid == project_id), format, f"{stem}-{project_id}.csv"
            )
        report = documents.projects.get(project_id)
        if format != "pdf" or report is None:
            raise HTTPException(404, f"no {format} for project {project_id} in {window.label}")
        return _file(
            figures.project_pdf(window.label, project_id), format, project_file_name(report.line.name, project_id)
        )
    if format == "csv":
        return _file(figures.csv(window.label, None if caller.cloud else caller.sees), format, f"{stem}.csv")
    if not caller.cloud:
        raise forbidden(f"the whole cloud's {format} (ask for your projects with ?project_id=)")
    if format == "pdf":
        return _file(figures.summary_pdf(window.label), format, f"{stem}-summary.pdf")
    name = {"xlsx": f"{stem}.xlsx", "json": f"{stem}.json", "focus": f"{stem}-focus.csv"}[format]
    return _file(figures.export(window.label, format), format, name)


def _file(body: str | bytes, format: str, name: str) -> Response:
    content = body.encode("utf-8") if isinstance(body, str) else body
    safe = name.replace('"', "")
    return Response(
        content, media_type=DOWNLOADS[format], headers={"Content-Disposition": f'attachment; filename="{safe}"'}
    )


def _iso(value: Any) -> str:
    return str(value.isoformat()) + "Z"
