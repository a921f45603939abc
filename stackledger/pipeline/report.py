"""Render the reports of a window: load the report data once, then write each format from it.

Formats: `pdf` (the finance summary), `projects` (one PDF per project, for its team lead),
`csv`, `xlsx`, `focus` (FOCUS 1.2 CSV, one row per cost line) and `json` (the summary's
figures for other tools). Every format is rendered from the same `ReportData` and
`FinanceSummary`, so they show the same figures. The step loads (`stackledger.store.reports`),
builds the pure models (`reports.data.report_data`, `reports.facts.month_facts`,
`reports.summary.finance_summary`, `reports.project.project_reports`) and writes the files.

`email_reports` renders the PDFs (and the XLSX) and sends the finance summary to the finance
recipients and each team lead only their own team's project PDFs (`report.email`), each
recipient once per set of documents: a re-run skips who already has them, a correction goes
out when the figures changed (`stackledger.pipeline.deliveries`).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Final

from stackledger.errors import ConfigError, StackLedgerError
from stackledger.pipeline.base import store_for
from stackledger.progress import Progress, silent
from stackledger.reports.data import ReportData, report_data
from stackledger.settings import Settings
from stackledger.store.reports import cost_records
from stackledger.window import Window

if TYPE_CHECKING:
    from stackledger.pipeline.deliveries import Skipped
    from stackledger.pipeline.reconcile import Reconciliation as NovaReconciliation
    from stackledger.reports.budget import DailyHistory, Forecaster
    from stackledger.reports.facts import MonthFacts
    from stackledger.reports.mail import Delivery
    from stackledger.reports.methodology import PriceSource
    from stackledger.reports.project import ProjectReport
    from stackledger.reports.quality import Reconciliation
    from stackledger.reports.summary import FinanceSummary

log = logging.getLogger(__name__)

MAX_AUTO_WORKERS: Final = 4


@dataclass
class ReportRun:
    """One window's report data and everything derived from it, each computed once on demand."""

    settings: Settings
    window: Window
    out_dir: Path
    data: ReportData
    wanted: tuple[str, ...] = ()  # the formats this run writes
    written: dict[str, list[Path]] = field(default_factory=dict)  # format -> paths
    progress: Progress = silent  # told each file written: (files done, files in all, format)
    files_total: int = 0
    files_done: int = 0
    facts_loading: Future[MonthFacts] | None = None  # `load_month_facts` already running in a thread

    def advance(self, files: int, what: str) -> None:
        """`files` more are written (by `what`): tell `progress`."""
        self.files_done += files
        self.progress(self.files_done, self.files_total, what)

    @property
    def stem(self) -> str:
        return _stem(self.window)

    @property
    def organisation(self) -> str:
        return self.settings.report.organisation

    @cached_property
    def facts(self) -> MonthFacts:
        return (
            self.facts_loading.result()
            if self.facts_loading is not None
            else load_month_facts(self.settings, self.window)
        )

    @cached_property
    def summary(self) -> FinanceSummary:
        from stackledger.reports.summary import finance_summary

        currency = None if self.data.internal_totals else _rate_card_currency(self.settings)
        return finance_summary(self.data, self.facts, currency=currency, forecaster=_forecaster(self.settings))

    @cached_property
    def projects(self) -> list[ProjectReport]:
        from stackledger.reports.project import project_reports

        return project_reports(self.summary)

    @property
    def summary_path(self) -> Path:
        return self.out_dir / f"stackledger-{self.stem}-summary.pdf"

    def project_path(self, report: ProjectReport) -> Path:
        folder = self.out_dir / f"stackledger-{self.stem}-projects"
        return folder / project_file_name(report.line.name, report.project_id)

    def pdfs(self, *, summary: bool, projects: bool) -> None:
        """Render the summary and/or the project PDFs once (together, so they run in parallel)."""
        from stackledger.reports.pdf import write_pdf, write_pdfs

        summary = summary and "pdf" not in self.written
        projects = projects and "projects" not in self.written
        if projects:
            reports = self.projects
            paths = [self.project_path(report) for report in reports]
            if paths:
                paths[0].parent.mkdir(parents=True, exist_ok=True)
            write_pdfs(
                list(zip(reports, paths, strict=True)), organisation=self.organisation,
                workers=_workers(self.settings), summary=(self.summary, self.summary_path) if summary else None,
                rendered=lambda count: self.advance(count, "PDFs"),
            )  # fmt: skip
            self.written["projects"] = paths
        elif summary:
            write_pdf(self.data, self.summary_path, organisation=self.organisation, summary=self.summary)
            self.advance(1, "pdf")
        if summary:
            self.written["pdf"] = [self.summary_path]


