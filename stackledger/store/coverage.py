"""What the store holds for a window: how many samples, usage rows and cost lines (counts only).

`stackledger.pipeline.coverage` turns these into the "nothing here" warnings of `rate`,
`compare` and `report`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from stackledger.schema import INTERNAL_BOOK
from stackledger.store import Store, tables
from stackledger.store.sample_days import count_samples
from stackledger.window import Window


@dataclass(frozen=True)
class WindowCounts:
    samples: int  # raw samples whose timestamp is in the window
    usage_rows: int  # hourly usage rows of one usage source starting in the window
    cost_lines: int  # cost lines of the internal price book starting in the window


def window_counts(store: Store, window: Window, *, usage_source: str) -> WindowCounts:
    """Counts of the window's samples, `usage_source` usage rows and internal cost lines."""
    usage, lines = tables.usage.c, tables.cost_lines.c
    queries = (
        select(func.count()).where(usage.source == usage_source, usage.charge_period_start >= window.start,
                                   usage.charge_period_start < window.end),
        select(func.count()).where(lines.price_book == INTERNAL_BOOK, lines.charge_period_start >= window.start,
                                   lines.charge_period_start < window.end),
    )  # fmt: skip
    with store.engine.connect() as conn:
        counts = [int(conn.execute(query).scalar_one()) for query in queries]
        return WindowCounts(count_samples(conn, window), *counts)
