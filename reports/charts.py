"""matplotlib charts as deterministic SVG: same data, same bytes, one look.

Figures are built with matplotlib's object API (`Figure`), never pyplot: no GUI backend is
ever chosen, no global figure list leaks memory in a long-running worker, and importing this
module changes no process-wide backend. Determinism: a fixed `svg.hashsalt` (matplotlib
otherwise salts element ids randomly) and no `Date` metadata. Text stays text (`svg.fonttype:
none`): WeasyPrint sets it in the report's own fonts (DejaVu Sans, Noto Sans CJK as fallback)
and embeds them, so the PDF does not depend on a viewer's fonts either, and text is cheaper
to render than glyph outlines. Labels are plain text (`parse_math=False`): a `$` in a project
name is not mathtext.

Colours are the Okabe–Ito palette (Okabe & Ito 2008), distinguishable with every common
colour-vision deficiency; a price book or a service group keeps its colour in every chart,
and lines differ by style as well as colour. Charts of the project reports use fixed margins
(no `tight_layout`, which measures every label again).
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Final
from xml.etree import ElementTree

import matplotlib as mpl
from matplotlib.figure import Figure
from matplotlib.patches import PathPatch
from matplotlib.path import Path as MplPath
from matplotlib.ticker import MaxNLocator, StrMethodFormatter

from stackledger.reports.budget import BurnDown
from stackledger.reports.data import ReportData
from stackledger.reports.formatting import MONTH_NAMES, book_title
from stackledger.schema import INTERNAL_BOOK

TOP_PROJECTS: Final = 15  # bars drawn; the rest are summed into one "others" bar
OKABE_ITO: Final = {
    "blue": "#0072B2", "orange": "#E69F00", "green": "#009E73", "sky": "#56B4E9",
    "vermillion": "#D55E00", "purple": "#CC79A7", "yellow": "#F0E442", "black": "#000000",
}  # fmt: skip
SVG_NS: Final = "http://www.w3.org/2000/svg"
XLINK_NS: Final = "http://www.w3.org/1999/xlink"
UNIVERSAL_RULE: Final = re.compile(r"\s*\*\s*\{([^{}]*)\}\s*")  # `*{stroke-linejoin: round; …}`
# A title's height above its axes, given (not left to matplotlib): where it would put it anyway, as nothing is
# drawn above an axes, and finding that out measures every tick label again (a fifth of a chart's time).
TITLE_Y: Final = 1.0
GREY: Final = "#8c8c8c"
INK: Final = "#1a1a1a"
COLOURS: Final = tuple(OKABE_ITO[name] for name in ("blue", "orange", "green", "sky", "vermillion", "purple"))
BOOK_COLOURS: Final = {INTERNAL_BOOK: OKABE_ITO["blue"], "aws": OKABE_ITO["orange"], "digitalocean": OKABE_ITO["green"]}
GROUP_COLOURS: Final = {
    "Compute": OKABE_ITO["blue"], "Storage": OKABE_ITO["orange"], "Network": OKABE_ITO["green"],
    "Other": OKABE_ITO["purple"],
}  # fmt: skip
STYLE: Final[dict[Any, Any]] = {  # Any keys: matplotlib types rc keys as a Literal union
    "svg.hashsalt": "stackledger",
    "svg.fonttype": "none",
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

    return _svg((7.0, min(height, 7.0)), draw)


def bars_svg(labels: Sequence[str], series: Mapping[str, Sequence[Decimal]], currency: str,
             colours: Mapping[str, str]) -> bytes:  # fmt: skip
    """Horizontal grouped bars (e.g. cost per team this and last month), first label on top."""
    height = 1.0 + 0.2 * len(labels) * max(len(series), 1)
    values = {name: [float(v) for v in points] for name, points in series.items()}

    def draw(fig: Figure) -> None:
        _bars(fig.subplots(), list(series), list(labels), values, currency, colours=colours)
        fig.tight_layout()

    return _svg((7.0, min(max(height, 1.8), 6.0)), draw)


def project_chart_svg(
    days: Sequence[dt.date], groups: Mapping[str, Sequence[Decimal]], burn: BurnDown | None, currency: str
) -> bytes:
    """A project's month in one figure: daily internal cost stacked by service group, and below it
    (when the project has a comparable budget) the budget burn-down with the forecast.

    One figure, not two: a project report renders in a fraction of a second, and a figure and
    its SVG image cost about as much as the rest of the page.
    """

    def draw(fig: Figure) -> None:
        if burn is None:
            fig.subplots_adjust(left=0.09, right=0.99, top=0.86, bottom=0.17)
            _daily(fig.subplots(), days, groups, currency)
            return
        fig.subplots_adjust(left=0.09, right=0.99, top=0.92, bottom=0.09, hspace=0.55)
        top, bottom = fig.subplots(2, 1)
        _daily(top, days, groups, currency)
        _burn(bottom, burn)

    return _svg((7.0, 2.3 if burn is None else 4.1), draw)


def _daily(ax: Any, days: Sequence[dt.date], groups: Mapping[str, Sequence[Decimal]], currency: str) -> None:
    """Stacked daily bars; one compound path per group (one SVG element, not one per bar)."""
    ax.set_title("Daily cost (internal rate card)", loc="left", fontsize=8.5, fontweight="bold", color=INK, pad=14,
                 y=TITLE_Y)  # fmt: skip
    base = [0.0] * len(days)
    for group, points in groups.items():
        heights = [float(v) for v in points]
        patch = PathPatch(_bars_path(base, heights), facecolor=GROUP_COLOURS.get(group, GREY), linewidth=0,
                          label=group)  # fmt: skip
        ax.add_patch(patch)
        base = [b + h for b, h in zip(base, heights, strict=True)]
    _day_ticks(ax, days)
    _money_axis(ax, currency, axis="y")
    top = max(base, default=0.0)
    ax.set_ylim(0.0, top * 1.08 if top > 0 else 1.0)
    if groups:
        ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=len(groups), handlelength=1.0,
                  borderaxespad=0.2)  # fmt: skip
    else:
        _empty(ax, "no internal cost in this period")


def _burn(ax: Any, burn: BurnDown) -> None:
    """Budget left at the end of each day (solid), the forecast to the period's end (dashed), and the
    even spend a budget allows (dotted)."""
    ax.set_title(f"Budget burn-down ({float(burn.budget):,.0f} {burn.currency})", loc="left", fontsize=8.5,
                 fontweight="bold", color=INK, pad=14, y=TITLE_Y)  # fmt: skip
    n = len(burn.days)
    ax.plot([-0.5, n - 0.5], [float(burn.budget), 0.0], linestyle=":", color=GREY, linewidth=1.0, label="even spend")
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
    ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=3, handlelength=2.2, borderaxespad=0.2)


def _bars_path(base: Sequence[float], heights: Sequence[float], width: float = 0.75) -> MplPath:
    vertices: list[tuple[float, float]] = []
    codes: list[Any] = []  # MplPath code constants (numpy uint8)
    for x, (b, h) in enumerate(zip(base, heights, strict=True)):
        if h <= 0:
            continue
        left, right = x - width / 2, x + width / 2
        vertices += [(left, b), (right, b), (right, b + h), (left, b + h), (left, b)]
        codes += [MplPath.MOVETO, MplPath.LINETO, MplPath.LINETO, MplPath.LINETO, MplPath.CLOSEPOLY]
    return MplPath(vertices or [(0.0, 0.0)], codes or None)


# ---------------------------------------------------------------- shared drawing


def _svg(size: tuple[float, float], draw: Any) -> bytes:
    buffer = io.BytesIO()
    with mpl.rc_context(STYLE):  # rc is read both when drawing and when saving
        fig = Figure(figsize=size)
        draw(fig)
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    return compact_svg(buffer.getvalue())


def compact_svg(svg: bytes) -> bytes:
    """The same drawing in fewer, simpler elements, which WeasyPrint draws faster.

    matplotlib wraps every artist in a `<g id=…>`, styles each element with a CSS `style`
    attribute (WeasyPrint parses each one with its CSS parser), rotates horizontal text by -0°
    and sets the line joins with a stylesheet matched against every element. Here: the
    wrappers' children take their place, styles become presentation attributes (the same
    properties, no stylesheet competes with them), the no-op rotations and the metadata go,
    and the stylesheet's line joins and caps are set once on the root, which every element
    inherits (no element sets its own on a group). Drawn, it is the same picture.
    """
    root = ElementTree.fromstring(svg)  # noqa: S314 (matplotlib's own output, no entities)
    inherited = _pop_universal_style(root)
    _compact_children(root)
    # Names without namespaces and the declarations by hand: ElementTree would otherwise write
    # `ns0:` prefixes, or need a process-wide prefix registration.
    root.tag, root.text = "svg", None
    root.attrib = {"xmlns": SVG_NS, "xmlns:xlink": XLINK_NS, **root.attrib, **dict(inherited)}
    return ElementTree.tostring(root)


def _pop_universal_style(root: ElementTree.Element) -> list[tuple[str, str]]:
    """The declarations of matplotlib's `<defs><style>*{…}</style></defs>`, which is removed."""
    for defs in root.findall(f"{{{SVG_NS}}}defs"):
        styles = [(child.tag, UNIVERSAL_RULE.fullmatch(child.text or "")) for child in defs]
        if len(styles) == 1 and styles[0][0] == f"{{{SVG_NS}}}style" and styles[0][1]:
            root.remove(defs)
            return _declarations(styles[0][1].group(1))
    return []