Writer = Callable[[ReportRun], list[Path]]


def _write_pdf(run: ReportRun) -> list[Path]:
    run.pdfs(summary=True, projects="projects" in run.wanted)
    return run.written["pdf"]


def _write_projects(run: ReportRun) -> list[Path]:
    run.pdfs(summary="pdf" in run.wanted, projects=True)
    return run.written["projects"]


def _write_csv(run: ReportRun) -> list[Path]:
    from stackledger.reports.csv_export import write_csv

    return [write_csv(run.data, run.out_dir / f"stackledger-{run.stem}.csv")]


def _write_xlsx(run: ReportRun) -> list[Path]:
    from stackledger.reports.xlsx_export import write_xlsx

    return [write_xlsx(run.summary, run.out_dir / f"stackledger-{run.stem}.xlsx", organisation=run.organisation)]


def _write_json(run: ReportRun) -> list[Path]:
    from stackledger.reports.json_export import write_json

    return [write_json(run.summary, run.out_dir / f"stackledger-{run.stem}.json", organisation=run.organisation)]


def _write_focus(run: ReportRun) -> list[Path]:
    from stackledger.reports.focus import write_focus  # one row per cost line: reads the lines, not the summary

    path = run.out_dir / f"stackledger-{run.stem}-focus.csv"
    return [write_focus(store_for(run.settings), run.window, path, organisation=run.organisation)]


_PDF_FORMATS: Final = ("pdf", "projects")
_FACTS_FORMATS: Final = frozenset({"pdf", "projects", "xlsx", "json"})  # the formats built from `MonthFacts`
# format name -> writer; the order here is the default order of `formats`
FORMATS: Final[dict[str, Writer]] = {
    "pdf": _write_pdf, "projects": _write_projects, "csv": _write_csv, "xlsx": _write_xlsx,
    "focus": _write_focus, "json": _write_json,
}  # fmt: skip


def render_reports(
    settings: Settings, window: Window, formats: Sequence[str], out_dir: Path, progress: Progress | None = None
) -> list[Path]:
    """Write the window's reports in `formats` (e.g. ["pdf", "csv"]) under `out_dir`.

    Returns the paths written, in the order of `formats` (repeats ignored; `projects` gives
    one path per project). An unknown format raises ConfigError before anything is queried
    or written. `progress(done, total, what)` is told each file (each project PDF) written.
    """
    return _render(settings, window, formats, out_dir, progress).paths


@dataclass
class Rendered:
    run: ReportRun
    paths: list[Path]


def wanted_formats(formats: Sequence[str]) -> list[str]:
    """The format names asked for, normalised and without repeats; ConfigError listing the valid
    ones when a name is unknown (or none is given)."""
    wanted = list(dict.fromkeys(name.strip().lower() for name in formats))
    unknown = [name for name in wanted if name not in FORMATS]
    if unknown or not wanted:
        raise ConfigError(
            f"unknown report format {', '.join(map(repr, unknown)) or '(none)'}; valid: {', '.join(sorted(FORMATS))}",
            key="--format",
        )
    return wanted


def _render(
    settings: Settings, window: Window, formats: Sequence[str], out_dir: Path, progress: Progress | None = None
) -> Rendered:
    wanted = wanted_formats(formats)
    # The store's two reads run at once (each query on its own connection: the database works on
    # both, this process mostly waits): on a large month they are the serial part before the PDFs.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="report-facts") as pool:
        facts = pool.submit(load_month_facts, settings, window) if set(wanted) & _FACTS_FORMATS else None
        data = load_report_data(settings, window)
        out_dir.mkdir(parents=True, exist_ok=True)
        run = ReportRun(settings, window, out_dir, data, tuple(wanted), facts_loading=facts)
        if facts is not None:
            run.facts  # noqa: B018 (waits for the thread, and re-raises what it raised, before the pool closes)
    if progress is not None:
        run.progress = progress
        run.files_total = sum(len(run.projects) if name == "projects" else 1 for name in wanted)
    paths: list[Path] = []
    for name in wanted:
        run.progress(run.files_done, run.files_total, name)
        written = FORMATS[name](run)
        run.written[name] = written
        paths += written
        if name not in _PDF_FORMATS:  # the PDFs count themselves as they are rendered
            run.advance(len(written), name)
    log.info("report %s: %d rows, %d files in %s (%s)", window.label, len(data.rows), len(paths), out_dir,
             ", ".join(wanted))  # fmt: skip
    return Rendered(run, paths)


