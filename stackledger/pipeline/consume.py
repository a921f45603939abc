"""Samples in from Kafka: a consumer group → `samples` and `dead_letters`, offsets committed after.

The loop, and why it is crash-safe:

1. poll records into a pending batch, kept per partition;
2. when the batch holds `kafka.batch_size` records (or `batch_max_bytes`), is `batch_timeout_ms`
   old, or the topic has nothing more right now, hand it to a worker, which parses it
   (`collectors.kafka.iter_rows`) as it stores its samples, then its dead letters, in ONE transaction;
3. only after that transaction committed, and those of every earlier batch, commit exactly the
   batch's offsets (last offset + 1 per partition) to the group.

A crash before 3 leaves offsets where they were, so the batch is read again and its samples dedupe
on `message_id` (dead letters on their fingerprint): nothing is lost, nothing counted twice. A
database failure is retried with backoff and then raised, never followed by a commit.

Workers (`stackledger.pipeline.consume_worker`): `kafka.workers` processes forked before the Kafka
client starts (PostgreSQL only), each with its own connection, so parsing and storing run beside
polling instead of sharing its GIL; with 0 workers, or on SQLite, one thread. Up to one batch per
worker is in flight; offsets are committed in batch order, by the main thread, because a
`KafkaConsumer` belongs to one thread. Workers ignore SIGINT/SIGTERM (the main process decides when
to stop) and exit if it dies.

The invariant: an offset is committed for a partition only when every record of that partition
below it is stored. Rebalances keep it: the listener only notes revoked partitions; after each poll
the loop drops the pending (unsubmitted) records of the partitions it lost, which their next owner
reads again from the committed offset, and keeps those of partitions assigned back, as its fetch
position has moved past them. Batches already in flight are finished and their commits attempted;
if the group has moved on, a commit is refused, which is harmless: the rows are stored, and the
re-read dedupes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
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

from stackledger.collectors.kafka import Rebalances, lag_line, open_consumer
from stackledger.errors import StackLedgerError, StoreError
from stackledger.pipeline.base import store_for
from stackledger.pipeline.consume_batch import Batch, ConsumeResult
from stackledger.pipeline.consume_worker import (
    Job,
    Stored,
    dispose_store,
    fewer_gc_passes,
    keep_freed_memory,
    start_workers,
    store_job,
)
from stackledger.pipeline.ingest import plausible_bounds
from stackledger.settings import KafkaSettings, Settings
from stackledger.store import Store
from stackledger.window import utcnow

log = logging.getLogger(__name__)

POLL_MAX_MS: Final = 500  # the longest a poll blocks, so a stop request is seen quickly
FINAL_COMMIT_S: Final = 15.0  # at the end, how long to wait out a rebalance to commit refused offsets
BACKOFF_MAX_S: Final = 30.0
# The group moved on while we stored: the rows are in, the re-read after the rebalance dedupes.
_REBALANCED: Final = (CommitFailedError, RebalanceInProgressError, IllegalGenerationError, UnknownMemberIdError,
                      FencedInstanceIdError)  # fmt: skip


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
    keep_freed_memory()  # before the workers fork: they inherit it
    with fewer_gc_passes():
        loop = _Loop(settings, topic or settings.kafka.topic, group_id or settings.kafka.group_id, stop)
        return loop.run(until_idle=until_idle, max_messages=max_messages)


# ------------------------------------------------------------------ the loop


class _Loop:
    def __init__(self, settings: Settings, topic: str, group_id: str, stop: threading.Event | None) -> None:
        self.cfg: KafkaSettings = settings.kafka
        self.store: Store = store_for(settings)
        self.url, self.echo = settings.database.url, settings.database.echo
        self.keep_meters = tuple(settings.ingest.keep_meters)
        self.settings = settings
        self.topic, self.group_id = topic, group_id
        self.origin = f"kafka:{topic}"
        self.stop = stop or threading.Event()
        self.result = ConsumeResult(topic, group_id)
        self.rebalances = Rebalances()
        self.pending = Batch()
        self.inflight: deque[tuple[Batch, Future[Stored]]] = deque()
        self.done: dict[TopicPartition, int] = {}  # next offset committed (or read), for the lag line
        self.uncommitted: dict[TopicPartition, int] = {}  # stored, but the group refused the commit
        self.consumer: Any = None
        self._partitions_known_at: float | None = None
        self.workers, self.depth = start_workers(self.cfg, self.store)
        self.result.workers = self.cfg.workers if isinstance(self.workers, ProcessPoolExecutor) else 0

    def run(self, *, until_idle: float | None, max_messages: int | None) -> ConsumeResult:
        cfg = self.cfg
        clean = False
        try:
            self.consumer = open_consumer(cfg, self.topic, self.group_id, self.rebalances, stop=self.stop)
            workers = f"{self.result.workers} worker processes" if self.result.workers else "a worker thread"
            log.info("consume %s as group %s (batches of %d records or %d ms, %s)", self.topic, self.group_id,
                     cfg.batch_size, cfg.batch_timeout_ms, workers)  # fmt: skip
            started = last_record = time.monotonic()
            next_lag_log = started + cfg.lag_log_interval_s
            poll_errors = 0
            while not self.stop.is_set():
                budget = cfg.max_poll_records
                if max_messages is not None:
                    budget = min(budget, max_messages - self.result.messages - self._unstored())
                    if budget <= 0:
                        self.result.stopped = "max messages"
                        break
                try:
                    polled = self.consumer.poll(timeout_ms=self._poll_timeout_ms(), max_records=budget)
                    poll_errors = 0
                except KafkaError as error:
                    poll_errors = self._poll_failed(error, poll_errors)
                    continue
                now = time.monotonic()
                self._drop_lost()
                if polled:
                    self._add(polled, now)
                    last_record = now
                while self.inflight and self.inflight[0][1].done():
                    self._finish_oldest()
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
        return self.pending.messages + sum(batch.messages for batch, _ in self.inflight)

    def _add(self, polled: dict[TopicPartition, list[Any]], now: float) -> None:
        if self.result.first_record_at is None:
            self.result.first_record_at = now
        if not self.pending:
            self.pending.started = now
        for tp, records in polled.items():
            self.pending.add(tp.partition, records)
            self.done.setdefault(tp, records[0].offset)

    def _full(self, now: float) -> bool:
        pending, cfg = self.pending, self.cfg
        return (pending.messages >= cfg.batch_size or pending.size >= cfg.batch_max_bytes
                or now - pending.started >= cfg.batch_timeout_ms / 1000)  # fmt: skip

    def _drop_lost(self) -> None:
        """After a rebalance, drop the pending records of the partitions this consumer lost: they were
        never committed, so their new owner reads them again. Partitions assigned back (the eager
        protocol revokes everything, then hands most of it back) keep theirs: the fetch position
        moved on past them, and dropping them would leave a gap the next commit would cover."""
        lost = self.rebalances.take_revoked() - self.rebalances.assigned
        if not lost:
            return
        for tp in lost:
            self.done.pop(tp, None)
            self.uncommitted.pop(tp, None)  # its next owner reads from the committed offset and dedupes
        dropped = self.pending.drop({tp.partition for tp in lost})
        if dropped:
            self.result.dropped_on_rebalance += dropped
            log.info("kafka: rebalance: %d unstored record(s) of lost partitions left for their next owner", dropped)

    def _idle(self, now: float, last_record: float, started: float, until_idle: float) -> bool:
        if self.pending or self.inflight:
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

    # -------------------------------------------------------------- store, then commit in order

    def _submit(self) -> None:
        """Hand the pending batch to a worker (first making room: at most `depth` in flight)."""
        while len(self.inflight) >= self.depth:
            self._finish_oldest()
        batch, self.pending = self.pending, Batch()
        self.inflight.append((batch, self.workers.submit(store_job, self._job(batch))))

    def _job(self, batch: Batch) -> Job:
        return Job(self.url, self.echo, self.origin, self.cfg.max_message_bytes, batch.records,
                   self.keep_meters, plausible_bounds(self.settings, utcnow()))  # fmt: skip

    def _flush(self) -> None:
        if self.pending:
            self._submit()
        while self.inflight:
            self._finish_oldest()
        deadline = time.monotonic() + FINAL_COMMIT_S
        while self.uncommitted and time.monotonic() < deadline:
            # A commit was refused during a rebalance: polling completes it. Records polled now are
            # neither stored nor committed, so the next run reads them.
            self.consumer.poll(timeout_ms=200)
            self._drop_lost()
            self._commit({})
        if self.uncommitted:
            log.warning(
                "kafka: offsets of stored records not committed (%s): the next run reads them again and dedupes them",
                ", ".join(f"p{tp.partition}={n}" for tp, n in self.uncommitted.items()),
            )

    def _finish_oldest(self) -> None:
        """Wait for the oldest batch in flight: retry its transaction while the database fails (never
        committing offsets meanwhile), then commit its offsets."""
        batch, future = self.inflight[0]
        delay = self.cfg.retry_backoff_s
        attempt = 1
        while True:
            try:
                stored = future.result()
                break
            except BrokenProcessPool as error:  # a worker was killed (OOM?): nothing more can be stored
                raise StackLedgerError(f"a worker process died ({error}); offsets of unstored batches were not "
                                       "committed") from None  # fmt: skip
            except StoreError as error:
                if attempt >= self.cfg.retry_attempts or self.stop.is_set():
                    raise StoreError(f"{error} (batch of {batch.messages} records not stored after {attempt} "
                                     "tries; its offsets were not committed)") from None  # fmt: skip
                log.warning("store failed (%s); retrying the batch in %.1f s", error, delay)
                self.stop.wait(delay)
                delay = min(delay * 2, BACKOFF_MAX_S)
                attempt += 1
                future = self.workers.submit(store_job, self._job(batch))
                self.inflight[0] = (batch, future)
        self.inflight.popleft()
        self._commit({TopicPartition(self.topic, p): offset for p, offset in batch.next_offsets().items()})
        result = self.result
        result.batches += 1
        result.messages += batch.messages
        result.ingested += stored.inserted
        result.duplicates += stored.duplicates
        result.rejected += stored.rejected
        result.rerate_days |= stored.rerate_days
        for partition, records in batch.records.items():
            result.partitions[partition] += len(records)
        result.last_commit_at = time.monotonic()

    def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        """Commit a stored batch's offsets, with those of earlier batches whose commit the group
        refused during a rebalance (for the partitions still ours). A refused commit is kept for the
        next one: every record below these offsets is stored, whichever generation commits them."""
        todo = {tp: offset for tp, offset in self.uncommitted.items() if tp in self.rebalances.assigned}
        for tp, offset in offsets.items():
            todo[tp] = max(offset, todo.get(tp, offset))
        self.uncommitted = {}
        if not todo:
            return
        request = {tp: OffsetAndMetadata(offset, "", -1) for tp, offset in todo.items()}
        delay = self.cfg.retry_backoff_s
        for attempt in range(1, self.cfg.retry_attempts + 1):
            try:
                self.consumer.commit(request)
            except _REBALANCED as error:
                self._refused(error, todo)
                return
            except KafkaError as error:
                if not error.retriable or attempt == self.cfg.retry_attempts:
                    self._refused(error, todo)
                    return
                log.warning("kafka: offset commit failed (%s); retrying in %.1f s", error, delay)
                time.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX_S)
            else:
                self.done.update(todo)
                return

    def _refused(self, error: KafkaError, offsets: dict[TopicPartition, int]) -> None:
        self.result.commits_refused += 1
        self.uncommitted = offsets
        log.warning("kafka: offsets not committed (%s); the batch is stored, and its offsets go with the next "
                    "commit", error)  # fmt: skip

    # -------------------------------------------------------------- shutdown

    def _close(self, clean: bool) -> None:
        # After an error or a second signal, batches in flight finish or fail, but nothing more is committed.
        self.workers.shutdown(wait=True, cancel_futures=not clean)
        self.inflight.clear()
        dispose_store(self.url)  # the worker thread's, when the batches were stored in this process
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
