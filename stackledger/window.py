"""Time windows: half-open [start, end) intervals in naive UTC."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from stackledger.errors import ConfigError

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True, order=True)
class Window:
    start: dt.datetime
    end: dt.datetime

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if value.tzinfo is not None:  # store naive UTC everywhere
                object.__setattr__(self, name, value.astimezone(dt.UTC).replace(tzinfo=None))
        if self.end <= self.start:
            raise ConfigError(f"window end {self.end} is not after start {self.start}")

    @classmethod
    def month(cls, text: str) -> Window:
        """`YYYY-MM` → the whole calendar month."""
        match = _MONTH.match(text)
        if not match or not 1 <= int(match.group(2)) <= 12:
            raise ConfigError(f"month {text!r} is not of the form YYYY-MM", key="--month")
        year, month = int(match.group(1)), int(match.group(2))
        start = dt.datetime(year, month, 1)
        end = dt.datetime(year + month // 12, month % 12 + 1, 1)
        return cls(start, end)

    @classmethod
    def parse(cls, start: str, end: str) -> Window:
        return cls(parse_instant(start, "--start"), parse_instant(end, "--end"))

    @property
    def label(self) -> str:
        month = self.start.strftime("%Y-%m")
        if self == Window.month(month):
            return month
        return f"{self.start.isoformat()}/{self.end.isoformat()}"

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600

    def days(self) -> Iterator[Window]:
        """The calendar days the window touches, each clipped to the window."""
        day = dt.datetime.combine(self.start.date(), dt.time())
        while day < self.end:
            nxt = day + dt.timedelta(days=1)
            yield Window(max(day, self.start), min(nxt, self.end))
            day = nxt

    def previous_month(self) -> Window:
        first = dt.datetime(self.start.year, self.start.month, 1)
        return Window.month((first - dt.timedelta(days=1)).strftime("%Y-%m"))


def parse_instant(text: str, key: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{text!r} is not an ISO 8601 date or time", key=key) from None
    return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value


def utcnow() -> dt.datetime:
    """Now, as naive UTC: the one clock of the spine (pure stages take `now` as an argument)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def merge_periods(starts: Iterable[dt.datetime], step: dt.timedelta) -> list[Window]:
    """Periods of length `step` starting at `starts` (any order, repeats allowed), merged where
    they touch: hours [01:00, 02:00, 05:00] → [01:00, 03:00), [05:00, 06:00)."""
    spans: list[Window] = []
    for start in sorted(set(starts)):
        if spans and spans[-1].end == start:
            spans[-1] = Window(spans[-1].start, start + step)
        else:
            spans.append(Window(start, start + step))
    return spans
