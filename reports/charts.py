"""matplotlib charts as deterministic SVG: same data, same bytes, one look.

Figures are built with matplotlib's object API (`Figure`), never pyplot: no GUI backend is
ever chosen, no global figure list leaks memory in a long-running worker, and importing this
module changes no process-wide backend. Determinism: a fixed `svg.hashsalt` (matplotlib
otherwise salts element ids randomly), no `Date` metadata, and text drawn as paths so the
output does not depend on which fonts a PDF viewer has. Labels are plain text (`parse_math=False`):
a `$` in a project name is not mathtext.

Colours are the Okabe–Ito palette (Okabe & Ito 2008), distinguishable with every common
colour-vision deficiency; a price book or a service group keeps its colour in every chart,
and lines differ by style as well as colour. Charts of the project reports use fixed margins
(no `tight_layout`): it measures every label again and is most of a small chart's time.
"""

from __future__ import annotations

import datetime as dt
import io
from collections import defaultdict
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Final

import matplotlib as mpl
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, StrMethodFormatter

from reports.budget import BurnDown
from reports.data import ReportData

TOP_PROJECTS: Final = 15  # bars drawn; the rest are summed into one "others" bar
OKABE_ITO: Final = {
    "blue": "#0072B2", "orange": "#E69F00", "green": "#009E73", "sky": "#56B4E9",
    "vermillion": "#D55E00", "purple": "#CC79A7", "yellow": "#F0E442", "black": "#000000",
}  # fmt: skip
GREY: Final = "#8c8c8c"
INK: Final = "#1a1a1a"
COLOURS: Final = tuple(OKABE_ITO[name] for name in ("blue", "orange", "green", "sky", "vermillion", "purple"))
BOOK_COLOURS: Final = {"internal": OKABE_ITO["blue"], "aws": OKABE_ITO["orange"], "digitalocean": OKABE_ITO["green"]}
BOOK_LABELS: Final = {"internal": "Internal", "aws": "AWS", "digitalocean": "DigitalOcean"}
GROUP_COLOURS: Final = {
    "Compute": OKABE_ITO["blue"], "Storage": OKABE_ITO["orange"], "Network": OKABE_ITO["green"],
    "Other": OKABE_ITO["purple"],
}  # fmt: skip
STYLE: Final[dict[Any, Any]] = {  # Any keys: matplotlib types rc keys as a Literal union
    "svg.hashsalt": "stackledger",
    "svg.fonttype": "path",
    "font.family": ["DejaVu Sans", "Noto Sans CJK JP"],  # fallback for CJK project names
    "font.size": 8,
    "text.color": INK,
    "axes.labelcolor": INK,
    "axes.edgecolor": "#555555",
    "axes.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.color": "#444444",
    "ytick.color": "#444444",
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "legend.frameon": False,
    "legend.fontsize": 7.5,
}


def cost_by_project_svg(data: ReportData, currency: str) -> bytes:
    """Horizontal bars of cost per project in `currency`, one bar per price book.

    The TOP_PROJECTS most expensive projects (by their largest price-book total) are drawn,
    largest first; the remaining projects are summed into one bar.
    """
    books, labels, values = _series(data, currency)
    height = 1.2 + 0.22 * len(labels) * max(len(books), 1)

    def draw(fig: Figure) -> None:
        _bars(fig.subplots(), books, labels, values, currency)
        fig.tight_layout()

    return _svg((7.0, min(height, 9.0)), draw)


def bars_svg(labels: Sequence[str], series: Mapping[str, Sequence[Decimal]], currency: str,
             colours: Mapping[str, str]) -> bytes:  # fmt: skip
    """Horizontal grouped bars (e.g. cost per team this and last month), first label on top."""
    height = 1.0 + 0.2 * len(labels) * max(len(series), 1)
    values = {name: [float(v) for v in points] for name, points in series.items()}

    def draw(fig: Figure) -> None:
        _bars(fig.subplots(), list(series), list(labels), values, currency, colours=colours)
        fig.tight_layout()

    return _svg((7.0, min(max(height, 1.8), 6.0)), draw)


def daily_cost_svg(days: Sequence[dt.date], groups: Mapping[str, Sequence[Decimal]], currency: str) -> bytes:
    """Stacked daily bars of internal cost by service group."""

    def draw(fig: Figure) -> None:
        fig.subplots_adjust(left=0.09, right=0.99, top=0.9, bottom=0.16)
        ax = fig.subplots()
        positions = list(range(len(days)))
        bottom = [0.0] * len(days)
        for group, points in groups.items():
            heights = [float(v) for v in points]
            ax.bar(positions, heights, bottom=bottom, width=0.75, label=group,
                   color=GROUP_COLOURS.get(group, GREY), linewidth=0)  # fmt: skip
            bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
        _day_ticks(ax, days)
        _money_axis(ax, currency, axis="y")
        if groups:
            ax.legend(loc="upper left", bbox_to_anchor=(0.0, 1.14), ncols=len(groups), handlelength=1.0)
        else:
            _empty(ax, "no internal cost in this period")

    return _svg((7.0, 2.3), draw)


