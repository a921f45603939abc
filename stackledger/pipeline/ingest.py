"""Samples in: JSON-lines files → `samples`; bad lines → `dead_letters`; late data → `rerate_days`.

Each batch of `ingest.batch_size` samples is stored in one transaction together with its dead
letters, so a crash leaves whole batches behind and a re-run only adds what is missing:
samples dedupe on `message_id`, dead letters on a fingerprint of (origin, location, payload).
The storage half (`store_samples`, `store_dead_letters`) lives in `sample_store`, shared with
the Kafka consumer.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from stackledger.collectors.files import LineFile
from stackledger.collectors.plausible import Bounds
from stackledger.collectors.samples import parse_message
from stackledger.errors import InputError
from stackledger.pipeline.base import store_for
from stackledger.pipeline.sample_store import DeadLetter, dead_letter, store_dead_letters, store_samples
from stackledger.progress import ProgressBar
from stackledger.schema import METERS
from stackledger.settings import Settings
from stackledger.store import Store
from stackledger.window import utcnow

log = logging.getLogger(__name__)

EXAMPLES_MAX: Final = 20  # rejections kept on the result for a person to read; all go to dead_letters


# ------------------------------------------------------------------ results


@dataclass
class FileResult:
    """Counts for one input. `read` counts non-blank lines; the others count samples (a line that
    is not a usable message at all counts as one rejection)."""

    name: str
    read: int = 0
    ingested: int = 0
    duplicates: int = 0
    rejected: int = 0
    error: InputError | None = None  # the file could not be opened, or failed part-way


@dataclass
class IngestResult:
    read: int = 0
    ingested: int = 0
    duplicates: int = 0
    rejected: int = 0
    files: list[FileResult] = field(default_factory=list)
    examples: list[InputError] = field(default_factory=list)  # the first EXAMPLES_MAX rejections
    rerate_days: set[dt.date] = field(default_factory=set)  # rated days that received new samples
    unrated_meters: Counter[str] = field(default_factory=Counter)  # stored, but not in schema.METERS

    @property
    def errors(self) -> list[InputError]:
        """Per-file problems: a missing or unreadable file, a corrupt gzip stream."""
        return [f.error for f in self.files if f.error is not None]

    @property
    def files_read(self) -> int:
        """Inputs that could be opened (a file failing part-way still counts: its lines were read)."""
        return sum(1 for f in self.files if f.error is None or f.read > 0)

    def add(self, file: FileResult) -> None:
        self.files.append(file)
        self.read += file.read
        self.ingested += file.ingested
        self.duplicates += file.duplicates
        self.rejected += file.rejected


# ------------------------------------------------------------------ files


def ingest_paths(
    settings: Settings, paths: Sequence[str], *, progress: bool = False, now: dt.datetime | None = None
) -> IngestResult:
    """Ingest JSON-lines sample files (`-` is stdin). Never raises for bad input: unreadable files
    and bad lines are reported on the result (and bad lines stored as dead letters). Samples
    dated after `now` (default: the clock) plus `ingest.plausible_ahead_hours` are bad lines."""
    store = store_for(settings)
    result = IngestResult()
    bounds = plausible_bounds(settings, now or utcnow())
    for path in paths:
        source = LineFile(path)
        bar = ProgressBar(source.name) if progress else None
        counts = _ingest_file(store, source, _Reading(settings.ingest.batch_size, bounds), result, bar)
        result.add(counts)
        if counts.error is not None and counts.read == 0:
            log.info("ingest %s: %s", source.name, counts.error.reason)
            continue
        log.info(
            "ingest %s: read %d lines, ingested %d, duplicates %d, rejected %d%s",
            source.name,
            counts.read,
            counts.ingested,
            counts.duplicates,
            counts.rejected,
            f" (stopped: {counts.error.reason})" if counts.error else "",
        )
    return result


def plausible_bounds(settings: Settings, now: dt.datetime) -> Bounds:
    """The timestamps a sample read at `now` may carry (`ingest.plausible_from`, `…_ahead_hours`)."""
    earliest = dt.datetime.combine(settings.ingest.plausible_from, dt.time())
    return Bounds(now, earliest, dt.timedelta(hours=settings.ingest.plausible_ahead_hours))


@dataclass(frozen=True)
class _Reading:
    batch_size: int
    bounds: Bounds


class _Batch:
    def __init__(self, store: Store, counts: FileResult, result: IngestResult) -> None:
        self.store, self.counts, self.result = store, counts, result
        self.rows: list[dict[str, Any]] = []
        self.letters: list[DeadLetter] = []

    def reject(self, letter: DeadLetter, error: InputError) -> None:
        self.letters.append(letter)
        self.counts.rejected += 1
        if len(self.result.examples) < EXAMPLES_MAX:
            self.result.examples.append(error)

    def flush(self) -> None:
        if not self.rows and not self.letters:
            return
        for row in self.rows:
            if row["meter"] not in METERS:
                self.result.unrated_meters[row["meter"]] += 1
        with self.store.transaction() as conn:
            inserted, duplicates = store_samples(self.store, conn, self.rows, marked=self.result.rerate_days)
            store_dead_letters(self.store, conn, self.letters)
        self.counts.ingested += inserted
        self.counts.duplicates += duplicates
        self.rows, self.letters = [], []


def _ingest_file(
    store: Store, source: LineFile, reading: _Reading, result: IngestResult, bar: ProgressBar | None
) -> FileResult:
    counts = FileResult(source.name)
    batch = _Batch(store, counts, result)
    try:
        for number, line in source.lines():
            counts.read += 1
            rejects: list[InputError] = []
            try:
                batch.rows.extend(parse_message(line, f"{source.name} line {number}", rejects=rejects,
                                                bounds=reading.bounds))  # fmt: skip
            except InputError as unusable:
                rejects.append(unusable)
            for error in rejects:
                batch.reject(dead_letter(source.origin, f"line {number}", error, line), error)
            if len(batch.rows) >= reading.batch_size or len(batch.letters) >= reading.batch_size:
                batch.flush()
            if bar is not None and number % 1024 == 0:
                bar.update(source.position(), source.size, f"{counts.read:,} lines")
    except InputError as error:  # the file itself: missing, unreadable, corrupt gzip
        counts.error = error
    finally:
        if bar is not None:
            bar.close()
    batch.flush()
    return counts


__all__ = ["EXAMPLES_MAX", "FileResult", "IngestResult", "ingest_paths", "plausible_bounds"]
