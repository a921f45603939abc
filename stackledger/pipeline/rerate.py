"""Marking rated days for re-rating (`rerate_days`, DESIGN §4), shared by every write that can
change the usage of a day already priced: late samples (`sample_store`), a re-collect whose usage
rows differ (`collect`) and inventory whose revisions differ (`inventory`).

A day is "rated" when it has cost lines (any price book). `mark_rerate` marks, inside the
caller's transaction, those of the given days that are rated; `stackledger rate --pending`
(`pipeline.rate.rate_pending`, the daily DAG) recomputes their usage and prices them again.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Iterable
from typing import Any

from stackledger.store import Connection, Store, costs
from stackledger.store.frames import naive_utc
from stackledger.window import utcnow

log = logging.getLogger(__name__)


def mark_rerate(
    store: Store | None,
    conn: Connection,
    days: Iterable[dt.date],
    *,
    now: dt.datetime | None = None,
    marked: set[dt.date] | None = None,
    why: str = "",
) -> set[dt.date]:
    """Mark those of `days` that have cost lines in `rerate_days` (and add them to `marked`, when
    given); returns them. A day marked already keeps its mark, moved to `now` (`store` is not
    needed: the caller's transaction is)."""
    wanted = set(days)
    if not wanted:
        return set()
    rated = costs.days_rated(conn, wanted)
    if rated:
        costs.mark_rerate_days(conn, rated, now=now if now is not None else utcnow())
        log.info("%smarked %d rated day(s) for re-rating: %s", f"{why}: " if why else "", len(rated),
                 ", ".join(map(str, sorted(rated))))  # fmt: skip
        if marked is not None:
            marked.update(rated)
    return rated


def comparable(value: Any) -> Any:
    """A stored or collected value as compared for "did it change": floats rounded (a database
    round trip may differ in the last bits), NaN as None, datetimes naive UTC."""
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 9)
    if isinstance(value, dt.datetime):
        return naive_utc(value)
    return value


__all__ = ["comparable", "mark_rerate"]
