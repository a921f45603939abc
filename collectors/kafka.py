"""Ceilometer's sample stream on Kafka: the consumer, its records → sample rows, rebalances, lag.

The wire format is what `notifier://?driver=kafka` publishes on `metering.sample` (an
oslo.messaging 2.0 envelope whose payload is a list of samples, repeated once per meter with
`per_meter_topic`), or one raw sample JSON per record; `collectors.samples.parse_message` reads
both. This module only speaks Kafka: storing and committing is `stackledger.pipeline.consume`.

Decisions:
- `enable_auto_commit` is off: the pipeline commits exactly the offsets of what it stored.
- A record that is null (a compaction tombstone), larger than `kafka.max_message_bytes`, or not a
  usable message becomes a `Rejected` with its partition and offset; one bad sample inside an
  envelope rejects only that sample. Nothing is dropped without a reason.
- Rebalances are recorded, not acted on, in the listener: kafka-python calls it on its IO thread,
  where blocking work (a database transaction, a commit) would stall heartbeats or deadlock.
  The consumer loop asks `Rebalances.take_revoked()` after every poll and drops the records it
  has not stored yet of the partitions it lost (revoked, not assigned back); their offsets were
  never committed, so their new owner reads them again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import KafkaError

from stackledger.collectors.samples import parse_message
from stackledger.errors import InputError, SourceError, TransientSourceError
from stackledger.settings import KafkaSettings

log = logging.getLogger(__name__)

BACKOFF_MAX_S: Final = 30.0


def _c_crc32c() -> bool:
    try:
        import crc32c  # noqa: F401  # kafka-python's C CRC-32C; without it record batches are checked in pure Python
    except ImportError:
        return False
    return True


HAS_C_CRC32C: Final = _c_crc32c()


# ------------------------------------------------------------------ records → rows


@dataclass(frozen=True)
class Rejected:
    """A record (or one sample of it) that could not be used: dead-letter material."""

    location: str  # "partition 3 offset 991"; the dead letter adds " sample N" for one bad sample
    error: InputError
    raw: bytes


@dataclass
class Parsed:
    """Rows and rejections of a batch of records."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


def parse_records(
    partition: int, records: Iterable[tuple[int, bytes | None]], origin: str, into: Parsed, *, max_message_bytes: int
) -> None:
    """Parse one partition's records, as (offset, value) pairs, into `into`."""
    into.rows.extend(iter_rows(partition, records, origin, into.rejected, max_message_bytes=max_message_bytes))


def iter_rows(
    partition: int,
    records: Iterable[tuple[int, bytes | None]],
    origin: str,
    rejected: list[Rejected],
    *,
    max_message_bytes: int,
) -> Iterator[dict[str, Any]]:
    """The sample rows of one partition's records, as (offset, value) pairs, one record at a time
    (the consumer writes them to the database as they come); what cannot be used goes to `rejected`."""
    for offset, value in records:
        errors: list[InputError] = []
        where = f"{origin} partition {partition} offset {offset}"
        if value is None:
            errors.append(InputError("null value (a tombstone), not a message", where=where))
            value = b""
        elif len(value) > max_message_bytes:
            reason = f"message of {len(value):,} bytes is over kafka.max_message_bytes ({max_message_bytes:,})"
            errors.append(InputError(reason, where=where))
        else:
            try:
                yield from parse_message(value, where, rejects=errors)
            except InputError as unusable:
                errors.append(unusable)
        if errors:
            location = f"partition {partition} offset {offset}"
            rejected.extend(Rejected(location, error, value) for error in errors)


# ------------------------------------------------------------------ the consumer


def consumer_config(settings: KafkaSettings, group_id: str) -> dict[str, Any]:
    """kafka-python keyword arguments (secrets unwrapped here only, never logged)."""
    config: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "client_id": settings.client_id,
        "group_id": group_id,
        "group_instance_id": settings.group_instance_id,
        "enable_auto_commit": False,
        "auto_offset_reset": settings.auto_offset_reset,
        "max_poll_records": settings.max_poll_records,
        "max_partition_fetch_bytes": settings.max_partition_fetch_bytes,
        "fetch_max_bytes": settings.fetch_max_bytes,
        "session_timeout_ms": settings.session_timeout_ms,
        "bootstrap_timeout_ms": settings.bootstrap_timeout_ms,
        "heartbeat_interval_ms": settings.heartbeat_interval_ms,
        "max_poll_interval_ms": settings.max_poll_interval_ms,
        "security_protocol": settings.security_protocol,
        "ssl_check_hostname": settings.ssl_check_hostname,
    }
    if settings.sasl_mechanism is not None:
        config["sasl_mechanism"] = settings.sasl_mechanism
        config["sasl_plain_username"] = settings.sasl_username
        if settings.sasl_password is not None:
            config["sasl_plain_password"] = settings.sasl_password.get_secret_value()
    for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
        path = getattr(settings, name)
        if path is not None:
            config[name] = str(path)
    if settings.ssl_password is not None:
        config["ssl_password"] = settings.ssl_password.get_secret_value()
    return config


