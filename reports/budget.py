"""Budgets: month-to-date spend against each project's budget, the month-end forecast while
the month is still running, and the burn-down series the project report charts.

The forecast itself is a `Forecaster` the caller hands in (the pipeline passes the alarm
engine's, so a budget alarm and the report agree on the same number); without one, no
forecast is shown. It learns from a `DailyHistory` that, like the alarm engine's trailing
window, reaches back before the month: on the 3rd, a 7-day window holds 2 days of this month
and 5 of the last. All amounts are exact `Decimal`s in the budget's currency; spend in another
currency is not converted (the status says so).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from stackledger.reports.data import ZERO
from stackledger.reports.facts import DayCost, ProjectInfo
from stackledger.window import Window

NEAR: Final = Decimal(80)  # percent used from which a budget is "nearly used"
PERCENT: Final = Decimal("0.1")

OVER: Final = "over budget"
FORECAST_OVER: Final = "forecast over"
NEARLY: Final = "nearly used"
ON_TRACK: Final = "on track"
NOT_COMPARABLE: Final = "not comparable"


@dataclass(frozen=True)
class DailyHistory:
    """What a forecast learns from: the internal cost of each day from the trailing days before
    the month (the first `month_start`) through the month's last complete day, in order, and
    whether each day was rated at all (a day without any cost line is unknown, not zero)."""

    costs: tuple[Decimal, ...]
    rated: tuple[bool, ...]
    month_start: int  # index of the month's first day in `costs`

    @property
    def days_done(self) -> int:
        return len(self.costs) - self.month_start


# (the history; days in the month) → month-end total, or None when there are too few days to say.
Forecaster = Callable[[DailyHistory, int], Decimal | None]


@dataclass(frozen=True)
class BudgetStatus:
    amount: Decimal
    currency: str
    period: str
    spent: Decimal | None  # None: the spend is in another currency or the budget is not monthly
    forecast: Decimal | None  # month-end forecast; None when the month is complete or too young
    note: str = ""  # why the budget could not be compared

    @property
    def used_percent(self) -> Decimal | None:
        return _percent(self.spent, self.amount)

    @property
    def forecast_percent(self) -> Decimal | None:
        return _percent(self.forecast, self.amount)

    @property
    def remaining(self) -> Decimal | None:
        return None if self.spent is None else self.amount - self.spent

    @property
    def status(self) -> str:
        if self.spent is None:
            return NOT_COMPARABLE
        if self.spent > self.amount:
            return OVER
        if self.forecast is not None and self.forecast > self.amount:
            return FORECAST_OVER
        used = self.used_percent
        return NEARLY if used is not None and used >= NEAR else ON_TRACK


@dataclass(frozen=True)
class BurnDown:
    """Budget left at the end of each day of the window; the forecast continues the line."""

    days: tuple[dt.date, ...]
    remaining: tuple[Decimal | None, ...]  # None after the last rated day
    forecast: tuple[Decimal | None, ...]  # from the last rated day to the window's end; None before
    budget: Decimal
    currency: str


def day_axis(window: Window) -> tuple[dt.date, ...]:
    return tuple(day.start.date() for day in window.days())


def daily_costs(days: Sequence[DayCost], axis: Sequence[dt.date], currency: str) -> list[Decimal]:
    """The internal cost of each day of `axis` in `currency` (all services)."""
    index = {day: i for i, day in enumerate(axis)}
    out = [ZERO] * len(axis)
    for item in days:
        if item.currency == currency and item.day in index:
            out[index[item.day]] += item.cost
    return out


def complete_days(window: Window, rated_through: dt.datetime | None) -> int:
    """Whole days of the window rated so far."""
    if rated_through is None:
        return 0
    through = min(rated_through, window.end)
    return sum(1 for day in window.days() if day.end <= through)


def budget_status(
    info: ProjectInfo | None, spent: dict[str, Decimal], daily: Sequence[Decimal], days_done: int,
    days_total: int, forecaster: Forecaster | None, *, lead: Sequence[Decimal] = (),
    rated: Sequence[bool] | None = None,
) -> BudgetStatus | None:  # fmt: skip
    """`spent`: the window's internal cost per currency; `daily`: per day in the budget's
    currency; `lead`: the same for the days before the window the forecast may learn from;
    `rated`: whether each day of `lead` then `daily` was rated (default: all were)."""
    if info is None or info.budget_amount is None:
        return None
    amount, currency, period = info.budget_amount, info.budget_currency, info.budget_period or "month"
    if period != "month":
        return BudgetStatus(amount, currency, period, None, None, f"a budget per {period}")
    if any(cur != currency for cur in spent):
        others = ", ".join(sorted(cur for cur in spent if cur != currency))
        return BudgetStatus(amount, currency, period, None, None, f"spend in {others}")
    actual = spent.get(currency, ZERO)
    forecast = None
    if forecaster is not None and days_done < days_total:
        costs = (*lead, *daily[:days_done])
        known = tuple(rated[: len(costs)]) if rated is not None else (True,) * len(costs)
        forecast = forecaster(DailyHistory(costs, known, len(lead)), days_total)
        forecast = None if forecast is None else max(forecast, actual)
    return BudgetStatus(amount, currency, period, actual, forecast)


def burn_down(status: BudgetStatus, axis: Sequence[dt.date], daily: Sequence[Decimal], days_done: int) -> BurnDown:
    remaining: list[Decimal | None] = []
    left = status.amount
    for i, cost in enumerate(daily):
        left -= cost
        remaining.append(left if i < days_done else None)
    forecast: list[Decimal | None] = [None] * len(axis)
    if status.forecast is not None and 0 < days_done < len(axis):
        start = status.amount - sum(daily[:days_done], ZERO)
        end = status.amount - status.forecast
        steps = len(axis) - days_done
        for k in range(steps + 1):  # a straight line from the last rated day to the month's end
            forecast[days_done - 1 + k] = start + (end - start) * Decimal(k) / Decimal(steps)
    return BurnDown(tuple(axis), tuple(remaining), tuple(forecast), status.amount, status.currency)


def _percent(part: Decimal | None, whole: Decimal) -> Decimal | None:
    if part is None or whole <= 0:
        return None
    return (part / whole * 100).quantize(PERCENT)
