"""Time constraints: Aodh's cron windows, without a cron library.

A constraint is a 5-field cron expression `start` (minute hour day-of-month month day-of-week,
Vixie semantics: `*`, `a-b`, `*/n`, `a-b/n`, lists, `jan`…`dec`, `sun`…`sat`, 0 and 7 are
Sunday; when both day fields are restricted a day matching either one matches), a `duration`
and a `timezone`. As in Aodh's `within_time_constraint`, an instant is inside when some start
at or before it (to the minute) is no more than `duration` earlier: start <= now <= start +
duration. A rule with no constraints is always inside; with several, inside any one.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_NAMES = {3: {n: i for i, n in enumerate(_MONTHS, 1)}, 4: {n: i for i, n in enumerate(_WEEKDAYS)}}
_BOUNDS = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]
_FIELD_NAMES = ["minute", "hour", "day of month", "month", "day of week"]
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool  # day-of-month was '*'
    any_weekday: bool  # day-of-week was '*'

    @classmethod
    def parse(cls, text: str) -> Cron:
        """ValueError names the field that is wrong."""
        fields = text.split()
        if len(fields) != 5:
            raise ValueError(f"cron {text!r} needs 5 fields (minute hour day month weekday), got {len(fields)}")
        sets = [_parse_field(raw, index) for index, raw in enumerate(fields)]
        weekdays = frozenset(d % 7 for d in sets[4])
        return cls(sets[0], sets[1], sets[2], sets[3], weekdays, fields[2] == "*", fields[4] == "*")

    def day_matches(self, day: dt.date) -> bool:
        if day.month not in self.months:
            return False
        dom = day.day in self.days
        dow = (day.weekday() + 1) % 7 in self.weekdays
        if self.any_day or self.any_weekday:
            return dom and dow
        return dom or dow

    def latest_start(self, now: dt.datetime, earliest: dt.datetime) -> dt.datetime | None:
        """The latest matching minute in [earliest, now] (aware datetimes in one zone), or None."""
        zone = now.tzinfo
        day = now.date()
        while day >= earliest.date():
            if self.day_matches(day):
                for hour in sorted(self.hours, reverse=True):
                    for minute in sorted(self.minutes, reverse=True):
                        start = dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
                        if start <= now:
                            return start if start >= earliest else None
            day -= dt.timedelta(days=1)
        return None


def _parse_field(raw: str, index: int) -> frozenset[int]:
    low, high = _BOUNDS[index]
    values: set[int] = set()
    for part in raw.lower().split(","):
        base, _, step_text = part.partition("/")
        step = _number(step_text, index) if step_text else 1
        if step < 1:
            raise ValueError(f"{_FIELD_NAMES[index]} step {step_text!r} must be at least 1")
        if base == "*":
            first, last = low, high
        elif "-" in base:
            a, b = base.split("-", 1)
            first, last = _number(a, index), _number(b, index)
        else:
            first = _number(base, index)
            last = high if step_text else first
        if not low <= first <= last <= high:
            raise ValueError(f"{_FIELD_NAMES[index]} {part!r} is outside {low}-{high}")
        values.update(range(first, last + 1, step))
    return frozenset(values)


def _number(text: str, index: int) -> int:
    named = _NAMES.get(index, {}).get(text)
    if named is not None:
        return named
    if not text.isdigit():
        raise ValueError(f"{_FIELD_NAMES[index]} {text!r} is not a number")
    return int(text)


def parse_duration(value: int | str) -> dt.timedelta:
    """Seconds as an int (Aodh's form) or a string like '8h', '1h30m', '2d', '90s'."""
    if isinstance(value, int):
        seconds = value
    else:
        match = _DURATION.match(value.strip())
        if not value.strip() or not match:
            raise ValueError(f"duration {value!r} is not seconds or like '8h', '1h30m', '2d'")
        d, h, m, s = (int(g or 0) for g in match.groups())
        seconds = ((d * 24 + h) * 60 + m) * 60 + s
    if seconds <= 0:
        raise ValueError("duration must be positive")
    return dt.timedelta(seconds=seconds)


@dataclass(frozen=True)
class TimeWindow:
    """One parsed constraint: inside from each cron start for `duration`, in `timezone`."""

    name: str
    cron: Cron
    duration: dt.timedelta
    zone: ZoneInfo

    def contains(self, at: dt.datetime) -> bool:
        """`at` is naive UTC. Starts are minute-precise, so a start in the current minute counts
        (Aodh's exact match); the latest start must be no more than `duration` ago."""
        now = at.replace(tzinfo=dt.UTC).astimezone(self.zone)
        latest = self.cron.latest_start(now.replace(second=0, microsecond=0), now - self.duration)
        return latest is not None


def within(windows: tuple[TimeWindow, ...], at: dt.datetime) -> bool:
    return not windows or any(window.contains(at) for window in windows)
