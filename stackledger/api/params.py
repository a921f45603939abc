"""Query parameters shared by the API's routes: the period asked for and comma-separated lists.

A bad value is a 400 that names the parameter and what was expected.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from fastapi import HTTPException

from stackledger.api.figures import Figures
from stackledger.errors import ConfigError
from stackledger.window import Window


def month_window(month: str | None, figures: Figures) -> Window:
    """`YYYY-MM`, or the latest month the store has cost lines in."""
    label = month or figures.default_month()
    try:
        return Window.month(label)
    except ConfigError:
        raise HTTPException(400, f"month: {label!r} is not of the form YYYY-MM") from None


def period(month: str | None, begin: str | None, end: str | None, figures: Figures) -> Window:
    """`month`, or `begin`/`end` (ISO 8601 dates or instants, UTC; end exclusive)."""
    if begin is None and end is None:
        return month_window(month, figures)
    if month is not None:
        raise HTTPException(400, "give either month or begin/end, not both")
    if begin is None or end is None:
        raise HTTPException(400, "begin and end go together")
    start, stop = instant(begin, "begin"), instant(end, "end")
    if stop <= start:
        raise HTTPException(400, f"end {end!r} is not after begin {begin!r}")
    return Window(start, stop)


def instant(text: str, name: str) -> dt.datetime:
    """ISO 8601 (a `Z` or offset, or naive UTC); a space for the `T` is accepted, as Python's
    `str(datetime)` writes it (python-cloudkittyclient sends that)."""
    try:
        value = dt.datetime.fromisoformat(text.strip().replace(" ", "T", 1).replace("Z", "+00:00"))
    except ValueError:
        raise HTTPException(400, f"{name}: {text!r} is not an ISO 8601 date or time") from None
    return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value


def csv_list(values: Iterable[str] | None) -> list[str]:
    """`?a=x,y&a=z` → [x, y, z] (empty items dropped, order kept, repeats removed)."""
    items = [item.strip() for value in values or () for item in value.split(",")]
    return list(dict.fromkeys(item for item in items if item))


def choices(values: list[str], allowed: Iterable[str], name: str) -> list[str]:
    valid = list(allowed)
    unknown = [value for value in values if value not in valid]
    if unknown:
        raise HTTPException(400, f"{name}: unknown {', '.join(map(repr, unknown))}; valid: {', '.join(valid)}")
    return values
