"""The worker side of `stackledger consume`: parse a batch of Kafka records and store it, in one
transaction, in a process of its own (or a thread, without PostgreSQL or with `kafka.workers: 0`).

The consumer loop (`stackledger.pipeline.consume`) polls, batches and commits offsets; it hands
each batch here as a `Job` (pickled to the worker: plain records, no parsed rows) and commits the
batch's offsets only once `store_job` has returned. Workers are forked before the Kafka client
starts its IO thread, ignore SIGINT/SIGTERM (the loop decides when to stop) and exit if the
consumer dies, which rolls back a transaction in progress.
"""

from __future__ import annotations

import datetime as dt
import gc
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final

from stackledger.collectors.kafka import Rejected, iter_rows
from stackledger.pipeline.sample_store import dead_letter, store_dead_letters, store_sample_stream
from stackledger.settings import KafkaSettings
from stackledger.store import Store
from stackledger.store.refused import as_store_error

# Parsing allocates ~30 dicts and lists per sample, all acyclic and freed by reference counting once
# the batch is stored; at CPython's default gen-0 threshold (700) the cyclic collector re-scans the
# pending batch so often that it costs a quarter of the parse time. Raised for the consumer loop
# (then restored) and in the worker processes.
GC_THRESHOLD: Final = (100_000, 50, 100)


@dataclass(frozen=True)
class Job:
    """What a worker needs to parse and store one batch (pickled to worker processes)."""

    url: str
    echo: bool
    origin: str
    max_message_bytes: int
    records: dict[int, list[tuple[int, bytes | None]]]


@dataclass(frozen=True)
class Stored:
    """What a worker reports back: counts, and the rated days it marked for re-rating."""

    inserted: int
    duplicates: int
    rejected: int
    rerate_days: set[dt.date]


_STORES: dict[tuple[int, str], Store] = {}  # per process: a forked worker must not use its parent's pool


def store_job(job: Job) -> Stored:
    """Parse a batch and store its samples and dead letters in one transaction (in a worker). The
    records are parsed as the samples are written, never all at once (`store_sample_stream`)."""
    rejected: list[Rejected] = []

    def rows() -> Iterator[dict[str, Any]]:
        rejected.clear()  # called again when the batch has to be written another way
        for partition, records in job.records.items():
            yield from iter_rows(partition, records, job.origin, rejected, max_message_bytes=job.max_message_bytes)

    key = (os.getpid(), job.url)
    store = _STORES.get(key) or _STORES.setdefault(key, Store(job.url, echo=job.echo))
    marked: set[dt.date] = set()
    with as_store_error(), store.transaction() as conn:
        inserted, duplicates = store_sample_stream(store, conn, rows, marked=marked)
        letters = [dead_letter(job.origin, r.location, r.error, r.raw) for r in rejected]
        store_dead_letters(store, conn, letters)
    return Stored(inserted, duplicates, len(letters), marked)


def _worker_started(parent: int) -> None:
    """In each worker process: signals are the parent's business; die with the parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    gc.set_threshold(*GC_THRESHOLD)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)  # orphaned (the consumer was killed): an open transaction rolls back

    threading.Thread(target=watch, name="stackledger-parent-watch", daemon=True).start()


def start_workers(cfg: KafkaSettings, store: Store) -> tuple[Executor, int]:
    """(executor, how many batches may be in flight): `kafka.workers` processes, or one thread."""
    if cfg.workers > 0 and store.dialect == "postgresql" and "fork" in multiprocessing.get_all_start_methods():
        workers = ProcessPoolExecutor(cfg.workers, mp_context=multiprocessing.get_context("fork"),
                                      initializer=_worker_started, initargs=(os.getpid(),))  # fmt: skip
        workers.submit(int).result()  # fork them all now, before the Kafka client starts its IO thread
        return workers, cfg.workers
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="stackledger-store"), 1


def dispose_store(url: str) -> None:
    """Close this process's connections to `url` (a worker thread's, when there were no processes)."""
    own = _STORES.pop((os.getpid(), url), None)
    if own is not None:
        own.dispose()


__all__ = ["GC_THRESHOLD", "Job", "Stored", "dispose_store", "start_workers", "store_job"]
