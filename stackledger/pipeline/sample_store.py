"""Storing a batch of samples with its dead letters: the half of ingestion the file reader and the
Kafka consumer share (`SampleWriter.write`).

Before the batch's transaction: its compact rows (`sample_batch.compact`: codes, keys, repeats
inside the batch), the dictionaries' new codes and the missing day partitions, each committed on
its own (`store.sample_codes`, `store.sample_days`). Then ONE transaction holds everything else,
so a batch is stored whole or not at all:

1. a `sample_batches` row (the batch's origin and locations) and its rows (`store.samples.write_rows`):
   new ones inserted, duplicates counted, conflicts (a stored sample with the same message id
   and day but other content) dead-lettered with the stored sample's batch named;
2. what the inserted samples of rated meters state about their resources, merged into the
   resources' attribute revisions (`transforms.usage.revisions`), under the resources' writer
   locks (`store.revisions.lock_resources`): a resource whose statements only confirm its last
   revision moves that revision's `seen_to` (`transforms.usage.revision_timely`, the usual case);
   the others are rebuilt from all their revisions;
3. the rated days the inserted samples land on marked for re-rating, and a cumulative counter's
   next day too: a late reading changes the delta of the reading after it;
4. the dead letters: the readers' (bad lines, bad samples) and this step's, once each.

Re-running a batch changes nothing: its rows are duplicates, its dead letters have the same
fingerprints.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from stackledger.collectors.samples import SampleError
from stackledger.errors import InputError
from stackledger.pipeline.rerate import mark_rerate
from stackledger.pipeline.sample_batch import Compact, SampleBatch, compact, conflict_letter
from stackledger.store import Connection, Engine, Store, sample_days
from stackledger.store.frames import naive_utc
from stackledger.store.revisions import (
    advance_seen,
    lock_resources,
    read_last_revisions,
    read_revisions,
    write_changes,
)
from stackledger.store.sample_codes import Dictionaries
from stackledger.store.samples import DeadLetter, batch_origins, count_batch, new_batch, write_dead_letters, write_rows
from stackledger.transforms.usage.revision_timely import split_timely
from stackledger.transforms.usage.revisions import Statements, build_revisions
from stackledger.transforms.usage.statements import described
from stackledger.window import utcnow

log = logging.getLogger(__name__)

_DAY: Final = dt.timedelta(days=1)


@dataclass
class Written:
    """What storing one batch did."""

    inserted: int = 0
    duplicates: int = 0  # repeats of stored samples, or of samples earlier in the batch
    refused: list[DeadLetter] = field(default_factory=list)  # samples this step refused (conflicts, days)
    unrated: Counter[str] = field(default_factory=Counter)  # samples not stored: meters not rated, not kept
    rerate_days: set[dt.date] = field(default_factory=set)  # rated days marked for re-rating


class SampleWriter:
    """Writes batches into one store, from one process: it caches the dictionaries' codes and the
    day partitions known to exist. `keep_meters`: meters not rated whose samples are stored anyway.
    `within`: write everything in this connection's transaction (a migration) instead of the
    store's own transactions; `marks`: mark rated days for re-rating (not when moving samples
    the days were rated from)."""

    def __init__(self, store: Store | None, keep_meters: Iterable[str] = (), *, within: Connection | None = None,
                 marks: bool = True) -> None:  # fmt: skip
        self.store = store
        self.keep = frozenset(keep_meters)
        self.codes = Dictionaries()
        self.partitions: set[int] = set()
        self.within = within
        self.marks = marks

    @property
    def bind(self) -> Engine | Connection:
        if self.within is not None:
            return self.within
        assert self.store is not None
        return self.store.engine

    def write(self, batch: SampleBatch, locations: str) -> Written:
        """Store the batch's samples and dead letters in one transaction (module docstring)."""
        bind = self.bind
        reader = self.within if self.within is not None else self.store
        assert reader is not None
        rows = compact(batch, bind, self.codes, self.keep, lambda days: sample_days.retired(reader, days))
        written = Written(duplicates=rows.duplicates, refused=list(rows.letters), unrated=rows.unrated)
        days = np.unique(rows.rows["day"]).tolist() if len(rows.position) else []
        if isinstance(bind, Connection):
            sample_days.create_day_partitions(bind, days)
        else:
            sample_days.ensure_day_partitions(bind, days, self.partitions)
        with self._transaction() as conn:
            self._write(conn, batch, rows, locations, written)
        return written

    def _transaction(self) -> AbstractContextManager[Connection]:
        if self.within is not None:
            return nullcontext(self.within)
        assert self.store is not None
        return self.store.transaction()

    def _write(self, conn: Connection, batch: SampleBatch, rows: Compact, locations: str, written: Written) -> None:
        """Steps 1-4 of the module docstring, in the caller's transaction."""
        now = utcnow()
        if len(rows.position):
            code = new_batch(conn, batch.origin, locations, now)
            stored = write_rows(conn, {**rows.rows, "batch": np.full(len(rows.position), code, dtype=np.int32)})
            origins = batch_origins(conn, {stored_in for _, stored_in in stored.conflicts})
            written.refused += [
                conflict_letter(batch, int(rows.position[row]), origins[stored_in].describe())
                for row, stored_in in stored.conflicts
            ]
            inserted = stored.inserted
            written.inserted = int(inserted.sum())
            written.duplicates += stored.duplicates
            count_batch(conn, code, written.inserted)  # a batch that stored nothing leaves no row
            _revise(conn, rows.rows, rows.rated & inserted, rows.said, rows.statements)
            if self.marks:
                landed = days_to_rerate(rows.rows["day"][inserted], rows.cumulative[inserted])
                mark_rerate(None, conn, landed, now=now, marked=written.rerate_days)
        write_dead_letters(conn, [*batch.letters, *written.refused], now=now)


