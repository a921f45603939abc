from __future__ import annotations

import datetime as dt

import pytest

from stackledger.errors import ConfigError
from stackledger.window import Window, merge_periods, parse_instant, utcnow


def test_month_is_half_open_and_handles_december() -> None:
    december = Window.month("2026-12")
    assert december.start == dt.datetime(2026, 12, 1)
    assert december.end == dt.datetime(2027, 1, 1)
    assert december.hours == 744
    assert december.label == "2026-12"


@pytest.mark.parametrize("text", ["2026-13", "2026-1", "26-01", "october"])
def test_bad_month_names_the_flag(text: str) -> None:
    with pytest.raises(ConfigError, match="--month"):
        Window.month(text)


def test_days_are_clipped_to_the_window() -> None:
    window = Window(dt.datetime(2026, 10, 1, 18), dt.datetime(2026, 10, 3, 6))
    days = list(window.days())
    assert [d.hours for d in days] == [6, 24, 6]
    assert window.label == "2026-10-01T18:00:00/2026-10-03T06:00:00"


def test_aware_instants_become_naive_utc() -> None:
    assert parse_instant("2026-10-01T02:00:00+02:00", "--start") == dt.datetime(2026, 10, 1, 0, 0)
    window = Window(dt.datetime(2026, 10, 1, tzinfo=dt.UTC), dt.datetime(2026, 10, 2, tzinfo=dt.UTC))
    assert window.start.tzinfo is None


def test_empty_or_reversed_window_is_an_error() -> None:
    with pytest.raises(ConfigError, match="not after start"):
        Window.parse("2026-10-02", "2026-10-01")
    with pytest.raises(ConfigError, match="ISO 8601"):
        parse_instant("yesterday", "--end")


def test_previous_month_across_new_year() -> None:
    assert Window.month("2027-01").previous_month() == Window.month("2026-12")


def test_merge_periods_joins_touching_periods_in_any_order() -> None:
    hour = dt.timedelta(hours=1)
    t = dt.datetime(2026, 10, 1)
    spans = merge_periods([t + 5 * hour, t + hour, t + 2 * hour, t + hour], hour)
    assert spans == [Window(t + hour, t + 3 * hour), Window(t + 5 * hour, t + 6 * hour)]
    assert merge_periods([], hour) == []


def test_utcnow_is_naive_and_close_to_the_clock() -> None:
    now = utcnow()
    assert now.tzinfo is None
    assert abs(dt.datetime.now(dt.UTC).replace(tzinfo=None) - now) < dt.timedelta(seconds=5)
