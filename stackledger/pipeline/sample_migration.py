"""What migration 0009 moves: the old `samples` table (one row per sample, its metadata as JSON)
into compact rows and attribute revisions, and the stored hourly usage into `daily_usage`.

Both run inside the migration's transaction (`within`): the store is upgraded whole or not at
all. Samples are read in time order, in chunks (keyset pagination on (timestamp, message_id)),
and written through `SampleWriter` like an ingested batch: codes, statements, revisions, every
meter kept; no re-rating marks (the days were rated from these very samples). Daily usage is
`transforms.rating.daily_usage` of each stored day of each source, as `stackledger rate` writes it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any, Final

from stackledger.pipeline.sample_batch import SampleBatch
from stackledger.pipeline.sample_store import SampleWriter
from stackledger.store import Connection, daily_usage, old_samples
from stackledger.store.frames import naive_utc
from stackledger.store.usage import read_usage
from stackledger.transforms import rating
from stackledger.transforms.usage.statements import described
from stackledger.window import Window

log = logging.getLogger(__name__)

CHUNK: Final = 100_000
ORIGIN: Final = "samples table (migration 0009)"


def move_samples(conn: Connection) -> int:
    """Every old sample into the compact tables (module docstring); returns how many were stored."""
    meters = old_samples.old_meters(conn)
    writer = SampleWriter(None, meters, within=conn, marks=False)
    stored = read = 0
    after: tuple[Any, Any] | None = None
    while True:
        rows = old_samples.old_samples(conn, after, CHUNK)
        if not rows:
            break
        batch = SampleBatch(ORIGIN, _row)
        for n, (message_id, meter, kind, volume, project_id, resource_id, stamp, metadata) in enumerate(rows, read + 1):
            batch.message = n
            meta = json.loads(metadata) if isinstance(metadata, str) else metadata
            batch.add((message_id, meter, kind, float(volume), project_id, resource_id, naive_utc(stamp),
                       described(meta), 0))  # fmt: skip
        written = writer.write(batch, f"rows {read + 1}-{read + len(rows)}")
        stored += written.inserted
        read += len(rows)
        after = (rows[-1][6], rows[-1][0])
    log.info("migration 0009: %d samples moved into compact rows (%d read)", stored, read)
    return stored


def build_daily_usage(conn: Connection) -> int:
    """`daily_usage` of every day with stored hourly usage, per source; returns the rows written."""
    starts = old_samples.usage_spans(conn)
    written = 0
    for source, first, last in starts:
        day = naive_utc(first).date()
        while day <= naive_utc(last).date():
            start = dt.datetime.combine(day, dt.time())
            hourly = read_usage(conn, Window(start, start + dt.timedelta(days=1)), source)
            if len(hourly):
                written += daily_usage.append(conn, rating.daily_usage(hourly))
            day += dt.timedelta(days=1)
    log.info("migration 0009: %d daily usage rows built from hourly usage", written)
    return written


def _row(number: int) -> str:
    return f"row {number}"


__all__ = ["build_daily_usage", "move_samples"]
