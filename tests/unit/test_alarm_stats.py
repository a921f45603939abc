"""Month-end forecasts, robust anomaly statistics and cron time constraints, on tiny inline data."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from stackledger.alarms.schedule import Cron, TimeWindow, parse_duration
from stackledger.alarms.stats import MICRO, forecast_month_end, is_anomalous, robust_score


def month(values: list[float | None], days_in_month: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Daily cost in currency units (None = not rated) → micro-units and the rated mask."""
    daily = np.array([0 if v is None else round(v * MICRO) for v in values], dtype=np.int64)
    rated = np.array([v is not None for v in values])
    return daily, rated


def forecast(values: list[float | None], complete: int, method: str = "trailing_mean", **kw: int) -> float | None:
    daily, rated = month(values)
    options = {"window_days": 7, "min_days": 3} | kw
    found = forecast_month_end(daily, rated, month_start=0, complete_end=complete, days_in_month=30, method=method,
                               **options)  # fmt: skip
    return None if found is None else found.value / MICRO


def test_trailing_mean_times_days_left() -> None:
    # 10 complete days at 10/day, then 20/day for the last 3: mean of last 7 = (4×10 + 3×20)/7
    values = [10.0] * 7 + [20.0] * 3
    assert forecast(values, 10) == pytest.approx(130 + 20 * (40 + 60) / 7)


def test_partial_today_counts_in_actual_not_in_the_rate() -> None:
    values: list[float | None] = [10.0] * 10 + [3.0]  # day 11 is today, partly rated
    assert forecast(values, 10) == pytest.approx(100 + 20 * 10)


def test_forecast_never_below_actual() -> None:
    values: list[float | None] = [1.0] * 10 + [500.0]  # a huge partial today
    assert forecast(values, 10) == pytest.approx(510)


def test_unrated_days_are_unknown_not_zero() -> None:
    values: list[float | None] = [10.0, None, None, None, None, 10.0, 10.0, 10.0]
    assert forecast(values, 8) == pytest.approx(40 + 22 * 10)
    assert forecast([10.0, 10.0, None, None, None, None], 6) is None  # 2 rated days < min_days 3


def test_linear_follows_a_ramp() -> None:
    values = [float(d) for d in range(1, 11)]  # 1, 2, …, 10: the line predicts 11 … 30
    assert forecast(values, 10, "linear") == pytest.approx(55 + sum(range(11, 31)))
    assert forecast(values, 10) == pytest.approx(55 + 20 * 7)  # the mean lags behind


def test_linear_predictions_floor_at_zero() -> None:
    values = [float(v) for v in (70, 60, 50, 40, 30, 20, 10)]
    assert forecast(values, 7, "linear") == pytest.approx(280)


def test_whole_month_forecast_is_actual() -> None:
    assert forecast([1.0] * 30, 30) == pytest.approx(30)


ANOMALY = [
    # value, history, min_impact, z threshold, anomalous
    (100.0, [10, 11, 9, 10, 12, 10, 9], 20, 3.5, True),
    (13.0, [10, 11, 9, 10, 12, 10, 9], 0, 3.5, False),  # z = 0.6745 × 3 / 1 ≈ 2.0
    (100.0, [10, 11, 9, 10, 12, 10, 9], 200, 3.5, False),  # big z, impact below the minimum
    (15.0, [10] * 7, 1, 3.5, True),  # MAD 0: any rise of at least min_impact
    (10.0, [10] * 7, 0, 3.5, False),  # no rise at all
    (1.0, [10, 11, 9, 10, 12, 10, 9], 0, 3.5, False),  # a drop is never an anomaly
    (40.0, [10, 11, 9, 10, 12, 10, 500], 5, 3.5, True),  # one outlier in the history does not mask it
]


@pytest.mark.parametrize(("value", "history", "min_impact", "z", "expected"), ANOMALY)
def test_anomaly(value: float, history: list[float], min_impact: float, z: float, expected: bool) -> None:
    score = robust_score(value, np.array(history, dtype=float))
    assert is_anomalous(score, min_impact=min_impact, z_threshold=z) is expected


def test_robust_score_values() -> None:
    score = robust_score(20.0, np.array([10, 11, 9, 10, 12, 10, 9], dtype=float))
    assert (score.median, score.mad, score.impact) == (10.0, 1.0, 10.0)
    assert score.z == pytest.approx(6.745)


BERLIN = ZoneInfo("Europe/Berlin")
WINDOWS = [
    # cron, duration, instant (UTC), inside
    ("0 8 * * mon-fri", "10h", dt.datetime(2026, 10, 5, 6, 0), True),  # Monday 08:00 Berlin (UTC+2)
    ("0 8 * * mon-fri", "10h", dt.datetime(2026, 10, 5, 5, 59), False),
    ("0 8 * * mon-fri", "10h", dt.datetime(2026, 10, 5, 16, 0), True),  # start + duration, inclusive
    ("0 8 * * mon-fri", "10h", dt.datetime(2026, 10, 5, 16, 1), False),
    ("0 8 * * mon-fri", "10h", dt.datetime(2026, 10, 4, 10, 0), False),  # Sunday
    ("0 8 * * mon-fri", "10h", dt.datetime(2026, 11, 2, 7, 30), True),  # after DST ends: UTC+1
    ("0 22 * * *", "4h", dt.datetime(2026, 10, 5, 23, 30), True),  # a window across midnight
    ("*/15 * * * *", 60, dt.datetime(2026, 10, 6, 0, 15, 30), True),  # Aodh's exact-minute match
    ("*/15 * * * *", 60, dt.datetime(2026, 10, 6, 0, 16, 30), False),
    ("0 0 1 * *", "1d", dt.datetime(2026, 10, 1, 12, 0), True),  # day of month
    ("0 0 13 * fri", "1d", dt.datetime(2026, 10, 9, 12, 0), True),  # Vixie: dom OR dow when both set
]


@pytest.mark.parametrize(("cron", "duration", "at", "inside"), WINDOWS)
def test_time_windows(cron: str, duration: int | str, at: dt.datetime, inside: bool) -> None:
    assert TimeWindow("w", Cron.parse(cron), parse_duration(duration), BERLIN).contains(at) is inside


@pytest.mark.parametrize(("text", "message"), [
    ("* * * *", "needs 5 fields"), ("61 * * * *", "minute"), ("* * * * 8", "day of week"),
    ("*/0 * * * *", "step"), ("x * * * *", "not a number"),
])  # fmt: skip
def test_bad_cron(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Cron.parse(text)


def test_durations() -> None:
    assert parse_duration("1h30m") == dt.timedelta(minutes=90)
    assert parse_duration(3600) == dt.timedelta(hours=1)
    with pytest.raises(ValueError):
        parse_duration("soon")
