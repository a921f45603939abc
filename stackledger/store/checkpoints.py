"""Checkpoints (`checkpoints`): one row per collected window of a source, or of one project shard
of it (`gnocchi#1/4`), written in the transaction that stored the window."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, and_, or_, select

from stackledger.store import Store, tables
from stackledger.store.frames import naive_utc, reading
from stackledger.window import Window

Span = tuple[str, dt.datetime, dt.datetime]  # (source key, window start, window end)


def write_checkpoint(store: Store, conn: Connection, key: str, window: Window, rows: int, *, now: dt.datetime) -> None:
    """Record that `key`'s `window` is stored (`rows` rows), replacing an earlier record of it."""
    table = tables.checkpoints
    where = and_(table.c.source == key, table.c.window_start == window.start)
    record = {"source": key, "window_start": window.start, "window_end": window.end, "rows": rows, "completed_at": now}
    store.replace(conn, table, where, [record])


def checkpoint_spans(target: Store | Connection, source: str, window: Window, *, shards: bool = False) -> list[Span]:
    """The checkpoints of `source` — and, with `shards`, of its shards (`source#i/n`) — that
    overlap `window`, by window start."""
    table = tables.checkpoints
    key = table.c.source == source
    if shards:
        key = or_(key, table.c.source.like(f"{_escape(source)}#%", escape="\\"))
    query = (
        select(table.c.source, table.c.window_start, table.c.window_end)
        .where(key, table.c.window_start < window.end, table.c.window_end > window.start)
        .order_by(table.c.window_start)
    )
    with reading(target) as conn:
        return [(name, naive_utc(start), naive_utc(end)) for name, start, end in conn.execute(query).all()]


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


__all__ = ["Span", "checkpoint_spans", "write_checkpoint"]
