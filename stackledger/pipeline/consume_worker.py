"""The worker side of `stackledger consume`: parse a batch of Kafka records and store it, in one
transaction, in a process of its own (or a thread, without PostgreSQL or with `kafka.workers: 0`).

The consumer loop (`stackledger.pipeline.consume`) polls, batches and commits offsets; it hands
each batch here as a `Job` (pickled to the worker: plain records, no parsed rows) and commits the
batch's offsets only once `store_job` has returned. Workers are forked before the Kafka client
starts its IO thread, ignore SIGINT/SIGTERM (the loop decides when to stop) and exit if the
consumer dies, which rolls back a transaction in progress.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import gc
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final

from stackledger.collectors.plausible import Bounds
from stackledger.collectors.sample_fast import FastReader
from stackledger.errors import InputError
from stackledger.pipeline.sample_batch import SampleBatch
from stackledger.pipeline.sample_store import SampleWriter, dead_letter
from stackledger.settings import KafkaSettings
from stackledger.store import Store
from stackledger.store.refused import as_store_error

# Parsing allocates ~30 dicts and lists per sample, all acyclic and freed by reference counting once
# the batch is stored; at CPython's default gen-0 threshold (700) the cyclic collector re-scans the
# pending batch so often that it costs a quarter of the parse time. Raised for the consumer loop
# (then restored) and in the worker processes.
GC_THRESHOLD: Final = (100_000, 50, 100)
_M_TRIM_THRESHOLD: Final = -1  # glibc's malloc.h
_M_MMAP_THRESHOLD: Final = -3
_MALLOC_MMAP: Final = 32 << 20  # the largest glibc takes
_MALLOC_KEEP: Final = 64 << 20


@contextmanager
def fewer_gc_passes() -> Iterator[None]:
    """Run the block with `GC_THRESHOLD`, then restore the thresholds it found."""
    previous = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLD)
    try:
        yield
    finally:
        gc.set_threshold(*previous)


@dataclass(frozen=True)
class Job:
    """What a worker needs to parse and store one batch (pickled to worker processes)."""

    url: str
    echo: bool
    origin: str
    max_message_bytes: int
    records: dict[int, list[tuple[int, bytes | None]]]
    keep_meters: tuple[str, ...] = ()  # `ingest.keep_meters`
    bounds: Bounds | None = None  # the plausible samples when the batch was cut (`collectors.plausible`)


@dataclass(frozen=True)
class Stored:
    """What a worker reports back: counts, and the rated days it marked for re-rating."""

    inserted: int
    duplicates: int
    rejected: int  # dead letters: bad records and samples, conflicts, samples of retired days
    rerate_days: set[dt.date]


_WRITERS: dict[tuple[int, str], SampleWriter] = {}  # per process: a forked worker must not use its parent's pool
_READER = FastReader()  # per process: remembers each resource's last metadata and what it states


def store_job(job: Job) -> Stored:
    """Parse a batch and store its samples and dead letters in one transaction (in a worker), the
    way file ingest does (`collectors.sample_fast`, `pipeline.sample_store.SampleWriter`)."""
    positions: list[tuple[int, int]] = []  # message key -> (partition, offset)
    batch = SampleBatch(job.origin, lambda key: _location(*positions[key]))
    _READER.bounds = job.bounds
    for partition, records in job.records.items():
        for offset, value in records:
            batch.message = len(positions)
            positions.append((partition, offset))
            for error in _read(_READER, batch, job, partition, offset, value):
                batch.letters.append(dead_letter(job.origin, _location(partition, offset), error, value or b""))
    key = (os.getpid(), job.url)
    writer = _WRITERS.get(key)
    if writer is None:
        writer = _WRITERS.setdefault(key, SampleWriter(Store(job.url, echo=job.echo), job.keep_meters))
    with as_store_error():
        written = writer.write(batch, _span(job.records))
    return Stored(written.inserted, written.duplicates, len(batch.letters) + len(written.refused),
                  written.rerate_days)  # fmt: skip


def _read(reader: FastReader, batch: SampleBatch, job: Job, partition: int, offset: int,
          value: bytes | None) -> list[InputError]:  # fmt: skip
    """One record's samples into the batch; its errors returned."""
    where = f"{job.origin} partition {partition} offset {offset}"
    if value is None:
        return [InputError("null value (a tombstone), not a message", where=where)]
    if len(value) > job.max_message_bytes:
        reason = f"message of {len(value):,} bytes is over kafka.max_message_bytes ({job.max_message_bytes:,})"
        return [InputError(reason, where=where)]
    errors: list[InputError] = []
    reader.read_message(value, batch.add, errors, lambda: where)
    return errors


def _location(partition: int, offset: int) -> str:
    return f"partition {partition} offset {offset}"


def _span(records: dict[int, list[tuple[int, bytes | None]]]) -> str:
    """The batch's place in the topic, as `sample_batches.locations` keeps it."""
    return "; ".join(f"partition {p} offsets {r[0][0]}-{r[-1][0]}" for p, r in sorted(records.items()) if r)


def keep_freed_memory() -> None:
    """Let glibc's malloc keep memory it is given back (up to `_MALLOC_KEEP` bytes), and serve
    blocks below `_MALLOC_MMAP` bytes from it, for the rest of the process. Ingest allocates and
    frees a megabyte of inflated text, lines of ~1.2 kB and a batch's columns over and over; by
    default each of those goes back to the kernel and comes again as fresh zeroed pages (~0.5 µs
    of system CPU a sample). Elsewhere (not glibc) nothing changes."""
    if not sys.platform.startswith("linux"):
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
        mallopt(_M_MMAP_THRESHOLD, _MALLOC_MMAP)
        mallopt(_M_TRIM_THRESHOLD, _MALLOC_KEEP)
    except (OSError, AttributeError):  # a libc without mallopt (musl)
        return


def worker_started(parent: int) -> None:
    """In each worker process: signals are the parent's business; die with the parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    gc.set_threshold(*GC_THRESHOLD)
    keep_freed_memory()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)  # orphaned (the consumer was killed): an open transaction rolls back

    threading.Thread(target=watch, name="stackledger-parent-watch", daemon=True).start()


def start_workers(cfg: KafkaSettings, store: Store) -> tuple[Executor, int]:
    """(executor, how many batches may be in flight): `kafka.workers` processes, or one thread."""
    if cfg.workers > 0 and store.dialect == "postgresql" and "fork" in multiprocessing.get_all_start_methods():
        workers = ProcessPoolExecutor(cfg.workers, mp_context=multiprocessing.get_context("fork"),
                                      initializer=worker_started, initargs=(os.getpid(),))  # fmt: skip
        workers.submit(int).result()  # fork them all now, before the Kafka client starts its IO thread
        return workers, cfg.workers
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="stackledger-store"), 1


def dispose_store(url: str) -> None:
    """Close this process's connections to `url` (a worker thread's, when there were no processes)."""
    own = _WRITERS.pop((os.getpid(), url), None)
    if own is not None and own.store is not None:
        own.store.dispose()


__all__ = [
    "GC_THRESHOLD",
    "Job",
    "Stored",
    "dispose_store",
    "fewer_gc_passes",
    "keep_freed_memory",
    "start_workers",
    "store_job",
    "worker_started",
]
