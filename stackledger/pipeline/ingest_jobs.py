"""`stackledger ingest --jobs N` on PostgreSQL: N worker processes share a file's blocks of lines.

Parsing a sample costs ~10 µs of Python and storing it a few more, on one core; PostgreSQL's
share runs in its own process. So that a 2-core machine keeps both cores busy, each of N worker
processes reads the whole file — inflating gzip with ISA-L costs ~0.5 µs a sample, less than
sending the lines to it would — cuts it into the same blocks of whole lines
(`LineFile.blocks(JOB_BYTES)`) and parses and stores block i when i % N is its own share. A
block is stored as one batch (or several, past `ingest.batch_size` samples) through the serial
path (`ingest_lines.ingest_lines`: the same parser, dead letters and error texts), so line
numbers in dead letters and errors are the file's. Workers send back counts, not rows.

What holds as in the serial path: every batch is one transaction; a batch the database refuses
is rolled back and reported with its lines, after which no worker starts a new block, and
running the command again completes the file; a damaged file stores what came before the
damage and is reported once. Blocks finish in any order: samples dedupe on (day, message id) in
the store and revisions are merged under per-resource locks (`store.revisions.lock_resources`),
so the stored result does not depend on that order — but for a message id reused with other
content in two blocks: the sample stored is the one whose block was stored first, the other is
the conflict's dead letter. The first rejections shown are the file's first, as in the serial
path. Standard input is read by the serial path.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import re
from collections import Counter
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event
from typing import Final

from stackledger.collectors.files import LineFile, block_lines
from stackledger.collectors.plausible import Bounds
from stackledger.collectors.sample_fast import FastReader
from stackledger.errors import InputError, StoreError
from stackledger.pipeline.base import after_fork
from stackledger.pipeline.consume_worker import worker_started
from stackledger.pipeline.ingest_lines import EXAMPLES_MAX, FileResult, IngestResult, ingest_lines
from stackledger.pipeline.sample_store import SampleWriter
from stackledger.progress import ProgressBar
from stackledger.settings import Settings
from stackledger.store import Store

# Bytes of whole lines per block, the unit shared out (~80,000 samples of Ceilometer's ~1.2 kB,
# under the default `ingest.batch_size`): a block is a batch, and a batch's fixed costs (a
# transaction, the revisions of every resource it touches) should be a small share of it.
JOB_BYTES: Final = 96 << 20
_WHERE: Final = re.compile(r" line (\d+)(?: sample (\d+))?$")


@dataclass(frozen=True)
class ShareJob:
    """One worker's share of one file (pickled to it)."""

    url: str
    echo: bool
    path: str  # as the user typed it (LineFile names it so in errors)
    share: int  # this worker stores the blocks i with i % shares == share
    shares: int
    batch_size: int
    keep_meters: tuple[str, ...]
    bounds: Bounds


@dataclass(frozen=True)
class ShareDone:
    """What a worker sends back: counts, the first rejections, re-rating days; what stopped it."""

    read: int
    ingested: int
    duplicates: int
    rejected: int
    examples: list[tuple[str, str | None]]  # (reason, where) of the first rejections
    unrated: Counter[str]
    rerate_days: set[dt.date]
    error: tuple[str, str | None] | None  # the file itself failed (reason, where)
    not_stored: str | None  # a batch the database refused


@dataclass(frozen=True)
class _Shared:
    """Set up before the workers fork: a stop signal and progress, shared by all."""

    stop: Event
    lines: Synchronized[int]
    position: Synchronized[int]


_WRITERS: dict[tuple[int, str], SampleWriter] = {}  # per worker process
_READER = FastReader()  # per worker process: remembers each resource's last metadata
_SHARED: list[_Shared] = []  # in a worker: the one set up by its parent


