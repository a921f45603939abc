"""Lines of a sample file through the parser into the store, a batch per transaction: the serial
path of `stackledger ingest`, run by the command itself or, with `--jobs`, by each worker on its
blocks of lines (`pipeline.ingest_jobs`)."""

from __future__ import annotations

import datetime as dt
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Final, Protocol

from stackledger.collectors.sample_fast import Accepted, FastReader, Sink
from stackledger.errors import InputError, StoreError
from stackledger.pipeline.sample_batch import SampleBatch
from stackledger.pipeline.sample_store import SampleWriter, dead_letter, refusal
from stackledger.store.refused import as_store_error
from stackledger.store.samples import DeadLetter

EXAMPLES_MAX: Final = 20  # rejections kept on the result for a person to read; all go to dead_letters
PROGRESS_LINES: Final = 1024  # lines read between two calls of the progress callback


class Source(Protocol):
    """Where lines come from, as errors and dead letters name it (a `collectors.files.LineFile`)."""

    @property
    def name(self) -> str: ...  # as the user typed it

    @property
    def origin(self) -> str: ...  # stable across working directories


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


class _Batch:
    """The file's batch being filled, and what storing it adds to the counts."""

    def __init__(self, writer: SampleWriter, source: Source, counts: FileResult, result: IngestResult) -> None:
        self.writer, self.counts, self.result = writer, counts, result
        self.source = source
        self.batch = self._new()
        self.first_line = 0

    def _new(self) -> SampleBatch:
        return SampleBatch(self.source.origin, _line, name=self.source.name)

    def fill(self) -> tuple[SampleBatch, Sink, list[Accepted], list[DeadLetter]]:
        """The batch being filled, its sink, its samples and its dead letters (what the loop checks)."""
        batch = self.batch
        return batch, batch.add, batch.samples, batch.letters

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


def _line(number: int) -> str:
    return f"line {number}"


def ingest_lines(
    writer: SampleWriter,
    reader: FastReader,
    source: Source,
    lines: Iterable[tuple[int, bytes]],
    batch_size: int,
    result: IngestResult,
    progress: Callable[[FileResult], None] | None = None,
) -> FileResult:
    """Read numbered lines of `source` and store them a batch at a time (module docstring);
    `progress(counts)` is called every 1,024 lines. An InputError raised by `lines` (the file
    itself failed) ends the reading: what was read before it is stored."""
    counts = FileResult(source.name)
    pending = _Batch(writer, source, counts, result)
    number = read = 0
    report_at = PROGRESS_LINES if progress is not None else sys.maxsize
    read_message = reader.read_message
    rejects: list[InputError] = []  # the line's rejections, emptied after each line that has some

    def where() -> str:  # the line being read, named only when the slow parser reports it
        return f"{source.name} line {number}"

    batch, add, samples, letters = pending.fill()
    try:
        for read, (number, line) in enumerate(lines, 1):
            if not pending.first_line:
                pending.first_line = number
            batch.message = number
            read_message(line, add, rejects, where)
            if rejects:  # dead letters only grow here
                for error in rejects:
                    pending.reject(error, number, line)
                rejects.clear()
                if len(letters) >= batch_size:
                    pending.flush(number)
                    batch, add, samples, letters = pending.fill()
            if len(samples) >= batch_size:
                pending.flush(number)
                batch, add, samples, letters = pending.fill()
            if read >= report_at and progress is not None:
                counts.read = read
                progress(counts)
                report_at += PROGRESS_LINES
        pending.flush(number)
    except InputError as error:  # the file itself: missing, unreadable, corrupt gzip
        counts.error = error
        _flush_after(pending, number, counts)
    except StoreError as error:  # a batch refused: stop this file (a re-run picks it up)
        counts.not_stored = error
    finally:
        counts.read = read  # kept in a local while reading: one place sets it, whatever ends the file
    return counts


def _flush_after(pending: _Batch, number: int, counts: FileResult) -> None:
    """Store what was read before the file failed."""
    try:
        pending.flush(number)
    except StoreError as error:
        counts.not_stored = error


__all__ = ["EXAMPLES_MAX", "FileResult", "IngestResult", "Source", "ingest_lines"]
