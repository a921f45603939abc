"""Render the reports of a window: query the report data once, then write each format from it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

from reports.data import ReportData, month_report_data
from stackledger.errors import ConfigError
from stackledger.pipeline.base import store_for
from stackledger.settings import Settings
from stackledger.window import Window

log = logging.getLogger(__name__)

Writer = Callable[[ReportData, Settings, Path], Path]


def _write_csv(data: ReportData, settings: Settings, out_dir: Path) -> Path:
    from reports.csv_export import write_csv

    return write_csv(data, out_dir / f"stackledger-{_stem(data.window)}.csv")


def _write_pdf(data: ReportData, settings: Settings, out_dir: Path) -> Path:
    from reports.pdf import write_pdf  # matplotlib and WeasyPrint load only when a PDF is asked for

    path = out_dir / f"stackledger-{_stem(data.window)}-summary.pdf"
    return write_pdf(data, path, organisation=settings.report.organisation)


def _write_focus(data: ReportData, settings: Settings, out_dir: Path) -> Path:
    from reports.focus import write_focus  # one row per cost line: reads the lines, not the summary

    path = out_dir / f"stackledger-{_stem(data.window)}-focus.csv"
    return write_focus(store_for(settings), data.window, path, organisation=settings.report.organisation)


# format name -> writer; the order here is the default order of `formats`
FORMATS: Final[dict[str, Writer]] = {"pdf": _write_pdf, "csv": _write_csv, "focus": _write_focus}


def render_reports(settings: Settings, window: Window, formats: Sequence[str], out_dir: Path) -> list[Path]:
    """Write the window's reports in `formats` (e.g. ["pdf", "csv"]) under `out_dir`.

    Returns the paths written, in the order of `formats` (repeats ignored). An unknown format
    raises ConfigError before anything is queried or written.
    """
    wanted = list(dict.fromkeys(name.strip().lower() for name in formats))
    unknown = [name for name in wanted if name not in FORMATS]
    if unknown or not wanted:
        raise ConfigError(
            f"unknown report format {', '.join(map(repr, unknown)) or '(none)'}; valid: {', '.join(sorted(FORMATS))}",
            key="--format",
        )
    data = month_report_data(store_for(settings), window)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [FORMATS[name](data, settings, out_dir) for name in wanted]
    log.info("report %s: %d rows, wrote %s", window.label, len(data.rows), ", ".join(str(p) for p in paths))
    return paths


def _stem(window: Window) -> str:
    # A month is `2026-10`; another window `2026-10-01T00-00-00_2026-10-08T00-00-00` (no ':' or '/').
    return window.label.replace(":", "-").replace("/", "_")
