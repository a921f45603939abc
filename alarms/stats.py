"""Month-end forecasts and robust anomaly statistics over daily cost. Pure numpy, no I/O.

Costs are integer micro-units (1 EUR = 1_000_000) so month-to-date sums are exact; forecasts
and statistics are floats in the same unit.

Month-end forecast (budgets with `basis: forecast`), evaluated at instant `at`:

    forecast = max(actual, actual_complete + projected)

- `actual` is the cost of every day of the month that started before `at` (today's partial
  line included when rating has written one); `actual_complete` the days that ended by `at`.
- `projected` covers the days left in the month (today included unless `at` is midnight),
  learnt from the `window_days` complete days before `at` (default 7; the window may reach
  into the previous month). Only rated days count: a day with no cost line at all in the price
  book is unknown, not zero. Fewer than `min_days` rated days → no forecast (insufficient_data).
  - `trailing_mean` (default): mean daily cost of those days × days left.
  - `linear`: least-squares line through those days' costs, summed over the days left, each
    day's prediction floored at 0 — it follows a steady ramp-up that a mean lags behind.
- The max() keeps a forecast from being below what was already spent.

Anomaly (cost_anomaly): a day's cost x against the rated days of the `window_days` before it:
median m, MAD = median(|h - m|), robust z = 0.6745 (x - m) / MAD (Iglewicz and Hoaglin). The
day breaches when x - m ≥ min_impact and z ≥ z_threshold (with MAD = 0, any rise of at least
min_impact breaches). Only increases alarm: a cost drop is good news.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MICRO = 1_000_000
_Z_SCALE = 0.6745  # makes the MAD consistent with a standard deviation for normal data


@dataclass(frozen=True)
class Forecast:
    value: float  # micro-units, month-end total
    method: str
    window_days: int
    days_used: int  # rated days the projection learnt from
    days_left: int
    daily_rate: float  # micro-units per day (trailing mean, or the line's value on the first day left)


def forecast_month_end(
    daily: np.ndarray,
    rated: np.ndarray,
    *,
    month_start: int,
    complete_end: int,
    days_in_month: int,
    method: str,
    window_days: int,
    min_days: int,
) -> Forecast | None:
    """`daily`/`rated` over the snapshot's day axis; indices are positions on it.

    `complete_end` is the index of the first day not complete at `at`; the days left are
    `days_in_month - (complete_end - month_start)`.
    """
    in_month = slice(month_start, min(month_start + days_in_month, len(daily)))
    actual = float(daily[in_month].sum())
    days_left = max(days_in_month - (complete_end - month_start), 0)
    if days_left == 0:
        return Forecast(actual, method, window_days, 0, 0, 0.0)
    first = max(complete_end - window_days, 0)
    mask = rated[first:complete_end]
    used = int(mask.sum())
    if used < min_days:
        return None
    actual_complete = float(daily[month_start:complete_end].sum())
    values = daily[first:complete_end][mask].astype(float)
    if method == "linear":
        x = np.arange(first, complete_end)[mask].astype(float)
        slope, intercept = np.polyfit(x, values, 1) if used >= 2 else (0.0, values.mean())
        ahead = np.arange(complete_end, complete_end + days_left, dtype=float)
        predicted = np.maximum(slope * ahead + intercept, 0.0)
        projected, rate = float(predicted.sum()), float(predicted[0])
    else:
        rate = float(values.mean())
        projected = rate * days_left
    return Forecast(max(actual, actual_complete + projected), method, window_days, used, days_left, rate)


@dataclass(frozen=True)
class Robust:
    median: float
    mad: float
    z: float  # inf when MAD is 0 and the value is above the median
    impact: float  # value - median


def robust_score(value: float, history: Sequence[float]) -> Robust:
    """`history` is a few dozen values at most: sorting a list beats numpy's median at this size."""
    median = float(_median(history))
    mad = float(_median([abs(h - median) for h in history]))
    impact = value - median
    z = _Z_SCALE * impact / mad if mad > 0 else math.copysign(math.inf, impact) if impact else 0.0
    return Robust(median, mad, z, impact)


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def is_anomalous(score: Robust, *, min_impact: float, z_threshold: float) -> bool:
    return bool(score.impact > 0 and score.impact >= min_impact and score.z >= z_threshold)
