"""Samples in: JSON-lines files → compact `sample_rows`; bad lines → `dead_letters`; late data → `rerate_days`.

Each line goes through the fast parser (`collectors.sample_fast`, exactly `parse_message`'s
results); each batch of `ingest.batch_size` samples is stored in one transaction together with
its dead letters, attribute revisions and re-rating marks (`sample_store.SampleWriter`, shared
with the Kafka consumer), so a crash leaves whole batches behind and a re-run only adds what is
missing: samples dedupe on (UTC day, message id) as long as their day's raw samples are kept,
dead letters on a fingerprint of (origin, location, payload). Samples of meters StackLedger does
not rate are counted per meter and not stored (`ingest.keep_meters` keeps named ones).

On PostgreSQL, `ingest.jobs` (`--jobs`) > 1 parses and stores a file in that many worker
processes, each taking its share of the file's blocks of lines (`pipeline.ingest_jobs`); the
stored samples, dead letters and counts are the same.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from functools import partial

from stackledger.collectors.files import LineFile
from stackledger.collectors.plausible import Bounds
from stackledger.collectors.sample_fast import FastReader
from stackledger.pipeline import ingest_jobs
from stackledger.pipeline.base import store_for
from stackledger.pipeline.consume_worker import fewer_gc_passes, keep_freed_memory
from stackledger.pipeline.ingest_lines import EXAMPLES_MAX, FileResult, IngestResult, ingest_lines
from stackledger.pipeline.sample_store import SampleWriter
from stackledger.progress import ProgressBar
from stackledger.settings import Settings
from stackledger.window import utcnow

log = logging.getLogger(__name__)


def ingest_paths(
    settings: Settings,
    paths: Sequence[str],
    *,
    progress: bool = False,
    now: dt.datetime | None = None,
    jobs: int | None = None,
) -> IngestResult:
    """Ingest JSON-lines sample files (`-` is stdin). Never raises for bad input: unreadable files
    and bad lines are reported on the result (and bad lines stored as dead letters). Samples
    dated after `now` (default: the clock) plus `ingest.plausible_ahead_hours` are bad lines.
    `jobs` (default `ingest.jobs`): worker processes parsing and storing, on PostgreSQL."""
    bounds = plausible_bounds(settings, now or utcnow())
    keep_freed_memory()  # before the workers fork: they inherit it
    store = store_for(settings)
    workers = ingest_jobs.start(settings, store, jobs or settings.ingest.jobs)
    writer = SampleWriter(store, settings.ingest.keep_meters)
    reader = FastReader(bounds)
    result = IngestResult()
    try:
        with fewer_gc_passes():
            for path in paths:
                _ingest_path(settings, path, writer, reader, workers, bounds, result, progress)
    finally:
        if workers is not None:
            workers.shutdown()
    log.debug("ingest: %d messages read the fast way, %d by the full parser", reader.fast, reader.slow)
    return result


def _ingest_path(settings: Settings, path: str, writer: SampleWriter, reader: FastReader,
                 workers: ingest_jobs.Workers | None, bounds: Bounds, result: IngestResult,
                 progress: bool) -> None:  # fmt: skip
    source = LineFile(path)
    bar = ProgressBar(source.name) if progress else None
    try:
        if workers is not None and not source.is_stdin:
            counts = workers.ingest(source, bounds, result, bar)
        else:
            update = partial(_progress, bar, source) if bar is not None else None
            counts = ingest_lines(writer, reader, source, source.lines(), settings.ingest.batch_size, result, update)
    finally:
        if bar is not None:
            bar.close()
    result.add(counts)
    if counts.error is not None and counts.read == 0:
        log.info("ingest %s: %s", source.name, counts.error.reason)
        return
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


def _progress(bar: ProgressBar, source: LineFile, counts: FileResult) -> None:
    bar.update(source.position(), source.size, f"{counts.read:,} lines")


def plausible_bounds(settings: Settings, now: dt.datetime) -> Bounds:
    """The timestamps a sample read at `now` may carry (`ingest.plausible_from`, `…_ahead_hours`)."""
    earliest = dt.datetime.combine(settings.ingest.plausible_from, dt.time())
    return Bounds(now, earliest, dt.timedelta(hours=settings.ingest.plausible_ahead_hours))


__all__ = ["EXAMPLES_MAX", "FileResult", "IngestResult", "ingest_paths", "plausible_bounds"]
