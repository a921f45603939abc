"""The report's pure pieces on tiny hand-made data: budgets and burn-down, the finance summary's
figures, data-quality helpers, the flavor table, formula neutralising, file names, the XLSX's
bytes, the JSON's numbers and the compacted chart SVG."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from collections import Counter
from dataclasses import replace
from decimal import Decimal
from xml.etree import ElementTree

from openpyxl import load_workbook

from stackledger.pipeline.report import project_file_name
from stackledger.reports.budget import (
    FORECAST_OVER,
    NEARLY,
    NOT_COMPARABLE,
    ON_TRACK,
    OVER,
    DailyHistory,
    budget_status,
    burn_down,
)
from stackledger.reports.charts import compact_svg
from stackledger.reports.data import CostRow, ReportData
from stackledger.reports.facts import DayCost, MonthFacts, ProjectInfo, ResourceCost
from stackledger.reports.formatting import neutralise, percent, signed
from stackledger.reports.json_export import render_json
from stackledger.reports.methodology import flavor_table
from stackledger.reports.pdf import RESOURCES_MAX, project_context, renderer
from stackledger.reports.project import project_reports
from stackledger.reports.quality import Gap, _coverage, _runs, mask, masked_reasons
from stackledger.reports.summary import finance_summary
from stackledger.reports.xlsx_export import render_xlsx
from stackledger.window import Window

WINDOW = Window.month("2026-10")
D = Decimal


def info(budget: str | None = "100", currency: str = "EUR", period: str = "month") -> ProjectInfo:
    return ProjectInfo("p1", "one", "t", budget_amount=None if budget is None else D(budget),
                       budget_currency=currency, budget_period=period)  # fmt: skip


def mean_of_days(history: DailyHistory, days: int) -> Decimal | None:
    """A stand-in forecaster: spend so far + mean daily cost × days left (None before 3 days
    of the month; the days before it are ignored)."""
    daily = history.costs[history.month_start :]
    if len(daily) < 3:
        return None
    return sum(daily, D(0)) + sum(daily, D(0)) / len(daily) * (days - len(daily))


def test_budget_status_over_forecast_nearly_and_on_track() -> None:
    daily = [D(3)] * 31
    assert budget_status(info(), {"EUR": D(120)}, daily, 31, 31, None).status == OVER  # type: ignore[union-attr]
    running = budget_status(info(), {"EUR": D(30)}, daily, 10, 31, mean_of_days)
    assert running is not None and running.forecast == D(93) and running.status == ON_TRACK
    assert running.used_percent == D("30.0") and running.forecast_percent == D("93.0")
    fast = budget_status(info(), {"EUR": D(50)}, [D(5)] * 31, 10, 31, mean_of_days)
    assert fast is not None and fast.forecast == D(155) and fast.status == FORECAST_OVER
    near = budget_status(info(), {"EUR": D(85)}, daily, 31, 31, mean_of_days)
    assert near is not None and near.forecast is None and near.status == NEARLY  # complete month: no forecast
    assert budget_status(info(None), {"EUR": D(1)}, daily, 31, 31, None) is None
    other = budget_status(info(currency="USD"), {"EUR": D(1)}, daily, 31, 31, None)
    assert other is not None and other.status == NOT_COMPARABLE and other.note == "spend in EUR"
    yearly = budget_status(info(period="year"), {"EUR": D(1)}, daily, 31, 31, None)
    assert yearly is not None and yearly.note == "a budget per year"


def test_burn_down_follows_the_spend_and_continues_with_the_forecast() -> None:
    days = tuple(day.start.date() for day in WINDOW.days())
    daily = [D(3)] * 10 + [D(0)] * 21
    status = budget_status(info(), {"EUR": D(30)}, daily, 10, 31, mean_of_days)
    assert status is not None
    burn = burn_down(status, days, daily, 10)
    assert burn.remaining[:10] == tuple(D(100) - 3 * (i + 1) for i in range(10)) and burn.remaining[10] is None
    assert burn.forecast[:9] == (None,) * 9
    assert burn.forecast[9] == D(70) and burn.forecast[-1] == D(7)  # 100 − 93 at the month's end


def test_the_forecaster_sees_the_trailing_days_before_the_month_and_which_were_rated() -> None:
    seen: list[tuple[DailyHistory, int]] = []

    def record(history: DailyHistory, days: int) -> Decimal | None:
        seen.append((history, days))
        return D(99)

    lead, daily = [D(4), D(0), D(6)], [D(3), D(5)] + [D(0)] * 29
    rated = [True, False, True, True, True] + [False] * 29
    status = budget_status(info(), {"EUR": D(8)}, daily, 2, 31, record, lead=lead, rated=rated)
    assert status is not None and status.forecast == D(99)
    ((history, days),) = seen
    assert history == DailyHistory((D(4), D(0), D(6), D(3), D(5)), (True, False, True, True, True), 3)
    assert days == 31 and history.days_done == 2


def test_the_summary_hands_the_forecaster_the_previous_months_days() -> None:
    data, facts = summary_data()
    september = tuple(DayCost(dt.date(2026, 9, d), "compute.vcpu", "EUR", D(2)) for d in (24, 25, 27, 28, 29, 30))
    facts = replace(facts, lead_days=7, rated_through=dt.datetime(2026, 10, 3),
                    daily={"a": september + facts.daily["a"][:2]})  # fmt: skip
    seen: list[DailyHistory] = []

    def record(history: DailyHistory, days: int) -> Decimal | None:
        seen.append(history)
        return None

    finance_summary(data, facts, forecaster=record)
    (history,) = seen  # only project a has a budget
    assert history.month_start == 7 and history.days_done == 2
    assert history.costs == (D(2), D(2), D(0), D(2), D(2), D(2), D(2), D("1.0004"), D("1.0004"))
    assert history.rated == (True, True, False, True, True, True, True, True, True)  # 26 September: no cost line


def row(project: str, book: str, cost: str, currency: str = "EUR", team: str = "t", **extra: object) -> CostRow:
    values: dict[str, object] = {
        "project_id": project, "project_name": f"name {project}", "team": team, "service": "compute.vcpu",
        "price_book": book, "consumed_quantity": 1.0, "consumed_unit": "vCPU-hour", "cost": D(cost),
        "currency": currency, "known_project": True,
    }  # fmt: skip
    values.update(extra)
    return CostRow(**values)  # type: ignore[arg-type]


def summary_data() -> tuple[ReportData, MonthFacts]:
    data = ReportData(WINDOW, (
        row("a", "internal", "10.004"), row("a", "aws", "25.000000"), row("b", "internal", "5.001", team="u"),
        row("b", "aws", "4.000000"), row("c", "internal", "1.000000", project_name="=cmd()"),
    ), synthetic=False, synthetic_ids=frozenset({"b"}))  # fmt: skip
    facts = MonthFacts(
        window=WINDOW, previous_window=WINDOW.previous_month(), rated_through=dt.datetime(2026, 10, 11),
        projects={"a": ProjectInfo("a", "name a", "t", budget_amount=D(20), budget_currency="EUR",
                                   budget_period="month")},
        previous={"a": {"EUR": D(8)}, "gone": {"EUR": D(2)}},
        daily={"a": tuple(DayCost(dt.date(2026, 10, d), "compute.vcpu", "EUR", D("1.0004")) for d in range(1, 11))},
    )  # fmt: skip
    return data, facts


def test_finance_summary_grand_total_is_internal_and_changes_are_exact() -> None:
    data, facts = summary_data()
    summary = finance_summary(data, facts, forecaster=mean_of_days)
    assert summary.currency == "EUR"
    assert [(t.label, t.amount) for t in summary.grand_totals] == [("internal", D("16.005"))]
    assert [(t.label, t.amount) for t in summary.baseline_totals] == [("aws", D(29))]
    assert summary.comparison.total.books["aws"].difference == D("12.995")  # aws − internal: the saving
    assert summary.previous_totals == {"EUR": D(10)} and summary.change.difference == D("6.005")
    a = next(p for p in summary.projects if p.project_id == "a")
    assert a.change.difference == D("2.004") and a.change.percent == D("25.0")
    assert a.budget is not None and a.budget.forecast == D("31.01240") and a.budget.status == FORECAST_OVER
    gone = next(p for p in summary.projects if p.project_id == "gone")
    assert gone.cost == {} and gone.change.difference == D(-2)  # a drop to zero is a line too
    assert [p.project_id for p in summary.movers_down] == ["gone"]
    assert [(t.team, t.share) for t in summary.teams][:2] == [("t", D("68.8")), ("u", D("31.2"))]
    assert not summary.complete and summary.days_done == 10
    reports = project_reports(summary)
    assert [r.project_id for r in reports] == ["a", "b", "c"]  # only projects with rows this period
    assert reports[0].burn_down is not None and reports[1].synthetic


def test_xlsx_is_deterministic_and_neutralises_formulas() -> None:
    data, facts = summary_data()
    summary = finance_summary(data, facts)
    first, second = render_xlsx(summary, organisation="A"), render_xlsx(summary, organisation="A")
    assert first == second
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        core = archive.read("docProps/core.xml").decode()
    assert "2026-11-01T00:00:00Z" in core
    book = load_workbook(io.BytesIO(first))
    cells = [c for sheet in book.worksheets for r in sheet.iter_rows() for c in r if c.value is not None]
    assert "'=cmd()" in {c.value for c in cells} and not [c for c in cells if c.data_type == "f"]
    summary_rows = {r[0]: r for r in book["Summary"].iter_rows(values_only=True) if r and r[0]}
    assert D(str(summary_rows["Grand total (internal rate card)"][1])) == D("16.005")


def test_json_money_is_exact_text() -> None:
    data, facts = summary_data()
    document = json.loads(render_json(finance_summary(data, facts), organisation="A"))
    assert document["grand_total"] == [{"amount": "16.005000", "currency": "EUR"}]
    assert document["baselines"][0] == {"amount": "29.000000", "currency": "EUR", "price_book": "aws",
                                        "difference": "12.995000", "percent": "81.2", "left_out": []}  # fmt: skip
    assert document["synthetic"] == "some" and document["rows"][0]["cost"] == "10.004000"


def test_neutralise_only_formula_starts() -> None:
    assert [neutralise(t) for t in ("=1+2", "+x", "-y", "@z", "\tq", "\rr", "a=b", "", "Ærø")] == [
        "'=1+2", "'+x", "'-y", "'@z", "'\tq", "'\rr", "a=b", "", "Ærø",
    ]  # fmt: skip
    assert signed(D("-0.004")) == "0.00" and signed(D("-1.5")) == "−1.50" and signed(None) == "—"
    assert percent(D("4.5")) == "+4.5%" and percent(D("12"), sign=False) == "12.0%"


def test_quality_helpers() -> None:
    hour = dt.timedelta(hours=1)
    start = dt.datetime(2026, 10, 1)
    assert _runs([start, start + hour, start + 3 * hour]) == (Gap(start, start + 2 * hour),
                                                              Gap(start + 3 * hour, start + 4 * hour))  # fmt: skip
    span = Window(start, start + 10 * hour)
    windows = [("gnocchi", start + 2 * hour, start + 5 * hour, 7), ("gnocchi", start + 4 * hour, start + 8 * hour, 3)]
    (coverage,) = _coverage(windows, span)
    assert coverage.gaps == (Gap(start, start + 2 * hour), Gap(start + 8 * hour, start + 10 * hour))
    assert coverage.rows == 10 and coverage.windows == 2
    masked = mask("not valid JSON (Expecting value at column 17) 'abc'")
    assert masked == "not valid JSON (Expecting value at column #) '…'"
    reasons = masked_reasons(Counter({"bad at column 1": 2, "bad at column 9": 1, "other": 1}))
    assert [(r.reason, r.count) for r in reasons] == [("bad at column #", 3), ("other", 1)]


def test_flavor_table_one_line_per_flavor() -> None:
    rows = [
        ("m1.large", "aws", "m1.large 4 vCPU 8 GiB → m5.xlarge 0.192 USD/h, us-east-1, as of 2026-07-20"),
        ("m1.large", "digitalocean", "m1.large 4 vCPU 8 GiB → s-4vcpu-8gb 0.07143 USD/h capped at 48 USD/month, "
                                     "all regions, as of 2025-06-23"),
    ]  # fmt: skip
    (line,) = flavor_table(rows)
    assert (line.flavor, line.shape) == ("m1.large", "4 vCPU 8 GiB")
    assert dict(line.targets) == {"aws": "m5.xlarge 0.192 USD/h",
                                  "digitalocean": "s-4vcpu-8gb 0.07143 USD/h capped at 48 USD/month"}  # fmt: skip


def test_project_file_names_are_safe_and_unique() -> None:
    assert project_file_name("<script>alert(1)</script> Ærø", "p-xss") == "script-alert-1-script-aero_p-xss.pdf"
    assert project_file_name("数据平台", "4f1e") == "4f1e.pdf"
    assert project_file_name("web", "../../etc/passwd") == "web_..-..-etc-passwd.pdf"
    assert project_file_name("", "") == "no-project.pdf"


def test_a_nova_reconciliation_becomes_the_summary_section() -> None:
    from stackledger.pipeline.reconcile import Figures, Line, Reconciliation, Tolerance
    from stackledger.pipeline.report import reconciliation_summary

    result = Reconciliation(
        month=WINDOW, window=WINDOW, source="ceilometer", microversion="2.40", tolerance=Tolerance(0.01),
        projects=[Line("p1", "web", Figures(744.0, 0.0, 744.0), Figures(1488.0, 0.0, 1488.0)),
                  Line("p2", "db", Figures(750.0, 6.0, 740.0), Figures(750.0, 6.0, 740.0))],
        servers=[], requests=1,
    )  # fmt: skip
    section = reconciliation_summary(result)
    assert section.available and "1 of 2 projects agree" in section.summary
    assert section.rows == (("web", "744.0", "744.0", "+0.0"), ("db", "740.0", "744.0", "+4.0"))


def test_compact_svg_keeps_the_drawing_in_fewer_elements() -> None:
    svg = """<?xml version="1.0" encoding="utf-8" standalone="no"?>
