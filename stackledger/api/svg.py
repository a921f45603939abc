"""Charts for the web page as inline SVG, drawn on the server: no script, nothing fetched.

The same palette and meaning as the PDF's matplotlib charts (`reports.charts`): daily cost
stacked by service group, the budget burn-down with its forecast (dashed) and an even spend
of the budget (dotted). Every text is escaped; the numbers are the report's own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Final

from markupsafe import Markup, escape

from stackledger.reports.budget import BurnDown
from stackledger.reports.charts import BOOK_COLOURS, GROUP_COLOURS, OKABE_ITO
from stackledger.reports.formatting import book_title, money

INK: Final = "#1f3b5c"
GRID: Final = "#e2e2e2"
GREY: Final = "#999999"


class Frame:
    """A plot area: data coordinates → SVG pixels."""

    def __init__(self, width: int, height: int, count: int, low: float, high: float, margin: tuple[int, ...]) -> None:
        self.width, self.height = width, height
        self.left, self.right, self.top, self.bottom = margin
        self.count = max(count, 1)
        self.low, self.high = low, high if high > low else low + 1

    def x(self, index: float) -> float:
        span = self.width - self.left - self.right
        return round(self.left + span * (index + 0.5) / self.count, 2)

    def y(self, value: float) -> float:
        span = self.height - self.top - self.bottom
        return round(self.top + span * (1 - (value - self.low) / (self.high - self.low)), 2)

    @property
    def step(self) -> float:
        return (self.width - self.left - self.right) / self.count


def daily_chart(
    days: Sequence[dt.date],
    groups: Mapping[str, Sequence[Decimal]],
    currency: str,
    *,
    width: int = 720,
    height: int = 220,
) -> Markup:
    """Internal cost per day, stacked by service group."""
    totals = [float(sum((values[i] for values in groups.values()), Decimal(0))) for i in range(len(days))]
    frame = Frame(width, height, len(days), 0.0, max(totals, default=0.0) * 1.08, (64, 10, 10, 34))
    parts = _axes(frame, currency)
    base = [0.0] * len(days)
    for group, values in groups.items():
        colour = GROUP_COLOURS.get(group, GREY)
        for i, value in enumerate(values):
            if value <= 0:
                continue
            top = base[i] + float(value)
            x = frame.x(i) - frame.step * 0.38
            parts.append(
                f'<rect x="{x:.2f}" y="{frame.y(top)}" width="{frame.step * 0.76:.2f}" '
                f'height="{frame.y(base[i]) - frame.y(top):.2f}" fill="{colour}">'
                f"<title>{escape(group)} {days[i].isoformat()}: {money(value)} {escape(currency)}</title></rect>"
            )
            base[i] = top
    parts += _day_labels(frame, days)
    parts.append(_legend([(group, GROUP_COLOURS.get(group, GREY), "") for group in groups], frame))
    return _svg(width, height, "Daily internal cost by service group", parts)


def burn_down_chart(burn: BurnDown, *, width: int = 720, height: int = 220, compact: bool = False) -> Markup:
    """Budget left at the end of each day, the forecast to the period's end, and an even spend."""
    values = [float(v) for v in (*burn.remaining, *burn.forecast) if v is not None] + [float(burn.budget), 0.0]
    margin = (2, 2, 2, 2) if compact else (64, 10, 10, 34)
    frame = Frame(width, height, len(burn.days), min(values), max(values) * 1.05, margin)
    parts = [] if compact else _axes(frame, burn.currency)
    parts.append(
        f'<line x1="{frame.x(-0.5)}" y1="{frame.y(float(burn.budget))}" x2="{frame.x(len(burn.days) - 0.5)}" '
        f'y2="{frame.y(0)}" stroke="{GREY}" stroke-width="1" stroke-dasharray="1.5 3"/>'
    )
    parts.append(_polyline(frame, burn.remaining, OKABE_ITO["blue"], "2", ""))
    parts.append(_polyline(frame, burn.forecast, OKABE_ITO["vermillion"], "1.8", "5 3"))
    if frame.low < 0:
        parts.append(
            f'<line x1="{frame.left}" x2="{width - frame.right}" y1="{frame.y(0)}" y2="{frame.y(0)}" '
            f'stroke="{INK}" stroke-width="0.8"/>'
        )
    if not compact:
        parts += _day_labels(frame, burn.days)
        parts.append(
            _legend(
                [
                    ("budget left", OKABE_ITO["blue"], ""),
                    ("forecast", OKABE_ITO["vermillion"], "5 3"),
                    ("even spend", GREY, "1.5 3"),
                ],
                frame,
            )
        )
    return _svg(width, height, f"Budget burn-down: {money(burn.budget)} {burn.currency}", parts)


