"""The PDFs: the finance summary and one report per project, jinja2 HTML (autoescaped) → WeasyPrint.

Determinism: the documents' created/modified dates are the end of the reported window (a
fact of the data, not the clock), the PDF identifier is a hash of the HTML, charts are
deterministic SVG and nothing is fetched (`data:` URIs only); the same inputs give the same
bytes. Every user-supplied string (project, team, resource names) is escaped by jinja2's
autoescape and renders as text.

Speed: a `Renderer` compiles the templates, parses the stylesheet and sets up the fonts once,
and is reused for every document of a run; `write_project_pdfs` spreads the project reports
over worker processes (forked, so they inherit the loaded WeasyPrint and matplotlib) and
renders the summary meanwhile. Tables have a fixed layout: WeasyPrint otherwise measures every
cell of a table again on each page.
"""

from __future__ import annotations

import base64
import datetime as dt
import gc
import hashlib
import logging
import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from decimal import Decimal
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Final

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from stackledger import __version__
from stackledger.reports import charts
from stackledger.reports.data import ZERO, ReportData
from stackledger.reports.facts import MonthFacts
from stackledger.reports.formatting import FILTERS, day_name, period_name
from stackledger.reports.project import ProjectReport
from stackledger.reports.summary import FinanceSummary, finance_summary
from stackledger.reports.tables import cost_table
from stackledger.window import Window

log = logging.getLogger(__name__)

TEMPLATE: Final = "monthly.html.j2"
PROJECT_TEMPLATE: Final = "project.html.j2"
STYLESHEET: Final = "monthly.css"
# Appendix B (every project × service × price book) is printed up to this many lines; beyond, it
# would be most of the document (and of its rendering time) and lives in the CSV and XLSX.
DETAIL_MAX_LINES: Final = 600
# A project report lists its largest resources up to this many and sums the others in one row: a
# project of hundreds of short-lived instances would otherwise fill dozens of pages (and take most of
# the run's rendering time, a table row costing WeasyPrint ~15 ms); each resource's cost lines are in
# the FOCUS export.
RESOURCES_MAX: Final = 50
PARALLEL_MIN: Final = 16  # fewer project reports than this render in this process
TEAMS_CHARTED: Final = 10  # bars on the cover; the other teams are summed into one


def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("stackledger.reports", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html", "j2"), default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(FILTERS)
    return env


class Renderer:
    """Templates, stylesheet and fonts loaded once; `pdf(html)` renders a document."""

    def __init__(self) -> None:
        # WeasyPrint takes about a second to import: load it only when a PDF is asked for.
        from weasyprint import CSS
        from weasyprint.text.fonts import FontConfiguration
        from weasyprint.urls import URLFetcher

        self.env = environment()
        # Charts are data: URIs and nothing else is loaded: no file or network access, even if a
        # template someday put a user-supplied value into a URL; a resource that fails to load
        # stops the render instead of leaving a hole in the report.
        self.fetcher = URLFetcher(allowed_protocols={"data"}, fail_on_errors=True)
        self.fonts = FontConfiguration()
        text = resources.files("stackledger.reports").joinpath("templates", STYLESHEET).read_text("utf-8")
        self.css = CSS(string=text, url_fetcher=self.fetcher, font_config=self.fonts)

    def summary_html(self, summary: FinanceSummary, organisation: str) -> str:
        return self.env.get_template(TEMPLATE).render(**summary_context(summary, organisation))

    def project_html(self, report: ProjectReport, organisation: str) -> str:
        return self.env.get_template(PROJECT_TEMPLATE).render(**project_context(report, organisation))

    def pdf(self, html: str) -> bytes:
        from weasyprint import HTML

        identifier = hashlib.sha256(html.encode("utf-8")).hexdigest()[:32].encode("ascii")
        document = HTML(string=html, base_url=None, url_fetcher=self.fetcher)
        pdf = document.write_pdf(stylesheets=[self.css], font_config=self.fonts, pdf_identifier=identifier)
        assert pdf is not None  # write_pdf returns bytes when no target is given
        return bytes(pdf)


@cache
def renderer() -> Renderer:
    """One renderer per process (workers build their own on first use)."""
    return Renderer()


# ---------------------------------------------------------------- entry points


def render_html(data: ReportData, *, organisation: str, summary: FinanceSummary | None = None) -> str:
    """The finance summary's HTML; without `summary`, from `data` alone (no store facts)."""
    summary = summary or finance_summary(data, MonthFacts.empty(data.window))
    return renderer().summary_html(summary, organisation)


def render_pdf(data: ReportData, *, organisation: str, summary: FinanceSummary | None = None) -> bytes:
    return renderer().pdf(render_html(data, organisation=organisation, summary=summary))


def write_pdf(data: ReportData, path: Path, *, organisation: str, summary: FinanceSummary | None = None) -> Path:
    path.write_bytes(render_pdf(data, organisation=organisation, summary=summary))
    log.debug("wrote %s (%d rows)", path, len(data.rows))
    return path


def render_project_pdf(report: ProjectReport, *, organisation: str) -> bytes:
    active = renderer()
    return active.pdf(active.project_html(report, organisation))


def write_pdfs(
    projects: Sequence[tuple[ProjectReport, Path]], *, organisation: str, workers: int = 1,
    summary: tuple[FinanceSummary, Path] | None = None, rendered: Callable[[int], None] | None = None,
) -> None:  # fmt: skip
    """Render each project report to its path, and the finance summary when given.

    With `workers` > 1 and enough reports the documents are spread over that many forked
    worker processes: the summary first (the longest job), then the project reports in small
    chunks, the longest first, so the workers stay busy until the end. Each document is rendered
    on its own, so the bytes are the same however the work is split or ordered. `rendered(n)`,
    when given, is called in this process as each job's `n` documents are written (for a
    progress bar).
    """
    jobs: list[_Job] = [("summary", [summary])] if summary is not None else []
    # The longest documents first, so no worker is left with a long one at the end.
    ordered = sorted(projects, key=lambda item: -_size(item[0]))
    jobs += [("projects", ordered[i : i + CHUNK]) for i in range(0, len(ordered), CHUNK)]
    tell = rendered or (lambda _count: None)
    parallel = workers > 1 and len(projects) >= PARALLEL_MIN and "fork" in multiprocessing.get_all_start_methods()
    if not parallel:
        for job in jobs:
            tell(_run(job, organisation))
        return
    renderer()  # fonts and the stylesheet are loaded once, before forking: every worker inherits them
    _PENDING[:] = jobs  # forked workers read their job from here: nothing large is pickled
    done = 0
    try:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_worker_started) as pool:
            for future in as_completed([pool.submit(_run_pending, i, organisation) for i in range(len(jobs))]):
                count = future.result()
                done += count
                tell(count)
    finally:
        _PENDING.clear()
    log.debug("rendered %d PDFs in %d worker processes", done, workers)


