"""The monthly summary PDF: jinja2 HTML (autoescaped) → WeasyPrint.

Determinism: the document's created/modified dates are the end of the reported window (a
fixed fact of the data, not the clock), the PDF identifier is a hash of the HTML, and the
chart is deterministic SVG; the same `ReportData` gives the same bytes.
Every user-supplied string (project names, teams) is escaped by jinja2's autoescape and
renders as text.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import logging
from importlib import resources
from pathlib import Path
from typing import Any, Final

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from reports.charts import cost_by_project_svg
from reports.data import ReportData
from reports.formatting import MONTH_NAMES, display_quantity, money
from reports.tables import cost_table, ordered_book_totals
from stackledger import __version__

log = logging.getLogger(__name__)

TEMPLATE: Final = "monthly.html.j2"
STYLESHEET: Final = "monthly.css"


def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("reports", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html", "j2"), default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["money"] = money
    env.filters["quantity"] = display_quantity
    return env


def render_html(data: ReportData, *, organisation: str) -> str:
    return environment().get_template(TEMPLATE).render(**_context(data, organisation))


def render_pdf(data: ReportData, *, organisation: str) -> bytes:
    # WeasyPrint takes about a second to import: load it only when a PDF is asked for.
    from weasyprint import CSS, HTML
    from weasyprint.urls import URLFetcher

    # The chart is a data: URI and nothing else is loaded: no file or network access, even if
    # a template someday put a user-supplied value into a URL; a resource that fails to load
    # stops the render instead of leaving a hole in the report.
    fetcher = URLFetcher(allowed_protocols={"data"}, fail_on_errors=True)
    html = render_html(data, organisation=organisation)
    css = resources.files("reports").joinpath("templates", STYLESHEET).read_text("utf-8")
    identifier = hashlib.sha256(html.encode("utf-8")).hexdigest()[:32].encode("ascii")
    document = HTML(string=html, base_url=None, url_fetcher=fetcher)
    pdf = document.write_pdf(stylesheets=[CSS(string=css, url_fetcher=fetcher)], pdf_identifier=identifier)
    assert pdf is not None  # write_pdf returns bytes when no target is given
    return bytes(pdf)


def write_pdf(data: ReportData, path: Path, *, organisation: str) -> Path:
    path.write_bytes(render_pdf(data, organisation=organisation))
    log.debug("wrote %s (%d rows)", path, len(data.rows))
    return path


def _context(data: ReportData, organisation: str) -> dict[str, Any]:
    window = data.window
    table = cost_table(data)
    return {
        "organisation": organisation,
        "title": f"{organisation} — cloud costs {window.label}",
        "period_name": _period_name(data),
        "period_label": window.label,
        "first_day": _day(window.start),
        "last_day": _day(window.end - dt.timedelta(microseconds=1)),  # the window is [start, end)
        "timestamp": window.end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "generator": f"StackLedger {__version__}",
        "data": data,
        "currencies": data.currencies,
        "grand_totals": data.grand_totals,
        "price_book_totals": ordered_book_totals(data),
        "table": table,
        "book_width": round(46 / max(len(table.columns), 1), 2),
        "charts": [
            {"currency": currency, "uri": _data_uri(cost_by_project_svg(data, currency))}
            for currency in data.currencies
        ],
    }


def _period_name(data: ReportData) -> str:
    window = data.window
    if window.label == window.start.strftime("%Y-%m"):
        return f"{MONTH_NAMES[window.start.month - 1]} {window.start.year}"
    return window.label


def _day(instant: dt.datetime) -> str:
    return f"{instant.day} {MONTH_NAMES[instant.month - 1]} {instant.year}"


def _data_uri(svg: bytes) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")
