"""What the Kafka consumer loop (`stackledger.pipeline.consume`) holds and counts: the batch of
records polled and not yet stored, per partition, and the run's result."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


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
    workers: int = 0  # worker processes (0: a thread)
    dropped_on_rebalance: int = 0  # records read, then given back unstored when their partition moved
    commits_refused: int = 0  # offset commits the group refused in a rebalance (retried with the next one)
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
class Batch:
    """Records polled and not yet stored: per partition, (offset, value) in offset order."""

    records: dict[int, list[tuple[int, bytes | None]]] = field(default_factory=dict)
    messages: int = 0
    size: int = 0  # bytes of values
    started: float = 0.0  # monotonic time of its first record

    def __bool__(self) -> bool:
        return self.messages > 0

    def add(self, partition: int, records: list[Any]) -> None:
        pairs = [(r.offset, r.value) for r in records]
        self.records.setdefault(partition, []).extend(pairs)
        self.messages += len(pairs)
        self.size += sum(len(value) for _, value in pairs if value is not None)

    def drop(self, partitions: set[int]) -> int:
        dropped = 0
        for partition in partitions & self.records.keys():
            records = self.records.pop(partition)
            dropped += len(records)
            self.size -= sum(len(value) for _, value in records if value is not None)
        self.messages -= dropped
        return dropped

    def next_offsets(self) -> dict[int, int]:
        return {partition: records[-1][0] + 1 for partition, records in self.records.items()}


__all__ = ["Batch", "ConsumeResult"]
