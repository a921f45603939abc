"""The month-end forecast on the 3rd of a month, with the month before rated: the report (PDF
and JSON), the API's `/v1/budgets` and the budget alarms learn from the same trailing days —
two of this month and five of the last — and state the same figure, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from stackledger.api.app import create_app
from stackledger.cli import main
from stackledger.pipeline import store_for
from stackledger.settings import Settings
from stackledger.store import tables
from tests import api_support as api

LAST_MONTH, THIS_MONTH = "2026-10", "2026-11"
AT = dt.datetime(2026, 11, 3)  # rated through the 2nd: two complete days of November
CENT = Decimal("0.01")
PROJECTS = [
    api.SeedProject("payments", "payments", Decimal("900"), Decimal("11.5")),
    api.SeedProject("search-api", "search", Decimal("400"), Decimal("9.75")),
    api.SeedProject("no-budget", "search", None, Decimal("4.5")),
]
IDS = {p.name: f"{p.name}-0000000000000000000000000"[:32] for p in PROJECTS}
RULES = "rules:\n  - {name: budgets, kind: budget, scope: project, thresholds: [{at: 100%, basis: forecast}]}\n"


@pytest.fixture
def seeded(any_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    api.seed_costs(any_settings, IDS, PROJECTS, [LAST_MONTH, THIS_MONTH], days=(AT - dt.datetime(2026, 11, 1)).days)
    rules = tmp_path / "alarms.yaml"
    rules.write_text(RULES)
    monkeypatch.delenv("STACKLEDGER_CONFIG", raising=False)
    monkeypatch.setenv("STACKLEDGER__DATABASE__URL", any_settings.database.url)
    monkeypatch.setenv("STACKLEDGER__ALARMS__RULES", str(rules))
    return any_settings


def trailing_mean_forecast(project_id: str, settings: Settings) -> Decimal:
    """The rule by hand: November so far + the mean internal cost of the 7 days before the 3rd × 28."""
    line = tables.cost_lines.c
    first = AT - dt.timedelta(days=settings.alarms.forecast.window_days)
    query = select(line.charge_period_start, line.cost).where(
        line.project_id == project_id, line.price_book == "internal", line.charge_period_start >= first
    )
    with store_for(settings).engine.connect() as conn:
        rows = [(start, Decimal(str(cost)).quantize(Decimal("0.000001"))) for start, cost in conn.execute(query)]
    days: dict[dt.date, Decimal] = {}
    for start, cost in rows:
        days[start.date()] = days.get(start.date(), Decimal(0)) + cost
    assert len(days) == 7 and min(days) == dt.date(2026, 10, 27)  # five days of October, two of November
    so_far = sum((cost for day, cost in days.items() if day.month == 11), Decimal(0))
    return so_far + sum(days.values(), Decimal(0)) / 7 * 28


def report_forecasts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[dict[str, str | None], str]:
    """project id -> the JSON report's forecast, and the summary PDF's text."""
    out = tmp_path / "reports"
    assert main(["report", "--month", THIS_MONTH, "--format", "json,pdf", "--out", str(out)]) == 0
    capsys.readouterr()
    document = json.loads((out / f"stackledger-{THIS_MONTH}.json").read_text(encoding="utf-8"))
    forecasts = {p["project_id"]: p["budget"]["forecast"] for p in document["projects"] if p["budget"]}
    pdf = out / f"stackledger-{THIS_MONTH}-summary.pdf"
    text = subprocess.run(["pdftotext", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
    return forecasts, " ".join(text.split())


def alarm_forecasts(settings: Settings, capsys: pytest.CaptureFixture[str]) -> dict[str, str | None]:
    """project id -> the forecast (cents) the budget alarms stated in their reason data."""
    assert main(["alarms", "evaluate", "--at", AT.isoformat() + "Z"]) == 0
    capsys.readouterr()
    h = tables.alarm_history.c
    with store_for(settings).engine.connect() as conn:
        rows = conn.execute(select(h.scope_key, h.reason_data).where(h.event == "transition", h.rule == "budgets"))
        found = {key.split(":", 1)[1]: data if isinstance(data, dict) else json.loads(data) for key, data in rows}
    return {project_id: data.get("forecast") for project_id, data in found.items()}


def api_forecasts(settings: Settings) -> dict[str, str | None]:
    """project id -> `/v1/budgets`'s forecast, asked as the demo mode's finance user."""
    app = create_app(settings, demo=True)
    with TestClient(app) as client:
        login = app.state.services.identity.login_password("finance", "demo", "demo")
        answer = client.get("/v1/budgets", params={"month": THIS_MONTH}, headers={"X-Auth-Token": login.token})
    assert answer.status_code == 200, answer.text
    return {row["project_id"]: row["forecast"] for row in answer.json()["budgets"] if row["budget"] is not None}


def test_report_api_and_alarms_state_the_same_forecast_on_the_third(
    seeded: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    budgeted = {IDS[p.name] for p in PROJECTS if p.budget is not None}
    expected = {pid: trailing_mean_forecast(pid, seeded) for pid in budgeted}
    reported, pdf_text = report_forecasts(tmp_path, capsys)
    alarmed = alarm_forecasts(seeded, capsys)
    served = api_forecasts(seeded)
    assert reported.keys() == alarmed.keys() == served.keys() == budgeted
    for project_id, value in expected.items():
        cents = value.quantize(CENT)
        assert reported[project_id] is not None and Decimal(reported[project_id]).quantize(CENT) == cents
        assert served[project_id] is not None and Decimal(served[project_id]).quantize(CENT) == cents
        assert alarmed[project_id] == str(cents), project_id
    # the summary PDF's budget table shows them too (a month in progress: 2 of 30 days)
    assert "(2 of 30 days)" in pdf_text
    for value in expected.values():
        assert f"{value.quantize(CENT):,}" in pdf_text