def _revise(conn: Connection, rows: dict[str, np.ndarray], mask: np.ndarray, said: np.ndarray,
            table: dict[str, np.ndarray]) -> None:  # fmt: skip
    """Merge what the inserted samples state into their resources' revisions: the resources whose
    statements only confirm their last revision move its `seen_to` (`split_timely`, the usual
    case); the others go through `build_revisions` with all their revisions."""
    if not mask.any():
        return
    resources = rows["resource"][mask].astype(np.int64)
    statements = Statements(resources, rows["ts"][mask].astype(np.int64), said[mask], table)
    lock_resources(conn, resources)
    split = split_timely(read_last_revisions(conn, resources), statements)
    advance_seen(conn, split.rcode, split.valid_from, split.seen_to)
    if not len(split.others):
        return
    stored = read_revisions(conn, split.others)
    changes = build_revisions(stored, split.rest)
    if not changes.empty:
        write_changes(conn, changes.upserts, changes.deletes)


def write_records(writer: SampleWriter, records: Iterable[Mapping[str, Any]], origin: str) -> Written:
    """Store sample rows as `collectors.samples.parse_message` returns them (dicts with `metadata`)
    as one batch of `origin`: what callers holding parsed samples rather than messages use."""
    batch = SampleBatch(origin, _record)
    for number, record in enumerate(records, start=1):
        batch.message = number
        batch.add((record["message_id"], record["meter"], record["type"], float(record["volume"]),
                   record.get("project_id"), record["resource_id"], naive_utc(record["timestamp"]),
                   described(record.get("metadata")), 0))  # fmt: skip
    return writer.write(batch, f"records 1-{len(batch)}")


def _record(number: int) -> str:
    return f"record {number}"


def days_to_rerate(days: np.ndarray, cumulative: np.ndarray) -> set[dt.date]:
    """The days new samples may change the cost of: their own; a cumulative counter's next day too."""
    found = {sample_days.day_date(int(d)) for d in np.unique(days)}
    found |= {sample_days.day_date(int(d)) + _DAY for d in np.unique(days[cumulative])}
    return found


def dead_letter(origin: str, location: str, error: InputError, message: bytes | str) -> DeadLetter:
    """The dead letter for a parse error at `location` ("line 12", "partition 0 offset 7") of `origin`."""
    if isinstance(error, SampleError):  # one bad sample of a notification: keep just that sample
        location = f"{location} sample {error.index}"
        payload = json.dumps(error.sample, sort_keys=True, default=str)
    else:
        payload = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
    return DeadLetter(origin, location, error.reason, payload.rstrip("\r\n"))


def refusal(batch: SampleBatch, letter: DeadLetter) -> InputError:
    """A sample the store refused as the error a person reads ("samples.jsonl line 12: reason")."""
    return InputError(letter.reason, where=f"{batch.name or batch.origin} {letter.location}")


__all__ = ["DeadLetter", "SampleWriter", "Written", "days_to_rerate", "dead_letter", "refusal", "write_records"]