_Job = tuple[str, list[Any]]
_PENDING: list[_Job] = []
CHUNK: Final = 4  # project reports per job


def _size(report: ProjectReport) -> int:
    """A project report's rendering work, in table rows (what WeasyPrint's time follows)."""
    return min(len(report.resources), RESOURCES_MAX) + (len(report.usage.lines) if report.usage else 0)


def _worker_started() -> None:
    # A worker only renders and then exits: what it inherited stays alive (freeze: the collector
    # never scans it again), and collecting less often saves about a seventh of a render's CPU.
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)


def _run_pending(index: int, organisation: str) -> int:
    return _run(_PENDING[index], organisation)


def _run(job: _Job, organisation: str) -> int:
    kind, items = job
    for document, path in items:
        if kind == "summary":
            write_pdf(document.data, path, organisation=organisation, summary=document)
        else:
            path.write_bytes(render_project_pdf(document, organisation=organisation))
    return len(items)


# ---------------------------------------------------------------- template context


def summary_context(summary: FinanceSummary, organisation: str) -> dict[str, Any]:
    data = summary.data
    table = cost_table(data)
    team_chart = _team_chart(summary) if summary.teams else None
    return {
        **_common(data.window, organisation, data),
        "title": f"{organisation} — cloud costs {data.window.label}",
        "summary": summary,
        "facts": summary.facts,
        "quality": summary.facts.quality,
        "method": summary.facts.methodology,
        "currency": summary.currency,
        "previous_name": period_name(summary.facts.previous_window),
        "table": table,
        "book_width": round(46 / max(len(table.columns), 1), 2),
        "detail_lines": sum(len(item.lines) for item in table.projects),
        "detail_max": DETAIL_MAX_LINES,
        "team_chart": team_chart,
        "charts": [
            {"currency": currency, "uri": data_uri(charts.cost_by_project_svg(data, currency))}
            for currency in data.currencies
        ],
    }


def _team_chart(summary: FinanceSummary) -> str:
    """This period's and the previous period's cost of the TEAMS_CHARTED largest teams, the rest summed."""
    cur, teams = summary.currency, summary.teams
    shown, rest = teams[:TEAMS_CHARTED], teams[TEAMS_CHARTED:]
    labels = [team.team for team in shown] + ([f"{len(rest)} other teams"] if rest else [])

    def points(values: list[Decimal]) -> list[Decimal]:
        return values[: len(shown)] + ([sum(values[len(shown) :], ZERO)] if rest else [])

    now, before = period_name(summary.window), period_name(summary.facts.previous_window)
    series = {now: points([team.cost.get(cur, ZERO) for team in teams])}
    if any(team.previous for team in teams):
        series[before] = points([team.previous.get(cur, ZERO) for team in teams])
    colours = {now: charts.OKABE_ITO["blue"], before: charts.OKABE_ITO["sky"]}
    return data_uri(charts.bars_svg(labels, series, cur, colours))


def project_context(report: ProjectReport, organisation: str) -> dict[str, Any]:
    line = report.line
    return {
        **_resource_rows(report),
        **_common(report.data.window, organisation, report.data),
        "title": f"{line.name} — cloud costs {report.data.window.label}",
        "report": report,
        "line": line,
        "currency": report.currency,
        "chart": data_uri(
            charts.project_chart_svg(report.days, report.daily_groups, report.burn_down, report.currency)
        ),
        "book_width": round(40 / max(len(report.columns), 1), 2),
    }


def _resource_rows(report: ProjectReport) -> dict[str, Any]:
    """The resources the table lists (the RESOURCES_MAX largest) and the others' count and cost per currency."""
    shown, rest = report.resources[:RESOURCES_MAX], report.resources[RESOURCES_MAX:]
    others: dict[str, Decimal] = {}
    for resource in rest:
        others[resource.currency] = others.get(resource.currency, ZERO) + resource.cost
    return {"resources": shown, "other_resources": len(rest), "other_resources_cost": others}


def _common(window: Window, organisation: str, data: ReportData) -> dict[str, Any]:
    return {
        "organisation": organisation,
        "period_name": period_name(window),
        "period_label": window.label,
        "first_day": day_name(window.start),
        "last_day": day_name(window.end - dt.timedelta(microseconds=1)),  # the window is [start, end)
        "timestamp": window.end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "generator": f"StackLedger {__version__}",
        "data": data,
    }


def data_uri(svg: bytes) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")
