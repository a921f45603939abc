"""Storing parsed samples and dead letters: the half of ingestion the file reader and the Kafka
consumer share. Callers own the transaction (`with store.transaction() as conn:`), so a batch of
samples, its dead letters and its re-rating marks commit together or not at all.

- Samples dedupe on `message_id` (in the table and within the batch); the counts say how many
  were new, so a replayed file or a per_meter_topic copy reports duplicates, not errors.
- Dead letters dedupe on sha256(origin, location, payload): replaying the same bad line stores it once.
- A new sample whose UTC day already has cost lines (any price book) marks that day in
  `rerate_days`; a cumulative counter marks the next day too, since a late reading changes the
  delta of the reading after it.

The rows themselves are written by `stackledger.store.samples`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final

from stackledger.collectors.samples import SampleError
from stackledger.errors import InputError
from stackledger.pipeline.rerate import mark_rerate
from stackledger.store import Connection, Store
from stackledger.store.samples import DeadLetter, SamplesWritten, write_dead_letters, write_sample_stream, write_samples
from stackledger.window import utcnow

_DAY: Final = dt.timedelta(days=1)


def dead_letter(origin: str, location: str, error: InputError, message: bytes | str) -> DeadLetter:
    """The dead letter for a parse error at `location` ("line 12", "partition 0 offset 7") of `origin`."""
    if isinstance(error, SampleError):  # one bad sample of a notification: keep just that sample
        location = f"{location} sample {error.index}"
        payload = json.dumps(error.sample, sort_keys=True, default=str)
    else:
        payload = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
    return DeadLetter(origin, location, error.reason, payload.rstrip("\r\n"))


def store_samples(
    store: Store, conn: Connection, rows: Sequence[Mapping[str, Any]], *, marked: set[dt.date] | None = None
) -> tuple[int, int]:
    """Insert rows from `collectors.samples.parse_message`, skipping known `message_id`s.

    Returns (inserted, duplicates), duplicates counting repeats within `rows` too. Rated days that
    received a new sample are added to `rerate_days` (and to `marked`, when given).
    """
    now = utcnow()
    return _marked(store, conn, write_samples(store, conn, rows, now=now), now, marked)


def store_sample_stream(
    store: Store,
    conn: Connection,
    rows: Callable[[], Iterable[Mapping[str, Any]]],
    *,
    marked: set[dt.date] | None = None,
) -> tuple[int, int]:
    """`store_samples` for rows made one at a time, such as the Kafka consumer's: parsed from its
    records as they are written, never held as a whole batch (`store.samples.write_sample_stream`).
    `rows()` may be called twice (when some rows are stored already)."""
    now = utcnow()
    return _marked(store, conn, write_sample_stream(store, conn, rows, now=now), now, marked)


def store_dead_letters(store: Store, conn: Connection, letters: Iterable[DeadLetter]) -> int:
    """Store dead letters once each (by fingerprint). Returns how many were new."""
    return write_dead_letters(store, conn, letters, now=utcnow())


def _marked(
    store: Store, conn: Connection, written: SamplesWritten, now: dt.datetime, marked: set[dt.date] | None
) -> tuple[int, int]:
    mark_rerate(store, conn, days_to_rerate(written.landed), now=now, marked=marked)
    return written.inserted, written.duplicates


def days_to_rerate(landed: Iterable[tuple[dt.date, str]]) -> set[dt.date]:
    """The days new samples may change the cost of, from their (day, counter type): their own; a
    cumulative counter's next day too."""
    days: set[dt.date] = set()
    for day, kind in landed:
        days.add(day)
        if kind == "cumulative":
            days.add(day + _DAY)
    return days


__all__ = ["DeadLetter", "days_to_rerate", "dead_letter", "store_dead_letters", "store_sample_stream", "store_samples"]