def load_month_facts(settings: Settings, window: Window) -> MonthFacts:
    """Everything the documents show beyond `ReportData`: budgets, daily and per-resource costs,
    data quality, methodology, alarms (`reports.facts.month_facts`)."""
    from stackledger.reports.facts import month_facts, previous_window
    from stackledger.store.reports import month_records

    lead = settings.alarms.forecast.window_days  # the forecast's trailing days (`_forecaster`)
    records = month_records(store_for(settings), window, previous_window(window), lead_days=lead)
    sources, internal = _price_sources(settings)
    facts = month_facts(records, price_sources=sources, internal_source=internal)
    if settings.report.reconcile_nova and facts.quality is not None:
        quality = facts.quality.with_reconciliation(nova_reconciliation(settings, window))
        facts = replace(facts, quality=quality)
    return facts


def load_report_data(settings: Settings, window: Window) -> ReportData:
    """The window's `ReportData`: its cost per project, service and price book, read once."""
    records = cost_records(store_for(settings), window)
    return report_data(window, records.sums, records.fx, records.findings)


# ---------------------------------------------------------------- email


@dataclass
class EmailResult:
    paths: list[Path]  # every file rendered
    deliveries: list[Delivery]  # one per message sent
    unsent: dict[str, list[str]]  # reason -> project names whose PDF went to nobody
    skipped: list[Skipped] = field(default_factory=list)  # recipients who already had these documents


def email_reports(
    settings: Settings, window: Window, out_dir: Path, formats: Sequence[str] = (), *, resend: bool = False
) -> EmailResult:
    """Render the PDFs (plus `formats`) and send them: the finance summary to `report.email.finance`,
    and to each team lead (`report.email.team_leads`) only the PDFs of their team's projects.

    A recipient who already received the same documents for the window is skipped (unless
    `resend`); each message is recorded as soon as it is sent, so a re-run after a failure
    sends only what did not go out."""
    from stackledger.pipeline.deliveries import DeliveryLog, still_to_send
    from stackledger.reports.mail import plan_messages, send_messages
    from stackledger.store.locks import exclusive

    config = settings.report.email
    if config is None:
        raise ConfigError("no report.email section: set report.email.finance and team_leads", key="report.email")
    smtp = config.smtp or settings.alarms.notifiers.email
    if smtp is None:
        raise ConfigError("no SMTP server: set report.email.smtp (or alarms.notifiers.email)", key="report.email.smtp")
    extra = ["xlsx"] if config.attach_xlsx else []
    rendered = _render(settings, window, [*formats, "pdf", "projects", *extra], out_dir)
    run = rendered.run
    plan = plan_messages(
        run.summary, run.projects, summary_pdf=run.summary_path,
        project_pdfs={r.project_id: run.project_path(r) for r in run.projects},
        xlsx=run.written.get("xlsx", [None])[0] if config.attach_xlsx else None,
        config=config, sender=smtp.sender, organisation=run.organisation,
    )  # fmt: skip
    store = store_for(settings)
    sent_log = DeliveryLog(store, window.label)
    # Two runs at once (an operator and the monthly DAG) would both read "not sent yet": the
    # second waits here, then reads what the first recorded and skips it.
    with exclusive(store, f"report-email:{window.label}"):
        todo, skipped = still_to_send(window.label, plan.messages, sent_log.latest(), resend=resend)
        deliveries = send_messages(smtp, todo, on_sent=sent_log.record)
    log.info("report %s: emailed %d messages (%d recipients), %d recipients skipped (already sent)", window.label,
             len(deliveries), sum(len(d.recipients) for d in deliveries),
             sum(len(s.recipients) for s in skipped))  # fmt: skip
    return EmailResult(rendered.paths, deliveries, plan.unsent, skipped)


# ---------------------------------------------------------------- helpers


def project_file_name(name: str, project_id: str) -> str:
    """`web-shop_3f2a….pdf`: an ASCII slug of the name (for people) and the id (unique)."""
    from stackledger.transforms.focus import to_ascii

    slug = re.sub(r"[^a-z0-9]+", "-", to_ascii(name).lower()).strip("-")[:40].strip("-")
    safe_id = re.sub(r"[^A-Za-z0-9._-]+", "-", project_id)[:64] or "no-project"
    return f"{slug}_{safe_id}.pdf" if slug and slug != safe_id.lower() else f"{safe_id}.pdf"