def burn_down_svg(burn: BurnDown) -> bytes:
    """Budget left at the end of each day (solid), the forecast to the period's end (dashed), and the
    even spend a budget allows (dotted)."""

    def draw(fig: Figure) -> None:
        fig.subplots_adjust(left=0.09, right=0.99, top=0.9, bottom=0.16)
        ax = fig.subplots()
        n = len(burn.days)
        budget = float(burn.budget)
        ax.plot([-0.5, n - 0.5], [budget, 0.0], linestyle=":", color=GREY, linewidth=1.0, label="even spend")
        actual = [(i, float(v)) for i, v in enumerate(burn.remaining) if v is not None]
        if actual:
            ax.plot(*zip(*actual, strict=True), color=OKABE_ITO["blue"], linewidth=1.8, label="budget left")
        forecast = [(i, float(v)) for i, v in enumerate(burn.forecast) if v is not None]
        if forecast:
            ax.plot(*zip(*forecast, strict=True), color=OKABE_ITO["vermillion"], linewidth=1.6, linestyle="--",
                    label="forecast")  # fmt: skip
        ax.axhline(0.0, color="#555555", linewidth=0.6)
        _day_ticks(ax, burn.days)
        _money_axis(ax, burn.currency, axis="y")
        ax.legend(loc="upper right", bbox_to_anchor=(1.0, 1.14), ncols=3, handlelength=2.2)

    return _svg((7.0, 2.3), draw)


# ---------------------------------------------------------------- shared drawing


def _svg(size: tuple[float, float], draw: Any) -> bytes:
    buffer = io.BytesIO()
    with mpl.rc_context(STYLE):  # rc is read both when drawing and when saving
        fig = Figure(figsize=size)
        draw(fig)
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


def _series(data: ReportData, currency: str) -> tuple[list[str], list[str], dict[str, list[float]]]:
    per_project: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    names: dict[str, str] = {}
    for row in data.rows:
        if row.currency == currency:
            per_project[row.project_id][row.price_book] += row.cost
            names[row.project_id] = row.project_name
    books = sorted({book for costs in per_project.values() for book in costs}, key=lambda b: (b != "internal", b))
    ranked = sorted(per_project, key=lambda pid: (-max(per_project[pid].values()), names[pid], pid))
    shown, rest = ranked[:TOP_PROJECTS], ranked[TOP_PROJECTS:]
    labels = [names[pid] for pid in shown]
    values = {book: [float(per_project[pid].get(book, 0)) for pid in shown] for book in books}
    if rest:
        labels.append(f"{len(rest)} other projects")
        for book in books:
            values[book].append(float(sum((per_project[pid].get(book, Decimal(0)) for pid in rest), Decimal(0))))
    return books, labels, values


def _bars(ax: Any, names: list[str], labels: list[str], values: dict[str, list[float]], currency: str, *,
          colours: Mapping[str, str] = BOOK_COLOURS) -> None:  # fmt: skip
    if not labels:
        _empty(ax, "no costs in this period")
        return
    bar = 0.8 / len(names)
    for index, name in enumerate(names):
        positions = [i + (index - (len(names) - 1) / 2) * bar for i in range(len(labels))]
        colour = colours.get(name, COLOURS[index % len(COLOURS)])
        ax.barh(positions, values[name], height=bar, label=BOOK_LABELS.get(name, name), color=colour, linewidth=0)
    ax.set_yticks(range(len(labels)), labels=[_shorten(label) for label in labels], parse_math=False)
    ax.invert_yaxis()  # largest first
    _money_axis(ax, currency, axis="x")
    if len(names) > 1:
        ax.legend(loc="lower right")


def _money_axis(ax: Any, currency: str, *, axis: str) -> None:
    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    target.set_major_locator(MaxNLocator(nbins=6, min_n_ticks=3))
    (ax.set_xlabel if axis == "x" else ax.set_ylabel)(currency)
    target.grid(True, color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)


def _day_ticks(ax: Any, days: Sequence[dt.date]) -> None:
    ticks = [i for i, day in enumerate(days) if day.day == 1 or (day.day - 1) % 5 == 0]
    ax.set_xticks(ticks, labels=[str(days[i].day) for i in ticks])
    ax.set_xlim(-0.6, len(days) - 0.4)
    if days:
        ax.set_xlabel(f"day of {days[0]:%Y-%m}" if days[0].month == days[-1].month else "day")


def _empty(ax: Any, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color=GREY)
    ax.set_axis_off()


def _shorten(label: str, width: int = 40) -> str:
    return label if len(label) <= width else label[: width - 1] + "…"
