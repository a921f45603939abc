"""matplotlib charts as deterministic SVG: same data, same bytes.

Figures are built with matplotlib's object API (`Figure`), never pyplot: no GUI backend is
ever chosen, no global figure list leaks memory in a long-running worker, and importing this
module changes no process-wide backend. Determinism: a fixed `svg.hashsalt` (matplotlib
otherwise salts element ids randomly), no `Date` metadata, and text drawn as paths so the
output does not depend on which fonts a PDF viewer has. Labels are plain text (`parse_math=False`): a `$` in a project
name is not mathtext.
"""

from __future__ import annotations

import io
from collections import defaultdict
from decimal import Decimal
from typing import Any, Final

import matplotlib as mpl
from matplotlib.figure import Figure
from matplotlib.ticker import StrMethodFormatter

from reports.data import ReportData

TOP_PROJECTS: Final = 15  # bars drawn; the rest are summed into one "others" bar
COLOURS: Final = ("#1f4e79", "#e07b39", "#5b9a68", "#8c6bb1", "#c44e52", "#7f7f7f")
STYLE: Final[dict[Any, Any]] = {  # Any keys: matplotlib types rc keys as a Literal union
    "svg.hashsalt": "stackledger",
    "svg.fonttype": "path",
    "font.family": ["DejaVu Sans", "Noto Sans CJK JP"],  # fallback for CJK project names
    "font.size": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def cost_by_project_svg(data: ReportData, currency: str) -> bytes:
    """Horizontal bars of cost per project in `currency`, one bar per price book.

    The TOP_PROJECTS most expensive projects (by their largest price-book total) are drawn,
    largest first; the remaining projects are summed into one bar.
    """
    books, labels, values = _series(data, currency)
    height = 1.2 + 0.22 * len(labels) * max(len(books), 1)
    buffer = io.BytesIO()
    with mpl.rc_context(STYLE):  # rc is read both when drawing and when saving
        fig = Figure(figsize=(7.0, min(height, 9.0)))
        _draw(fig.subplots(), books, labels, values, currency)
        fig.tight_layout()
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


def _series(data: ReportData, currency: str) -> tuple[list[str], list[str], dict[str, list[float]]]:
    per_project: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    names: dict[str, str] = {}
    for row in data.rows:
        if row.currency == currency:
            per_project[row.project_id][row.price_book] += row.cost
            names[row.project_id] = row.project_name
    books = sorted({book for costs in per_project.values() for book in costs})
    ranked = sorted(per_project, key=lambda pid: (-max(per_project[pid].values()), names[pid], pid))
    shown, rest = ranked[:TOP_PROJECTS], ranked[TOP_PROJECTS:]
    labels = [names[pid] for pid in shown]
    values = {book: [float(per_project[pid].get(book, 0)) for pid in shown] for book in books}
    if rest:
        labels.append(f"{len(rest)} other projects")
        for book in books:
            values[book].append(float(sum((per_project[pid].get(book, Decimal(0)) for pid in rest), Decimal(0))))
    return books, labels, values


def _draw(ax: Any, books: list[str], labels: list[str], values: dict[str, list[float]], currency: str) -> None:
    if not labels:
        ax.text(0.5, 0.5, "no costs in this period", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    bar = 0.8 / len(books)
    for index, book in enumerate(books):
        positions = [i + (index - (len(books) - 1) / 2) * bar for i in range(len(labels))]
        ax.barh(positions, values[book], height=bar, label=book, color=COLOURS[index % len(COLOURS)])
    ax.set_yticks(range(len(labels)), labels=[_shorten(label) for label in labels], parse_math=False)
    ax.invert_yaxis()  # largest first
    ax.set_xlabel(f"cost ({currency})")
    ax.xaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    ax.xaxis.grid(True, color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    if len(books) > 1:
        ax.legend(frameon=False, loc="lower right")


def _shorten(label: str, width: int = 40) -> str:
    return label if len(label) <= width else label[: width - 1] + "…"