def nova_reconciliation(settings: Settings, window: Window) -> Reconciliation:
    """`stackledger reconcile`'s comparison for the window, as the summary's data-quality section shows it."""
    from stackledger.pipeline.reconcile import reconcile_month
    from stackledger.reports.quality import Reconciliation

    try:
        result = reconcile_month(settings, window)
    except StackLedgerError as error:  # the report still renders and says why
        log.warning("report %s: reconciliation against Nova failed: %s", window.label, error)
        return Reconciliation(False, f"Reconciliation against Nova failed: {error}")
    return reconciliation_summary(result)


def reconciliation_summary(result: NovaReconciliation) -> Reconciliation:
    from stackledger.reports.quality import Reconciliation

    rows = tuple(
        (line.name or line.project_id, f"{line.hours.nova:,.1f}", f"{line.hours.ours - line.hours.excluded:,.1f}",
         f"{line.hours.difference:+,.1f}")
        for line in result.projects
    )  # fmt: skip
    total = result.total.hours
    agree = len(result.projects) - len(result.mismatched)
    summary = (
        f"Instance-hours compared with Nova's os-simple-tenant-usage for {result.window.start:%Y-%m-%d %H:%M} – "
        f"{result.window.end:%Y-%m-%d %H:%M} UTC ({result.source} usage): {agree} of {len(result.projects)} projects "
        f"agree within {result.tolerance.label}. Total: Nova {total.nova:,.1f} h, StackLedger "
        f"{total.ours - total.excluded:,.1f} h ({total.excluded:,.1f} h before a server's relaunch left out, as Nova "
        f"counts from its latest launch)."
    )
    return Reconciliation(True, summary, rows)


def _workers(settings: Settings) -> int:
    configured = settings.report.workers
    return configured if configured > 0 else min(os.cpu_count() or 1, MAX_AUTO_WORKERS)


def _price_sources(settings: Settings) -> tuple[dict[tuple[str, str, str], PriceSource], str]:
    """(book, region, SKU) -> where its list price comes from; and the rate card's name."""
    from stackledger.pipeline.prices import load_price_book
    from stackledger.ratecard import load_rate_card
    from stackledger.reports.methodology import PriceSource

    sources: dict[tuple[str, str, str], PriceSource] = {}
    try:
        book = load_price_book(settings)
        for provider, region, sku, source, strength in book[["provider", "region", "sku", "source", "strength"]]\
                .itertuples(index=False, name=None):  # fmt: skip
            sources[(str(provider), str(region), str(sku))] = PriceSource(str(source or ""), str(strength or ""))
    except ConfigError as error:  # the appendix loses its source column, the report still renders
        log.warning("report: price book sources unavailable: %s", error)
    try:
        card = load_rate_card(settings.rate_card)
        internal = f"{card.name} ({Path(card.source).name})" if card.name else Path(card.source).name
    except ConfigError:
        internal = Path(settings.rate_card).name
    return sources, f"the rate card {internal}"


def _rate_card_currency(settings: Settings) -> str | None:
    from stackledger.pipeline.prices import report_currency

    try:
        return report_currency(settings)
    except ConfigError:
        return None


def _forecaster(settings: Settings) -> Forecaster:
    """The alarm engine's month-end forecast (alarms.stats) over the same trailing days (the
    facts read `alarms.forecast.window_days` days before the month), so the report, the API
    and a budget alarm give the same number on every day of a month."""
    import numpy as np

    from stackledger.alarms.stats import MICRO, forecast_month_end

    config = settings.alarms.forecast

    def forecast(history: DailyHistory, days_in_month: int) -> Decimal | None:
        values = np.array([float(day * MICRO) for day in history.costs], dtype=float)
        result = forecast_month_end(
            values, np.array(history.rated, dtype=bool), month_start=history.month_start,
            complete_end=len(values), days_in_month=days_in_month, method=config.method,
            window_days=config.window_days, min_days=config.min_days,
        )  # fmt: skip
        return None if result is None else Decimal(round(result.value)).scaleb(-6)

    return forecast


def _stem(window: Window) -> str:
    # A month is `2026-10`; another window `2026-10-01T00-00-00_2026-10-08T00-00-00` (no ':' or '/').
    return window.label.replace(":", "-").replace("/", "_")
