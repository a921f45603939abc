"""The report as JSON, for other tools: the finance summary's figures and every cost row.

Money is a string with the stored 6 decimals ("1234.567891"): exact, and a JSON reader never
turns it into a binary float. Percentages are strings with one decimal; dates ISO 8601. The
grand total is the internal price book; `baselines` are the same usage at public list prices,
for comparison. UTF-8, sorted structures, no timestamps of the run: the same data gives the
same bytes.

Top-level keys: schema, organisation, period, currency, synthetic, grand_total, baselines,
previous_period, teams, projects, top_resources, data_quality, findings, methodology, rows.

`findings` lists the usage a price book could not price as usual (per project, book, kind,
service and subject, with its quantity); each baseline total carries `left_out`, the usage its
amount does not include. Usage without a project is the project with `project_id` "" (named
"Unallocated (no project)").
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from stackledger.reports.budget import BudgetStatus
from stackledger.reports.compare import ComparisonRow
from stackledger.reports.csv_export import CSV_COLUMNS, csv_rows
from stackledger.reports.data import Total
from stackledger.reports.findings import FindingLine, totals_by_book
from stackledger.reports.formatting import exact_cost
from stackledger.reports.summary import Change, FinanceSummary, ProjectLine, ResourceLine, TeamLine

SCHEMA: Final = "stackledger.monthly-report/1"


def report_json(summary: FinanceSummary, *, organisation: str) -> dict[str, Any]:
    data, facts = summary.data, summary.facts
    compared = {row.project_id: row for row in summary.comparison.rows}
    window = summary.window
    period = {"label": window.label, "start": _iso(window.start), "end": _iso(window.end),
              "rated_through": _iso(facts.rated_through), "complete": summary.complete}  # fmt: skip
    previous = {"label": facts.previous_window.label, "totals": _amounts(summary.previous_totals),
                "change": _change(summary.change)}  # fmt: skip
    left_out = totals_by_book(data.findings)
    baselines = [
        dict(_total(t), price_book=t.label, **_difference(summary, t.label),
             left_out=[_finding(f, project=False) for f in left_out.get(t.label, ()) if f.unpriced])
        for t in summary.baseline_totals
    ]  # fmt: skip
    return {
        "schema": SCHEMA,
        "organisation": organisation,
        "period": period,
        "currency": summary.currency,
        "synthetic": "all" if data.synthetic else ("some" if data.some_synthetic else "none"),
        "grand_total": [_total(t) for t in summary.grand_totals],
        "baselines": baselines,
        "previous_period": previous,
        "fx": list(data.fx),
        "teams": [_team(team) for team in summary.teams],
        "projects": [_project(p, compared.get(p.project_id)) for p in summary.projects],
        "top_resources": [_resource(item) for item in summary.top_resources],
        "data_quality": _quality(summary),
        "findings": [_finding(f) for f in data.findings],
        "methodology": _methodology(summary),
        "rows": [dict(zip(CSV_COLUMNS, row, strict=True)) for row in list(csv_rows(data))[1:]],
    }


def _finding(found: FindingLine, *, project: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {"project_id": found.project_id, "project_name": found.project_name} if project else {}
    out.update(price_book=found.price_book, kind=found.kind, effect=found.effect, service=found.service,
               subject=found.subject, quantity=_quantity(found.quantity), unit=found.consumed_unit,
               resources=found.resources, reason=found.reason)  # fmt: skip
    return out


def _quantity(value: float) -> str:
    return format(Decimal(repr(value)).normalize(), "f")


def _team(team: TeamLine) -> dict[str, Any]:
    return {"team": team.team, "projects": team.projects, "cost": _amounts(team.cost),
            "previous": _amounts(team.previous), "change": _change(team.change),
            "share_percent": _text(team.share)}  # fmt: skip


def _resource(item: ResourceLine) -> dict[str, Any]:
    r = item.resource
    return {"resource_id": r.resource_id, "name": r.name, "type": r.resource_type, "detail": r.detail,
            "project_id": r.project_id, "project_name": item.project_name, "cost": exact_cost(r.cost),
            "currency": r.currency}  # fmt: skip


def render_json(summary: FinanceSummary, *, organisation: str) -> str:
    return json.dumps(report_json(summary, organisation=organisation), ensure_ascii=False, indent=1) + "\n"


def write_json(summary: FinanceSummary, path: Path, *, organisation: str) -> Path:
    path.write_text(render_json(summary, organisation=organisation), encoding="utf-8", newline="")
    return path


def _project(p: ProjectLine, compared: ComparisonRow | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "project_id": p.project_id, "name": p.name, "team": p.team, "cost_center": p.cost_center,
        "in_inventory": p.known, "synthetic": p.synthetic, "cost": _amounts(p.cost), "previous": _amounts(p.previous),
        "change": _change(p.change), "budget": _budget(p.budget),
    }  # fmt: skip
    if compared is not None:
        out["baselines"] = {
            book: {"cost": _amounts(f.amounts), "difference": _money(f.difference), "percent": _text(f.percent)}
            for book, f in compared.books.items()
        }
    return out


def _budget(budget: BudgetStatus | None) -> dict[str, Any] | None:
    if budget is None:
        return None
    return {"amount": exact_cost(budget.amount), "currency": budget.currency, "period": budget.period,
            "spent": _money(budget.spent), "used_percent": _text(budget.used_percent),
            "forecast": _money(budget.forecast), "forecast_percent": _text(budget.forecast_percent),
            "status": budget.status, "note": budget.note}  # fmt: skip


def _quality(summary: FinanceSummary) -> dict[str, Any] | None:
    quality = summary.facts.quality
    if quality is None:
        return None
    return {
        "hours_checked": quality.hours, "hours_with_usage": quality.hours_with_usage,
        "usage_gaps": [{"start": _iso(g.start), "end": _iso(g.end)} for g in quality.usage_gaps],
        "checkpointed_sources": [{"source": s.source, "windows": s.windows, "rows": s.rows,
                                  "gaps": [{"start": _iso(g.start), "end": _iso(g.end)} for g in s.gaps]}
                                 for s in quality.sources],
        "dead_letters": {"total": quality.dead_letter_total,
                         "by_reason": [{"reason": r.reason, "count": r.count} for r in quality.dead_letters]},
        "reconciliation": {"available": quality.reconciliation.available, "summary": quality.reconciliation.summary,
                           "rows": [list(row) for row in quality.reconciliation.rows]},
        "instance_hours": quality.instance_hours,
    }  # fmt: skip


def _methodology(summary: FinanceSummary) -> dict[str, Any]:
    method = summary.facts.methodology
    return {
        "internal_source": method.internal_source,
        "prices": [{"price_book": p.price_book, "sku": p.sku, "region": p.region, "unit_price": _plain(p.unit_price),
                    "unit": p.unit, "currency": p.currency, "as_of": p.as_of.isoformat() if p.as_of else None,
                    "fx_rate": _plain(p.fx_rate), "source_unit_price": _plain(p.source_unit_price),
                    "source_currency": p.source_currency or None, "cost_lines": p.lines, "source": p.source.source,
                    "strength": p.source.strength} for p in method.prices],
        "flavors": [{"flavor": f.flavor, "size": f.shape, "targets": dict(f.targets)} for f in method.flavors],
    }  # fmt: skip


def _difference(summary: FinanceSummary, book: str) -> dict[str, Any]:
    figure = summary.comparison.total.books.get(book)
    if figure is None:
        return {"difference": None, "percent": None}
    return {"difference": _money(figure.difference), "percent": _text(figure.percent)}


def _total(total: Total) -> dict[str, str]:
    return {"amount": exact_cost(total.amount), "currency": total.currency}


def _amounts(values: Any) -> dict[str, str]:
    return {currency: exact_cost(amount) for currency, amount in sorted(values.items())}


def _change(change: Change) -> dict[str, str | None]:
    return {"difference": _money(change.difference), "percent": _text(change.percent)}


def _money(value: Decimal | None) -> str | None:
    return None if value is None else exact_cost(value)


def _text(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.1f}"


def _plain(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%SZ")