def book_bars(totals: Sequence[tuple[str, Decimal]], currency: str, *, width: int = 520, height: int = 150) -> Markup:
    """Internal vs the public baselines: one horizontal bar per price book."""
    high = max((float(v) for _, v in totals), default=0.0) * 1.25 or 1.0
    parts, row = [], (height - 10) / max(len(totals), 1)
    for i, (book, value) in enumerate(totals):
        y = 5 + i * row
        length = (width - 150) * float(value) / high
        colour = BOOK_COLOURS.get(book, GREY)
        parts.append(
            f'<text x="0" y="{y + row * 0.6:.1f}" class="label">{escape(book_title(book))}</text>'
            f'<rect x="110" y="{y + row * 0.15:.1f}" width="{max(length, 0):.1f}" height="{row * 0.7:.1f}" '
            f'fill="{colour}"/><text x="{114 + max(length, 0):.1f}" y="{y + row * 0.6:.1f}" class="label">'
            f"{money(value)} {escape(currency)}</text>"
        )
    return _svg(width, height, "Internal cost against the public list prices", parts)


def _axes(frame: Frame, currency: str) -> list[str]:
    parts = []
    for k in range(5):
        value = frame.low + (frame.high - frame.low) * k / 4
        y = frame.y(value)
        parts.append(
            f'<line x1="{frame.left}" x2="{frame.width - frame.right}" y1="{y}" y2="{y}" stroke="{GRID}"/>'
            f'<text x="{frame.left - 6}" y="{y + 3}" text-anchor="end" class="tick">{money(Decimal(str(value)))}'
            "</text>"
        )
    parts.append(f'<text x="4" y="{frame.top + 8}" class="tick">{escape(currency)}</text>')
    return parts


def _day_labels(frame: Frame, days: Sequence[dt.date]) -> list[str]:
    every = max(1, len(days) // 8)
    return [
        f'<text x="{frame.x(i)}" y="{frame.height - frame.bottom + 14}" text-anchor="middle" class="tick">'
        f"{day.day}</text>"
        for i, day in enumerate(days)
        if i % every == 0 or i == len(days) - 1
    ]


def _legend(items: list[tuple[str, str, str]], frame: Frame) -> str:
    out, x = [], frame.left
    for label, colour, dash in items:
        y = frame.height - 6
        out.append(
            f'<line x1="{x}" x2="{x + 16}" y1="{y - 3}" y2="{y - 3}" stroke="{colour}" stroke-width="4" '
            f'stroke-dasharray="{dash}"/><text x="{x + 20}" y="{y}" class="tick">{escape(label)}</text>'
        )
        x += 30 + 7 * len(label)
    return "".join(out)


def _polyline(frame: Frame, values: Sequence[Decimal | None], colour: str, stroke: str, dash: str) -> str:
    points = " ".join(f"{frame.x(i)},{frame.y(float(v))}" for i, v in enumerate(values) if v is not None)
    if not points:
        return ""
    dashes = f' stroke-dasharray="{dash}"' if dash else ""
    return f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="{stroke}"{dashes}/>'


def _svg(width: int, height: int, title: str, parts: list[str]) -> Markup:
    body = "".join(parts)
    # Every text in `parts` went through escape(); numbers and colours are ours.
    html = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
        f'role="img" aria-label="{escape(title)}" class="chart"><title>{escape(title)}</title>{body}</svg>'
    )
    return Markup(html)  # noqa: S704
