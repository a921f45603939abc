"""Samples and dead letters: the raw records of ingestion (`samples`, `dead_letters`).

Writes happen inside the caller's transaction (`with store.transaction() as conn:`), so a batch of
samples, its dead letters and what the caller marks with them commit together or not at all.

- Samples dedupe on `message_id`, in the table and within the batch. `write_samples` and
  `write_sample_stream` say how many were new and on which (UTC day, counter type) they landed,
  so the caller can mark rated days for re-rating.
- On PostgreSQL through psycopg the rows go in by binary COPY (`stackledger.store.samples_pg`);
  elsewhere by `INSERT … ON CONFLICT DO NOTHING`.
- Dead letters dedupe on their fingerprint (origin, location, payload): replaying the same bad
  line stores it once. Their text is cut to the columns' widths and made storable (no NUL, no
  lone surrogate) here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import pandas as pd
from sqlalchemy import Connection, and_, exc, func, or_, select

from stackledger.schema import SAMPLE_COLUMNS
from stackledger.store import Store, samples_pg, tables
from stackledger.store.frames import as_date, canonical_frame, read_frame, reading
from stackledger.window import Window

PAYLOAD_MAX: Final = 16_384  # characters of a bad message kept in dead_letters.payload
REASON_MAX: Final = 2_000
_ORIGIN_MAX: Final = 512  # dead_letters.origin width
_LOCATION_MAX: Final = 255


@dataclass
class SamplesWritten:
    """What a write of samples did: rows new to the store, repeats skipped (stored already or twice
    in the batch), and the (UTC day, counter type) of each new sample."""

    inserted: int = 0
    duplicates: int = 0
    landed: set[tuple[dt.date, str]] = field(default_factory=set)


@dataclass(frozen=True)
class DeadLetter:
    """A message that could not be used, kept with the reason so it can be fixed and replayed."""

    origin: str  # absolute file path, "<stdin>", Kafka topic
    location: str  # "line 12", "line 12 sample 3", "partition 3 offset 991"
    reason: str
    payload: str  # the message; for one bad sample of a notification, just that sample

    @property
    def fingerprint(self) -> str:
        content = "\x00".join((self.origin, self.location, self.payload))
        return hashlib.sha256(content.encode("utf-8", "surrogatepass")).hexdigest()

    def row(self, received_at: dt.datetime) -> dict[str, Any]:
        payload = _storable(self.payload)
        if len(payload) > PAYLOAD_MAX:
            payload = f"{payload[:PAYLOAD_MAX]}…[truncated, {len(payload)} characters in all]"
        return {
            "fingerprint": self.fingerprint,
            "origin": _storable(self.origin)[-_ORIGIN_MAX:],
            "location": _storable(self.location)[:_LOCATION_MAX],
            "reason": _storable(self.reason)[:REASON_MAX],
            "payload": payload,
            "received_at": received_at,
        }


# ------------------------------------------------------------------ writes


def write_samples(
    store: Store, conn: Connection, rows: Sequence[Mapping[str, Any]], *, now: dt.datetime
) -> SamplesWritten:
    """Insert sample rows (`schema.SAMPLE_COLUMNS`), `ingested_at` = `now`, skipping known `message_id`s."""
    unique: dict[str, Mapping[str, Any]] = {}
    for row in rows:
        unique.setdefault(row["message_id"], row)
    if samples_pg.copies(conn):
        inserted = samples_pg.copy_samples(conn, list(unique.values()), now)
    else:
        records = [{**row, "ingested_at": now} for row in unique.values()]
        if store.dialect == "postgresql":
            inserted = samples_pg.insert_ignore_json(conn, tables.samples, records, returning="message_id")
        else:
            # Order is not needed (ids are looked up), and unordered RETURNING is batched, not row by row.
            inserted = store.insert_ignore(conn, tables.samples, records, returning="message_id", ordered=False)
    return _written(len(rows), (unique[message_id] for message_id in inserted))


def write_sample_stream(
    store: Store, conn: Connection, rows: Callable[[], Iterable[Mapping[str, Any]]], *, now: dt.datetime
) -> SamplesWritten:
    """`write_samples` for rows made one at a time (the Kafka consumer's, parsed from its records as
    they are written): on PostgreSQL the batch is never held whole, each row written while it is
    still in the CPU cache.

    `rows()` starts the rows; it is called a second time, and the rows stored the conflict-proof
    way, when some of them are stored already. Unlike `write_samples` the rows are not sorted by id:
    two consumers writing the same ids at once (the old and new owner of a partition just after a
    rebalance) read them from the same partition, in the same order, so they do not deadlock."""
    if not samples_pg.copies(conn):
        return write_samples(store, conn, list(rows()), now=now)
    try:
        with conn.begin_nested():
            return _copy_new_rows(conn, rows(), now)
    except exc.IntegrityError:
        made = list(rows())
        unique: dict[str, Mapping[str, Any]] = {}
        for row in made:
            unique.setdefault(row["message_id"], row)
        inserted = samples_pg.copy_staged(conn, sorted(unique.values(), key=samples_pg.message_id), now)
        return _written(len(made), (unique[message_id] for message_id in inserted))


def _copy_new_rows(conn: Connection, rows: Iterable[Mapping[str, Any]], now: dt.datetime) -> SamplesWritten:
    """Copy rows into `samples`, each `message_id` once. A unique violation (an id stored already)
    is raised, as `exc.IntegrityError`."""
    seen: set[str] = set()
    written = SamplesWritten()
    landed = written.landed

    def new_rows() -> Iterator[Mapping[str, Any]]:
        for row in rows:
            message_id = row["message_id"]
            if message_id in seen:
                written.duplicates += 1
                continue
            seen.add(message_id)
            landed.add((row["timestamp"].date(), row["type"]))
            yield row

    samples_pg.copy_rows(conn, tables.samples.name, new_rows(), now)
    written.inserted = len(seen)
    return written


def _written(given: int, new_rows: Iterable[Mapping[str, Any]]) -> SamplesWritten:
    """Counts for `given` rows of which `new_rows` were really inserted."""
    written = SamplesWritten()
    for row in new_rows:
        written.inserted += 1
        written.landed.add((row["timestamp"].date(), row["type"]))
    written.duplicates = given - written.inserted
    return written


def write_dead_letters(store: Store, conn: Connection, letters: Iterable[DeadLetter], *, now: dt.datetime) -> int:
    """Store dead letters once each (by fingerprint), `received_at` = `now`. Returns how many were new."""
    unique = {letter.fingerprint: letter for letter in letters}
    rows = [letter.row(now) for letter in unique.values()]
    return len(store.insert_ignore(conn, tables.dead_letters, rows, returning="fingerprint", ordered=False))


# ------------------------------------------------------------------ reads


def read_samples(
    target: Store | Connection,
    window: Window,
    *,
    meters: Sequence[str],
    lookback: dt.timedelta = dt.timedelta(0),
    lookback_meters: Sequence[str] = (),
) -> pd.DataFrame:
    """Stored samples of `meters` (SAMPLE_COLUMNS) with a timestamp in `window` — and, for
    `lookback_meters`, from `lookback` before its start."""
    samples = tables.samples
    query = select(*(samples.c[name] for name in SAMPLE_COLUMNS)).where(
        samples.c.meter.in_(list(meters)),
        samples.c.timestamp < window.end,
        or_(
            samples.c.timestamp >= window.start,
            and_(samples.c.meter.in_(list(lookback_meters)), samples.c.timestamp >= window.start - lookback),
        ),
    )
    with reading(target) as conn:
        frame = read_frame(conn, query)
    return canonical_frame(frame, SAMPLE_COLUMNS, stage="stored samples")


def sample_days(target: Store | Connection, window: Window) -> set[dt.date]:
    """The UTC days with at least one sample in `window`."""
    stamp = tables.samples.c.timestamp
    query = select(func.date(stamp)).where(stamp >= window.start, stamp < window.end).distinct()
    with reading(target) as conn:
        return {as_date(value) for value in conn.execute(query).scalars()}


def _storable(value: str) -> str:
    """Text a database column accepts: no NUL, no lone surrogates."""
    if "\x00" in value:
        value = value.replace("\x00", "\\u0000")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


__all__ = [
    "PAYLOAD_MAX", "REASON_MAX", "DeadLetter", "SamplesWritten", "read_samples", "sample_days", "write_dead_letters",
    "write_sample_stream", "write_samples",
]  # fmt: skip