def _compact_children(parent: ElementTree.Element) -> None:
    children: list[ElementTree.Element] = []
    for child in parent:
        tag = child.tag.rpartition("}")[2]
        if tag == "metadata":
            continue
        _compact_children(child)
        if tag == "g" and set(child.attrib) <= {"id"}:
            children += list(child)
            continue
        child.tag = tag
        if tag != "text":  # drop the indentation between elements
            child.text = child.text if child.text and child.text.strip() else None
            child.tail = child.tail if child.tail and child.tail.strip() else None
        if f"{{{XLINK_NS}}}href" in child.attrib:
            child.set("xlink:href", child.attrib.pop(f"{{{XLINK_NS}}}href"))
        for name, value in _declarations(child.attrib.pop("style", "")):
            child.set(name, value)
        if child.get("transform", "").startswith("rotate(-0 "):
            del child.attrib["transform"]
        children.append(child)
    parent[:] = children


def _declarations(style: str) -> list[tuple[str, str]]:
    pairs = (declaration.partition(":") for declaration in style.split(";") if declaration.strip())
    return [(name.strip(), value.strip()) for name, _, value in pairs]


def _series(data: ReportData, currency: str) -> tuple[list[str], list[str], dict[str, list[float]]]:
    per_project: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    names: dict[str, str] = {}
    for row in data.rows:
        if row.currency == currency:
            per_project[row.project_id][row.price_book] += row.cost
            names[row.project_id] = row.project_name
    books = sorted({book for costs in per_project.values() for book in costs}, key=lambda b: (b != INTERNAL_BOOK, b))
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
        ax.barh(positions, values[name], height=bar, label=book_title(name), color=colour, linewidth=0)
    ax.set_yticks(range(len(labels)), labels=[_shorten(label) for label in labels], parse_math=False)
    ax.invert_yaxis()  # largest first
    _money_axis(ax, currency, axis="x")
    if len(names) > 1:  # above the bars, never over them
        ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=len(names), borderaxespad=0.2)


def _money_axis(ax: Any, currency: str, *, axis: str) -> None:
    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    target.set_major_locator(MaxNLocator(nbins=6, min_n_ticks=3))
    (ax.set_xlabel if axis == "x" else ax.set_ylabel)(currency)
    target.grid(True, color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)


def _day_ticks(ax: Any, days: Sequence[dt.date]) -> None:
    ticks = [i for i, day in enumerate(days) if day.day == 1 or (day.day - 1) % 5 == 0]
    labels = [f"{days[i].day} {MONTH_NAMES[days[i].month - 1][:3]}" if k == 0 or days[i].day == 1 else str(days[i].day)
              for k, i in enumerate(ticks)]  # fmt: skip
    ax.set_xticks(ticks, labels=labels)
    ax.set_xlim(-0.6, len(days) - 0.4)


def _empty(ax: Any, message: str) -> None:
    ax.annotate(message, (0.5, 0.5), xycoords="axes fraction", ha="center", va="center", color=GREY)
    ax.set_axis_off()


def _shorten(label: str, width: int = 40) -> str:
    return label if len(label) <= width else label[: width - 1] + "…"