def store_share(job: ShareJob) -> ShareDone:
    """In a worker: the blocks of the file that are this worker's, a batch (or more) each."""
    shared = _SHARED[0]
    _READER.bounds = job.bounds
    key = (os.getpid(), job.url)
    writer = _WRITERS.get(key)
    if writer is None:
        writer = _WRITERS.setdefault(key, SampleWriter(Store(job.url, echo=job.echo), job.keep_meters))
    source = LineFile(job.path)
    counts, result = FileResult(source.name), IngestResult()
    try:
        for first, block in source.blocks(JOB_BYTES, keep=lambda index: index % job.shares == job.share):
            if shared.stop.is_set():
                break
            done = ingest_lines(writer, _READER, source, block_lines(first, block), job.batch_size, result)
            _count(counts, done, shared)
            if done.not_stored is not None:
                shared.stop.set()  # a refused batch: no new blocks (a re-run completes the file)
                break
            with shared.position.get_lock():
                shared.position.value = max(shared.position.value, source.position())
    except InputError as error:  # the file itself: every worker meets it, after its blocks before it
        counts.error = error
    failed = (counts.error.reason, counts.error.where) if counts.error is not None else None
    return ShareDone(counts.read, counts.ingested, counts.duplicates, counts.rejected,
                     [(e.reason, e.where) for e in result.examples], result.unrated_meters, result.rerate_days, failed,
                     str(counts.not_stored) if counts.not_stored is not None else None)  # fmt: skip


def _count(counts: FileResult, done: FileResult, shared: _Shared) -> None:
    counts.read += done.read
    counts.ingested += done.ingested
    counts.duplicates += done.duplicates
    counts.rejected += done.rejected
    counts.not_stored = counts.not_stored or done.not_stored
    with shared.lines.get_lock():
        shared.lines.value += done.read


def _started(parent: int, shared: _Shared) -> None:
    after_fork()
    worker_started(parent)
    _SHARED[:] = [shared]


class Workers:
    """`jobs` forked worker processes, each storing its share of every file."""

    def __init__(self, settings: Settings, jobs: int) -> None:
        self.settings, self.jobs = settings, jobs
        context = multiprocessing.get_context("fork")
        self.shared = _Shared(context.Event(), context.Value("q", 0), context.Value("q", 0))
        self.pool = ProcessPoolExecutor(
            jobs, mp_context=context, initializer=_started, initargs=(os.getpid(), self.shared)
        )

    def shutdown(self) -> None:
        self.pool.shutdown()

    def ingest(self, source: LineFile, bounds: Bounds, result: IngestResult, bar: ProgressBar | None) -> FileResult:
        """The file through every worker; their counts added up (errors and examples once)."""
        self.shared.stop.clear()
        self.shared.lines.value = self.shared.position.value = 0
        cfg = self.settings
        jobs = [ShareJob(cfg.database.url, cfg.database.echo, source.path, share, self.jobs, cfg.ingest.batch_size,
                         tuple(cfg.ingest.keep_meters), bounds) for share in range(self.jobs)]  # fmt: skip
        running = [self.pool.submit(store_share, job) for job in jobs]
        while wait(running, timeout=0.2, return_when=FIRST_EXCEPTION).not_done:
            if bar is not None:
                bar.update(self.shared.position.value, source.size, f"{self.shared.lines.value:,} lines")
        counts = FileResult(source.name)
        examples: list[tuple[str, str | None]] = []
        for future in running:
            done = future.result()
            _add(done, counts, result)
            examples += done.examples
        # In file order, as one process gives them: each worker sent its first ones.
        examples.sort(key=lambda example: _line_number(example[1]))
        room = max(EXAMPLES_MAX - len(result.examples), 0)
        result.examples += [InputError(reason, where=where) for reason, where in examples[:room]]
        return counts


def _line_number(where: str | None) -> tuple[int, int]:
    """(line, sample) of "samples.jsonl line 12 sample 3", for sorting."""
    found = _WHERE.search(where or "")
    return (int(found[1]), int(found[2] or 0)) if found else (0, 0)


def _add(done: ShareDone, counts: FileResult, result: IngestResult) -> None:
    counts.read += done.read
    counts.ingested += done.ingested
    counts.duplicates += done.duplicates
    counts.rejected += done.rejected
    result.unrated_meters.update(done.unrated)
    result.rerate_days |= done.rerate_days
    if done.error is not None and counts.error is None:
        counts.error = InputError(done.error[0], where=done.error[1])
    if done.not_stored is not None and counts.not_stored is None:
        counts.not_stored = StoreError(done.not_stored)


def start(settings: Settings, store: Store, jobs: int) -> Workers | None:
    """Worker processes for `jobs` > 1 on PostgreSQL (where writers run side by side), else None:
    the command reads and stores by itself."""
    if jobs <= 1 or store.dialect != "postgresql" or "fork" not in multiprocessing.get_all_start_methods():
        return None
    return Workers(settings, jobs)


__all__ = ["JOB_BYTES", "ShareDone", "ShareJob", "Workers", "start", "store_share"]