<svg xmlns:xlink="http://www.w3.org/1999/xlink" width="10pt" height="10pt" viewBox="0 0 10 10"
 xmlns="http://www.w3.org/2000/svg" version="1.1">
 <metadata><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/></metadata>
 <defs>
  <style type="text/css">*{stroke-linejoin: round; stroke-linecap: butt}</style>
 </defs>
 <g id="figure_1">
  <g id="axes_1" clip-path="url(#c1)">
   <defs><path id="m1" d="M 0 0 L 0 3" style="stroke: #444444"/></defs>
   <use xlink:href="#m1" x="1" y="2" style="fill: #444444"/>
   <text style="font-size: 8px; font-family: 'DejaVu Sans'; text-anchor: middle" x="5" y="5"
    transform="rotate(-0 5 5)">&lt;b&gt; 数据 &amp; Ærø</text>
   <text style="font-size: 8px" x="1" y="9" transform="rotate(-90 1 9)">EUR</text>
  </g>
 </g>
</svg>""".encode()
    compact = compact_svg(svg).decode("utf-8")
    assert compact.startswith('<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"')
    assert 'stroke-linejoin="round" stroke-linecap="butt"' in compact
    for gone in ("<metadata", "<style", 'id="figure_1"', "style=", "rotate(-0 "):
        assert gone not in compact
    assert '<g id="axes_1" clip-path="url(#c1)">' in compact  # a group that does something stays
    assert '<use x="1" y="2" xlink:href="#m1" fill="#444444" />' in compact
    assert 'transform="rotate(-90 1 9)"' in compact
    texts = ElementTree.fromstring(compact).findall(".//{http://www.w3.org/2000/svg}text")
    assert [(t.text, t.get("font-family"), t.get("text-anchor")) for t in texts] == [
        ("<b> 数据 & Ærø", "'DejaVu Sans'", "middle"), ("EUR", None, None)]  # fmt: skip
    assert compact_svg(svg) == compact_svg(svg)


def test_a_project_pdf_lists_its_largest_resources_and_sums_the_others() -> None:
    data, facts = summary_data()
    count = RESOURCES_MAX + 3
    resources = tuple(
        ResourceCost("a", f"vm-{n:03d}", f"server {n}", "instance", "m1.small", ("compute.vcpu",),
                     "USD" if n == count - 1 else "EUR", D(count - n) + D("0.001"))
        for n in range(count)
    )  # fmt: skip
    summary = finance_summary(data, replace(facts, resources=resources))
    report = next(r for r in project_reports(summary) if r.project_id == "a")
    assert len(report.resources) == count  # the model keeps every resource; the PDF shows the largest

    context = project_context(report, "Org")
    assert context["resources"] == resources[:RESOURCES_MAX]
    assert context["other_resources"] == 3
    assert context["other_resources_cost"] == {"EUR": D("5.002"), "USD": D("1.001")}  # exact, per currency
    html = renderer().project_html(report, "Org")
    assert f"server {RESOURCES_MAX - 1}<" in html and f"server {RESOURCES_MAX}<" not in html
    assert "3 other resources (smaller)" in html and "5.00 EUR + 1.00 USD" in html
    assert f"The {RESOURCES_MAX} largest of {count} resources are listed" in html

    few = next(r for r in project_reports(finance_summary(data, replace(facts, resources=resources[:2]))))
    assert project_context(few, "Org")["other_resources"] == 0
    assert "other resource" not in renderer().project_html(few, "Org")
