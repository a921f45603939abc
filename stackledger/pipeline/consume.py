"""Samples in from Kafka: a consumer group → `samples` and `dead_letters`, offsets committed after.

The loop, and why it is crash-safe:

1. poll records and parse them (`collectors.kafka.parse_records`) into a pending batch, kept per
   partition with the next offset to commit;
2. when the batch holds `kafka.batch_size` samples, is `batch_timeout_ms` old, or the topic has
   nothing more right now, store its samples AND dead letters in ONE transaction;
3. only after that transaction committed, commit exactly the batch's offsets (last offset + 1 per
   partition) to the group.

A crash before 3 leaves offsets where they were, so the batch is read again and its samples dedupe
on `message_id` (dead letters on their fingerprint): nothing is lost, nothing counted twice. A
database failure is retried with backoff and then raised, never followed by a commit.

Storing runs on one worker thread while the main thread polls and parses the next batch (the
database works on its own CPU); at most one batch is in flight, and its offsets are committed by
the main thread, because a `KafkaConsumer` belongs to one thread.

Rebalances: the listener only notes revoked partitions; after each poll the loop drops the pending
(unstored, uncommitted) records of those partitions, which their next owner reads again. A batch
already being stored is finished and its commit attempted; if the group has moved on, the commit
is refused, which is harmless: the rows are stored, and the re-read dedupes.
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
import threading
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Final

from kafka import TopicPartition
from kafka.errors import (
    CommitFailedError,
    FencedInstanceIdError,
    IllegalGenerationError,
    KafkaError,
    RebalanceInProgressError,
    UnknownMemberIdError,
)
from kafka.structs import OffsetAndMetadata
from sqlalchemy import exc as sa_exc

from collectors.kafka import PartitionBatch, Rebalances, lag_line, open_consumer, parse_records
from stackledger.errors import StackLedgerError, StoreError
from stackledger.pipeline.base import store_for
from stackledger.pipeline.sample_store import DeadLetter, store_dead_letters, store_samples
from stackledger.settings import KafkaSettings, Settings
from stackledger.store import Store

log = logging.getLogger(__name__)

# Parsing allocates ~30 dicts and lists per sample, all acyclic and freed by reference counting once
# the batch is stored; at CPython's default gen-0 threshold (700) the cyclic collector re-scans the
# pending batch so often that it costs a quarter of the parse time. Raised for the loop, then restored.
GC_THRESHOLD: Final = (1000000,100,100)
POLL_MAX_MS: Final = 500  # the longest a poll blocks, so a stop request is seen quickly
BACKOFF_MAX_S: Final = 30.0
# The group moved on while we stored: the rows are in, the re-read after the rebalance dedupes.
_REBALANCED: Final = (CommitFailedError, RebalanceInProgressError, IllegalGenerationError, UnknownMemberIdError,
                      FencedInstanceIdError)  # fmt: skip


@dataclass
class ConsumeResult:
    """Counts for one run. `messages` are Kafka records; the others count samples (a record that
    is not a usable message at all counts as one rejection)."""

    topic: str
    group_id: str
    messages: int = 0
    ingested: int = 0
    duplicates: int = 0
    rejected: int = 0
    batches: int = 0
    dropped_on_rebalance: int = 0  # records read, then given back unstored when their partition moved
    commits_refused: int = 0  # stored batches whose offset commit the group refused (re-read, deduped)
    partitions: Counter[int] = field(default_factory=Counter)  # records stored per partition
    rerate_days: set[dt.date] = field(default_factory=set)
    stopped: str = ""  # why the loop ended: "signal", "idle", "max messages"
    first_record_at: float | None = None  # time.monotonic() of the first record polled
    last_commit_at: float | None = None  # time.monotonic() after the last batch was stored and committed

    @property
    def busy_seconds(self) -> float:
        """From the first record to the last commit: the ingest time, without group join or idling."""
        if self.first_record_at is None or self.last_commit_at is None:
            return 0.0
        return self.last_commit_at - self.first_record_at


@dataclass
class _Batch:
    parts: dict[TopicPartition, PartitionBatch] = field(default_factory=dict)
    samples: int = 0
    started: float = 0.0  # monotonic time of its first record

    def __bool__(self) -> bool:
        return bool(self.parts)

    def drop(self, revoked: set[TopicPartition]) -> int:
        dropped = 0
        for tp in revoked & self.parts.keys():
            part = self.parts.pop(tp)
            dropped += part.messages
            self.samples -= len(part.rows) + len(part.rejected)
        return dropped


@dataclass(frozen=True)
class _Stored:
    inserted: int
    duplicates: int
    rejected: int
    rerate_days: set[dt.date]


def consume(
    settings: Settings,
    *,
    topic: str | None = None,
    group_id: str | None = None,
    until_idle: float | None = None,
    max_messages: int | None = None,
    stop: threading.Event | None = None,
) -> ConsumeResult:
    """Consume `topic` (default `kafka.topic`) in `group_id` (default `kafka.group_id`) into the store
    until `stop` is set, `until_idle` seconds pass without a record, or `max_messages` records are
    stored. Returns the counts; raises `StoreError` when the database stays down (offsets of what
    was not stored are never committed) and `SourceError` when Kafka does."""
    loop = _Loop(settings, topic or settings.kafka.topic, group_id or settings.kafka.group_id, stop)
    previous = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLD)
    try:
        return loop.run(until_idle=until_idle, max_messages=max_messages)
    finally:
        gc.set_threshold(*previous)


class _Loop:
    def __init__(self, settings: Settings, topic: str, group_id: str, stop: threading.Event | None) -> None:
        self.cfg: KafkaSettings = settings.kafka
        self.store: Store = store_for(settings)
        self.topic, self.group_id = topic, group_id
        self.origin = f"kafka:{topic}"
        self.stop = stop or threading.Event()
        self.result = ConsumeResult(topic, group_id)
        self.rebalances = Rebalances()
        self.pending = _Batch()
        self.inflight: tuple[_Batch, Future[_Stored]] | None = None
        self.done: dict[TopicPartition, int] = {}  # next offset stored and committed (or read), for the lag
        self.consumer: Any = None
        self._partitions_known_at: float | None = None
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stackledger-store")

    # -------------------------------------------------------------- the loop

    def run(self, *, until_idle: float | None, max_messages: int | None) -> ConsumeResult:
        cfg = self.cfg
        self.consumer = open_consumer(cfg, self.topic, self.group_id, self.rebalances, stop=self.stop)
        log.info("consume %s as group %s (batch %d samples or %d ms)", self.topic, self.group_id,
                 cfg.batch_size, cfg.batch_timeout_ms)  # fmt: skip
        started = time.monotonic()
        last_record = started
        next_lag_log = started + cfg.lag_log_interval_s
        poll_errors = 0
        clean = False
        try:
            while not self.stop.is_set():
                budget = None if max_messages is None else max_messages - self.result.messages - self._unstored()
                if budget is not None and budget <= 0:
                    self.result.stopped = "max messages"
                    break
                try:
                    polled = self.consumer.poll(timeout_ms=self._poll_timeout_ms(),
                                                max_records=min(cfg.max_poll_records, budget or cfg.max_poll_records))
                    poll_errors = 0
                except KafkaError as error:
                    poll_errors = self._poll_failed(error, poll_errors)
                    continue
                now = time.monotonic()
                self._drop_revoked()
                if polled:
                    self._add(polled, now)
                    last_record = now
                if self.inflight is not None and self.inflight[1].done():
                    self._finish_inflight()
                if self.pending and (not polled or self._full(now)):
                    self._submit()
                if now >= next_lag_log:
                    log.info(lag_line(self.consumer, self.topic, self.group_id, self.done, self.rebalances.assigned))
                    next_lag_log = now + cfg.lag_log_interval_s
                if until_idle is not None and self._idle(now, last_record, started, until_idle):
                    self.result.stopped = "idle"
                    break
            else:
                self.result.stopped = "signal"
            self._flush()
            clean = True
        finally:
            self._close(clean)
        self._log_result()
        return self.result

    def _poll_timeout_ms(self) -> int:
        if not self.pending:
            return POLL_MAX_MS
        left = self.pending.started + self.cfg.batch_timeout_ms / 1000 - time.monotonic()
        return max(0, min(POLL_MAX_MS, int(left * 1000)))

    def _poll_failed(self, error: KafkaError, failures: int) -> int:
        if not error.retriable:
            raise StackLedgerError(f"kafka: poll failed: {error}") from error
        delay = min(self.cfg.retry_backoff_s * 2**failures, BACKOFF_MAX_S)
        log.warning("kafka: poll failed (%s); retrying in %.1f s", error, delay)
        self.stop.wait(delay)
        return failures + 1

    def _unstored(self) -> int:
        """Records read but not yet counted in `result.messages` (pending and in flight)."""
        pending = sum(part.messages for part in self.pending.parts.values())
        inflight = sum(part.messages for part in self.inflight[0].parts.values()) if self.inflight else 0
        return pending + inflight

    def _add(self, polled: dict[TopicPartition, list[Any]], now: float) -> None:
        if self.result.first_record_at is None:
            self.result.first_record_at = now
        if not self.pending:
            self.pending.started = now
        for tp, records in polled.items():
            part = self.pending.parts.get(tp)
            if part is None:
                part = self.pending.parts[tp] = PartitionBatch(next_offset=records[0].offset)
            before = len(part.rows) + len(part.rejected)
            parse_records(records, self.origin, part, max_message_bytes=self.cfg.max_message_bytes)
            self.pending.samples += len(part.rows) + len(part.rejected) - before
            self.done.setdefault(tp, records[0].offset)

    def _full(self, now: float) -> bool:
        age = now - self.pending.started
        return self.pending.samples >= self.cfg.batch_size or age >= self.cfg.batch_timeout_ms / 1000

    def _drop_revoked(self) -> None:
        revoked = self.rebalances.take_revoked()
        if not revoked:
            return
        dropped = self.pending.drop(revoked)
        for tp in revoked:
            self.done.pop(tp, None)
        if dropped:
            self.result.dropped_on_rebalance += dropped
            log.info("kafka: rebalance: %d unstored record(s) of revoked partitions left for their next owner",
                     dropped)

    def _idle(self, now: float, last_record: float, started: float, until_idle: float) -> bool:
        if self.pending or self.inflight is not None:
            return False
        since = self._member_since(now)
        if since is None:  # still joining the group: not idle yet, but do not wait forever
            join_limit = until_idle + self.cfg.session_timeout_ms / 1000 + 60
            if now - started > join_limit:
                raise StackLedgerError(f"kafka: no partition of {self.topic} assigned by group {self.group_id} "
                                       f"within {join_limit:.0f} s (does the topic exist?)")  # fmt: skip
            return False
        return now - max(last_record, since) >= until_idle

    def _member_since(self, now: float) -> float | None:
        """When this consumer last got a settled assignment, or None while it has none. An empty
        assignment counts only once the topic's partitions are known (a group with more members than
        partitions): a first join before the topic's metadata arrived assigns nothing, then rejoins."""
        assigned_at = self.rebalances.assigned_at
        if assigned_at is None:
            return None
        if self.rebalances.assigned:
            return assigned_at
        if self._partitions_known_at is None:
            if not self.consumer.partitions_for_topic(self.topic):
                return None
            self._partitions_known_at = now
        return max(assigned_at, self._partitions_known_at)

    # -------------------------------------------------------------- store, then commit

    def _submit(self) -> None:
        """Store the pending batch on the worker (after the previous one is stored and committed)."""
        self._finish_inflight()
        batch, self.pending = self.pending, _Batch()
        self.inflight = (batch, self.worker.submit(self._store, batch))

    def _flush(self) -> None:
        self._finish_inflight()
        if self.pending:
            self._submit()
            self._finish_inflight()

    def _finish_inflight(self) -> None:
        """Wait for the in-flight batch: retry its transaction while the database fails (never
        committing offsets meanwhile), then commit its offsets."""
        if self.inflight is None:
            return
        batch, future = self.inflight
        delay = self.cfg.retry_backoff_s
        attempt = 1
        while True:
            try:
                stored = future.result()
                break
            except StoreError as error:
                if attempt >= self.cfg.retry_attempts or self.stop.is_set():
                    self.inflight = None
                    raise StoreError(f"{error} (batch of {batch.samples} samples not stored after {attempt} "
                                     "tries; its offsets were not committed)") from error  # fmt: skip
                log.warning("store failed (%s); retrying the batch in %.1f s", error, delay)
                self.stop.wait(delay)
                delay = min(delay * 2, BACKOFF_MAX_S)
                attempt += 1
                future = self.worker.submit(self._store, batch)
        self.inflight = None
        self._commit(batch)
        result = self.result
        result.batches += 1
        result.ingested += stored.inserted
        result.duplicates += stored.duplicates
        result.rejected += stored.rejected
        result.rerate_days |= stored.rerate_days
        for tp, part in batch.parts.items():
            result.messages += part.messages
            result.partitions[tp.partition] += part.messages
        result.last_commit_at = time.monotonic()

    def _store(self, batch: _Batch) -> _Stored:
        """One transaction: the batch's samples and its dead letters (runs on the worker thread)."""
        rows: list[dict[str, Any]] = []
        letters: list[DeadLetter] = []
        for part in batch.parts.values():
            rows.extend(part.rows)
            letters.extend(DeadLetter.for_error(self.origin, r.location, r.error, r.raw) for r in part.rejected)
        marked: set[dt.date] = set()
        try:
            with self.store.transaction() as conn:
                inserted, duplicates = store_samples(self.store, conn, rows, marked=marked)
                store_dead_letters(self.store, conn, letters)
        except sa_exc.DBAPIError as error:  # not an OperationalError (those are StoreErrors already)
            raise StoreError(f"database error: {error.orig}") from error
        log.debug("stored batch: %d samples (%d new), %d dead letters", len(rows), inserted, len(letters))
        return _Stored(inserted, duplicates, len(letters), marked)

    def _commit(self, batch: _Batch) -> None:
        offsets = {tp: OffsetAndMetadata(part.next_offset, "", -1) for tp, part in batch.parts.items()}
        delay = self.cfg.retry_backoff_s
        for attempt in range(1, self.cfg.retry_attempts + 1):
            try:
                self.consumer.commit(offsets)
            except _REBALANCED as error:
                self._refused(error)
                return
            except KafkaError as error:
                if not error.retriable or attempt == self.cfg.retry_attempts:
                    self._refused(error)
                    return
                log.warning("kafka: offset commit failed (%s); retrying in %.1f s", error, delay)
                time.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX_S)
            else:
                for tp, meta in offsets.items():
                    self.done[tp] = meta.offset
                return

    def _refused(self, error: KafkaError) -> None:
        self.result.commits_refused += 1
        log.warning("kafka: offsets not committed (%s): the batch is stored; its records will be read again "
                    "and deduplicated", error)  # fmt: skip

    # -------------------------------------------------------------- shutdown

    def _close(self, clean: bool) -> None:
        if not clean and self.inflight is not None:
            # An error or a second signal: let the transaction finish or fail, but commit nothing.
            self.inflight[1].exception()
        self.inflight = None
        self.worker.shutdown(wait=True)
        if self.consumer is not None:
            try:
                self.consumer.close(autocommit=False)
            except KafkaError as error:
                log.warning("kafka: closing the consumer: %s", error)

    def _log_result(self) -> None:
        r = self.result
        rate = (r.ingested + r.duplicates + r.rejected) / r.busy_seconds if r.busy_seconds else 0.0
        log.info(
            "consume %s: %d messages from partitions %s, ingested %d, duplicates %d, rejected %d "
            "in %d batches (%.0f samples/s); stopped: %s",
            self.topic, r.messages, ",".join(map(str, sorted(r.partitions))) or "none", r.ingested, r.duplicates,
            r.rejected, r.batches, rate, r.stopped or "error",
        )  # fmt: skip


__all__ = ["ConsumeResult", "consume"]