def open_consumer(
    settings: KafkaSettings, topic: str, group_id: str, listener: Rebalances, *, stop: threading.Event
) -> Any:
    """A `KafkaConsumer` subscribed to `topic` in `group_id`; broker trouble while connecting is
    retried with backoff, then raised as `TransientSourceError`."""
    if not HAS_C_CRC32C:
        log.warning(
            "the crc32c package is not installed: kafka-python checks record CRCs in pure Python, "
            "about 10x slower (pip install crc32c)"
        )
    _quiet_slow_task_warnings()
    config = consumer_config(settings, group_id)

    def connect() -> Any:
        consumer = KafkaConsumer(**config)
        try:
            consumer.subscribe([topic], listener=listener)
            # Fetch metadata now, before the first poll joins the group: kafka-python otherwise joins
            # with no snapshot of the topic's partitions, and rebalances again as soon as it gets one.
            consumer.topics()
        except BaseException:
            consumer.close(autocommit=False)
            raise
        return consumer

    servers = settings.bootstrap_servers
    brokers = servers if isinstance(servers, str) else ",".join(servers)
    advice = "check kafka.bootstrap_servers, kafka.security_protocol and that the brokers run"
    return with_backoff(connect, settings, stop, what=f"connect to Kafka at {brokers} for topic {topic}", advice=advice)


class _NotSlowTask(logging.Filter):
    """kafka-python warns when a step of its IO thread took over 100 ms; it does whenever another of
    our threads holds the GIL (decoding a poll's records, parsing), which is by design. Other
    warnings pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.startswith("Task ") and "threshold" in record.msg)


def _quiet_slow_task_warnings() -> None:
    selector = logging.getLogger("kafka.net.selector")
    if not any(isinstance(f, _NotSlowTask) for f in selector.filters):
        selector.addFilter(_NotSlowTask())


def with_backoff(
    call: Callable[[], Any], settings: KafkaSettings, stop: threading.Event, *, what: str, advice: str = ""
) -> Any:
    """`call()`, retrying transient Kafka errors (`retriable`) `retry_attempts` times with doubling
    backoff. A non-retriable `KafkaError` is raised at once as `SourceError`; the error says
    `what` failed, then `advice` (what to check)."""
    delay = settings.retry_backoff_s
    then = f"; {advice}" if advice else ""
    for attempt in range(1, settings.retry_attempts + 1):
        try:
            return call()
        except KafkaError as error:
            if not error.retriable:
                raise SourceError(f"cannot {what}: {error}{then}", source="kafka") from error
            if attempt == settings.retry_attempts or stop.is_set():
                raise TransientSourceError(f"cannot {what} after {attempt} tries: {error}{then}",
                                           source="kafka") from error  # fmt: skip
            log.warning("kafka: cannot %s (%s); retrying in %.1f s", what, error, delay)
            stop.wait(delay)
            delay = min(delay * 2, BACKOFF_MAX_S)
    raise AssertionError("unreachable")  # pragma: no cover


class Rebalances(ConsumerRebalanceListener):
    """Records what kafka-python's IO thread tells us; the consumer loop acts on it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._revoked: set[TopicPartition] = set()
        self.assigned: frozenset[TopicPartition] = frozenset()
        self.assigned_at: float | None = None  # time.monotonic() of the last completed assignment
        self.generations = 0

    def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        with self._lock:
            self._revoked.update(revoked)

    def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        with self._lock:
            self.assigned = frozenset(assigned)
            self.assigned_at = time.monotonic()
            self.generations += 1
        log.info("kafka: assigned partitions %s", _partitions(self.assigned) or "none")

    def take_revoked(self) -> set[TopicPartition]:
        with self._lock:
            revoked, self._revoked = self._revoked, set()
        return revoked


def lag_line(
    consumer: Any, topic: str, group_id: str, done: Mapping[TopicPartition, int], assigned: Iterable[TopicPartition]
) -> str:
    """One log line: per assigned partition, the high-water mark minus the offset we have stored
    and committed (or read, before the first commit). `?` until a fetch has seen the partition."""
    parts, total = [], 0
    for tp in sorted(assigned):
        try:
            high = consumer.highwater(tp)
        except KafkaError:  # revoked since the listener ran
            continue
        at = done.get(tp)
        if high is None or at is None:
            parts.append(f"p{tp.partition}=?")
            continue
        lag = max(high - at, 0)
        total += lag
        parts.append(f"p{tp.partition}={lag}")
    return f"kafka lag {topic} group {group_id}: {total} ({' '.join(parts) or 'no partitions'})"


def _partitions(tps: Iterable[TopicPartition]) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]" for tp in sorted(tps))


__all__ = [
    "HAS_C_CRC32C",
    "Parsed",
    "Rebalances",
    "Rejected",
    "consumer_config",
    "iter_rows",
    "lag_line",
    "open_consumer",
    "parse_records",
    "with_backoff",
]
