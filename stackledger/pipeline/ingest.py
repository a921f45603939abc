"""Samples in: JSON-lines files → compact `sample_rows`; bad lines → `dead_letters`; late data → `rerate_days`.

Each line goes through the fast parser (`collectors.sample_fast`, exactly `parse_message`'s
results); each batch of `ingest.batch_size` samples is stored in one transaction together with
its dead letters, attribute revisions and re-rating marks (`sample_store.SampleWriter`, shared
with the Kafka consumer), so a crash leaves whole batches behind and a re-run only adds what is
missing: samples dedupe on (UTC day, message id) as long as their day's raw samples are kept,
dead letters on a fingerprint of (origin, location, payload). Samples of meters StackLedger does
not rate are counted per meter and not stored (`ingest.keep_meters` keeps named ones).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Final

from stackledger.collectors.files import LineFile
from stackledger.collectors.plausible import Bounds
from stackledger.collectors.sample_fast import FastReader
from stackledger.errors import InputError, StoreError
from stackledger.pipeline.base import store_for
from stackledger.pipeline.sample_batch import SampleBatch
from stackledger.pipeline.sample_store import SampleWriter, dead_letter, refusal
from stackledger.progress import ProgressBar
from stackledger.settings import Settings
from stackledger.store.refused import as_store_error
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
    not_stored: StoreError | None = None  # a batch the store refused: rolled back, the rest of the file not read


@dataclass
class IngestResult:
    read: int = 0
    ingested: int = 0
    duplicates: int = 0
    rejected: int = 0
    files: list[FileResult] = field(default_factory=list)
    examples: list[InputError] = field(default_factory=list)  # the first EXAMPLES_MAX rejections
    rerate_days: set[dt.date] = field(default_factory=set)  # rated days that received new samples
    unrated_meters: Counter[str] = field(default_factory=Counter)  # not stored: not rated, not in ingest.keep_meters

    @property
    def errors(self) -> list[InputError]:
        """Per-file problems: a missing or unreadable file, a corrupt gzip stream."""
        return [f.error for f in self.files if f.error is not None]

    @property
    def store_errors(self) -> list[StoreError]:
        """Batches the store refused (each rolled back whole; a re-run completes its file)."""
        return [f.not_stored for f in self.files if f.not_stored is not None]

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
    writer = SampleWriter(store_for(settings), settings.ingest.keep_meters)
    reader = FastReader(plausible_bounds(settings, now or utcnow()))
    result = IngestResult()
    for path in paths:
        source = LineFile(path)
        bar = ProgressBar(source.name) if progress else None
        counts = _ingest_file(writer, reader, source, settings.ingest.batch_size, result, bar)
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
        if counts.not_stored is not None:
            log.error("ingest %s: %s", source.name, counts.not_stored)
    log.debug("ingest: %d messages read the fast way, %d by the full parser", reader.fast, reader.slow)
    return result


def plausible_bounds(settings: Settings, now: dt.datetime) -> Bounds:
    """The timestamps a sample read at `now` may carry (`ingest.plausible_from`, `…_ahead_hours`)."""
    earliest = dt.datetime.combine(settings.ingest.plausible_from, dt.time())
    return Bounds(now, earliest, dt.timedelta(hours=settings.ingest.plausible_ahead_hours))


class _Batch:
    """The file's batch being filled, and what storing it adds to the counts."""

    def __init__(self, writer: SampleWriter, source: LineFile, counts: FileResult, result: IngestResult) -> None:
        self.writer, self.counts, self.result = writer, counts, result
        self.source = source
        self.batch = self._new()
        self.first_line = 0

    def _new(self) -> SampleBatch:
        return SampleBatch(self.source.origin, _line, name=self.source.name)

    def reject(self, error: InputError, number: int, line: bytes) -> None:
        self.batch.letters.append(dead_letter(self.source.origin, f"line {number}", error, line))
        self._count_rejection(error)

    def _count_rejection(self, error: InputError) -> None:
        self.counts.rejected += 1
        if len(self.result.examples) < EXAMPLES_MAX:
            self.result.examples.append(error)

    def flush(self, last_line: int) -> None:
        """Store the batch in one transaction; a `StoreError` (the batch rolled back) names its lines."""
        batch = self.batch
        if not batch.samples and not batch.letters:
            return
        lines = f"lines {self.first_line}-{last_line}"
        try:
            with as_store_error():
                written = self.writer.write(batch, lines)
        except StoreError as error:
            raise StoreError(f"{self.source.name} {lines} not stored (rolled back; ingesting the file again "
                             f"completes it): {error}") from error  # fmt: skip
        self.counts.ingested += written.inserted
        self.counts.duplicates += written.duplicates
        for letter in written.refused:
            self._count_rejection(refusal(batch, letter))
        self.result.unrated_meters.update(written.unrated)
        self.result.rerate_days |= written.rerate_days
        self.batch = self._new()
        self.first_line = 0


def _where(name: str, number: int) -> str:
    return f"{name} line {number}"


def _line(number: int) -> str:
    return f"line {number}"


def _ingest_file(
    writer: SampleWriter,
    reader: FastReader,
    source: LineFile,
    batch_size: int,
    result: IngestResult,
    bar: ProgressBar | None,
) -> FileResult:
    counts = FileResult(source.name)
    pending = _Batch(writer, source, counts, result)
    number = 0
    try:
        for number, line in source.lines():
            counts.read += 1
            batch = pending.batch
            if not pending.first_line:
                pending.first_line = number
            batch.message = number
            rejects: list[InputError] = []
            reader.read_message(line, batch.add, rejects, partial(_where, source.name, number))
            for error in rejects:
                pending.reject(error, number, line)
            if len(batch.samples) >= batch_size or len(batch.letters) >= batch_size:
                pending.flush(number)
            if bar is not None and number % 1024 == 0:
                bar.update(source.position(), source.size, f"{counts.read:,} lines")
        pending.flush(number)
    except InputError as error:  # the file itself: missing, unreadable, corrupt gzip
        counts.error = error
        _flush_after(pending, number, counts)
    except StoreError as error:  # a batch refused: stop this file (a re-run picks it up)
        counts.not_stored = error
    finally:
        if bar is not None:
            bar.close()
    return counts


def _flush_after(pending: _Batch, number: int, counts: FileResult) -> None:
    """Store what was read before the file failed."""
    try:
        pending.flush(number)
    except StoreError as error:
        counts.not_stored = error


__all__ = ["EXAMPLES_MAX", "FileResult", "IngestResult", "ingest_paths", "plausible_bounds"]
