"""`stackledger consume` against the real Kafka broker and PostgreSQL started by ops/.

Needs `ops/up.sh postgres kafka` and `.ops/env` (STACKLEDGER_KAFKA_BOOTSTRAP, STACKLEDGER_TEST_PG_URL).
A missing service is a failure, not a skip (DESIGN.md section 9). Every test uses its own topic,
consumer group and database, so tests (and other sessions) never share state.

- crash safety: 100,000 samples, the consumer process SIGKILLed 5 times mid-stream and restarted;
  stored totals equal what was sent, to the sample and to the exact sum of volumes per meter, and
  the killed consumer's worker processes exit by themselves.
- scale-out: a second consumer process joins the group mid-stream; the two split a 4-partition
  topic and the totals are exact.
- clean stop: SIGTERM stores and commits the batch in hand; committed offsets match what is stored.
- database failure: nothing is committed while the store fails; the next run stores it all.
- --max-messages: exactly that many records stored and committed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from sqlalchemy import Engine, create_engine, make_url, text

from stackledger.errors import ConfigError, StoreError
from stackledger.pipeline.consume import consume
from stackledger.settings import load_settings
from stackledger.store import Store
from stackledger.store.sample_codes import message_key
from tests.conftest import require_env
from tests.integration.test_kafka_service import kafka_bootstrap

pytestmark = pytest.mark.services

STACKLEDGER = Path(sys.executable).parent / "stackledger"
# (meter, counter_type, unit): known meters with their declared unit and type, and one we do not price.
METERS = [
    ("cpu", "cumulative", "ns"), ("vcpus", "gauge", "vcpu"), ("memory", "gauge", "MiB"),
    ("volume.size", "gauge", "GiB"), ("network.incoming.bytes.delta", "delta", "B"), ("ip.floating", "gauge", "ip"),
    ("custom.widgets", "gauge", "widget"),
]  # fmt: skip
STAMPS = ("{}+00:00", "{}", "{}Z")  # notification meters, polled meters, hand-written


# ------------------------------------------------------------------ services, each test its own


@contextmanager
def scratch_database() -> Iterator[str]:
    """A new PostgreSQL database at the current schema, dropped afterwards."""
    base = require_env("STACKLEDGER_TEST_PG_URL", "postgres")
    name = f"stackledger_kafka_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    try:
        store = Store(url)
        store.upgrade()
        store.engine.dispose()
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def scratch_topic(bootstrap: str, partitions: int, **config: str) -> Iterator[str]:
    name = f"test.kafka-consumer.{uuid.uuid4().hex[:12]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="stackledger-test")
    try:
        admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1, topic_configs=config)])
        yield name
        admin.delete_topics([name])
    finally:
        admin.close()


@contextmanager
def services(partitions: int, **topic_config: str) -> Iterator[tuple[str, str, str]]:
    """(bootstrap, database url, topic), checked from the test body so a missing one FAILS."""
    bootstrap = kafka_bootstrap()
    with scratch_database() as url, scratch_topic(bootstrap, partitions, **topic_config) as topic:
        yield bootstrap, url, topic


def consumer_env(bootstrap: str, url: str, **kafka: object) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STACKLEDGER__") and k != "STACKLEDGER_CONFIG"}
    env.update({"STACKLEDGER__DATABASE__URL": url, "STACKLEDGER__KAFKA__BOOTSTRAP_SERVERS": bootstrap,
                "STACKLEDGER__KAFKA__SESSION_TIMEOUT_MS": "6000", "STACKLEDGER__KAFKA__HEARTBEAT_INTERVAL_MS": "1000",
                "STACKLEDGER__INGEST__KEEP_METERS": "[custom.widgets]",  # a meter not rated: kept, so counted here
                "PYTHONUNBUFFERED": "1"})  # fmt: skip
    env.update({f"STACKLEDGER__KAFKA__{key.upper()}": str(value) for key, value in kafka.items()})
    return env


def start_consumer(env: dict[str, str], topic: str, group: str, log: Path, *args: str) -> subprocess.Popen[bytes]:
    """`stackledger -v consume` as a real process, leading its own process group (with its workers);
    stdout and stderr (the INFO log: assignments, lag) go to `log`."""
    command = [str(STACKLEDGER), "-v", "consume", "--topic", topic, "--group", group, *args]
    with log.open("ab") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def group_gone(process: subprocess.Popen[bytes]) -> bool:
    """No process is left in the consumer's process group (its workers exit when it dies)."""
    try:
        os.killpg(process.pid, 0)
    except ProcessLookupError:
        return True
    return False


def settings_for(bootstrap: str, url: str, **kafka: object) -> Any:
    return load_settings(None, consumer_env(bootstrap, url, **kafka))


# ------------------------------------------------------------------ messages


def make_samples(n: int, rng: random.Random, prefix: str) -> list[dict[str, Any]]:
    """n distinct Ceilometer samples; volumes are multiples of 0.5, so float sums are exact."""
    start = dt.datetime(2026, 10, 1)
    out = []
    for i in range(n):
        meter, kind, unit = METERS[i % len(METERS)]
        at = start + dt.timedelta(seconds=rng.randrange(31 * 86_400), microseconds=rng.randrange(10**6))
        out.append({
            "source": "openstack", "counter_name": meter, "counter_type": kind, "counter_unit": unit,
            "counter_volume": rng.randrange(0, 4000) / 2, "user_id": f"u-{rng.randrange(20)}",
            "project_id": f"p-{rng.randrange(8)}", "resource_id": f"r-{rng.randrange(400)}",
            "timestamp": STAMPS[i % 3].format(at.isoformat()),
            "resource_metadata": {"flavor": {"name": "m1.small", "vcpus": 1}, "n": i, "display_name": "vm ☁"},
            "message_id": f"{prefix}-{uuid.UUID(int=rng.getrandbits(128), version=1)}", "monotonic_time": None,
            "message_signature": "",
        })  # fmt: skip
    return out


def envelope(samples: list[dict[str, Any]], event_type: str = "metering") -> bytes:
    """What Ceilometer's notifier://?driver=kafka publishes: an oslo.messaging 2.0 envelope."""
    inner = {"message_id": str(uuid.uuid4()), "publisher_id": "telemetry.publisher.test", "event_type": event_type,
             "priority": "SAMPLE", "payload": samples, "timestamp": "2026-10-31 23:59:59.000001",
             "_context": {}}  # fmt: skip
    return json.dumps({"oslo.version": "2.0", "oslo.message": json.dumps(inner)}).encode()


def pack(samples: list[dict[str, Any]], rng: random.Random) -> list[bytes]:
    """Records: envelopes of 1-20 samples, one sample in five raw, and for a third of the envelopes
    the per_meter_topic copies (event_type metering.<meter>, same message ids) placed later on."""
    records: list[bytes] = []
    copies: list[bytes] = []
    i = 0
    while i < len(samples):
        if rng.random() < 0.2:
            records.append(json.dumps(samples[i]).encode())
            i += 1
            continue
        chunk = samples[i : i + rng.randint(1, 20)]
        i += len(chunk)
        records.append(envelope(chunk))
        if rng.random() < 0.33:
            by_meter: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for sample in chunk:
                by_meter[sample["counter_name"]].append(sample)
            copies.extend(envelope(group, f"metering.{meter}") for meter, group in by_meter.items())
    for copy in copies:  # later in the stream, so a copy often lands in another batch or partition
        records.insert(rng.randrange(len(records) // 2, len(records) + 1), copy)
    return records


def produce(bootstrap: str, topic: str, records: list[bytes | None], partitions: list[int]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, batch_size=1 << 19,
                             max_request_size=4 << 20)  # fmt: skip
    futures = [producer.send(topic, value, key=b"k", partition=p) for value, p in zip(records, partitions, strict=True)]
    producer.flush()
    for future in futures:
        future.get(timeout=30)
    producer.close()


def sent_totals(samples: list[dict[str, Any]]) -> dict[str, tuple[int, float]]:
    totals: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    for sample in samples:
        entry = totals[sample["counter_name"]]
        entry[0] += 1
        entry[1] += sample["counter_volume"]
    return {meter: (int(n), volume) for meter, (n, volume) in totals.items()}


def stored_totals(url: str) -> dict[str, tuple[int, float]]:
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT m.name, count(*), sum(r.volume) FROM sample_rows r "
                                 "JOIN sample_meters m ON m.code = r.meter GROUP BY m.name")).all()  # fmt: skip
    engine.dispose()
    return {meter: (n, volume) for meter, n, volume in rows}


def count(url: str, table: str = "sample_rows") -> int:
    with _engine(url).connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def stored_keys(url: str) -> set[uuid.UUID]:
    """The message keys of the stored samples (`message_key(message_id)`)."""
    with _engine(url).connect() as conn:
        return set(conn.execute(text("SELECT message FROM sample_rows")).scalars())


@cache
def _engine(url: str) -> Engine:
    return create_engine(url)  # polled every 50 ms; DROP DATABASE … WITH (FORCE) ends its connections


def committed_offsets(bootstrap: str, group: str) -> dict[int, int]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="stackledger-test")
    try:
        offsets = admin.list_group_offsets(group).get(group, {})
    finally:
        admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}


def end_offsets(bootstrap: str, topic: str, partitions: int) -> dict[int, int]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        ends = consumer.end_offsets([TopicPartition(topic, p) for p in range(partitions)])
    finally:
        consumer.close()
    return {tp.partition: offset for tp, offset in ends.items()}


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def summary(log: Path) -> tuple[int, set[int], int, int, int]:
    """(messages, partitions, ingested, duplicates, rejected) from the last run's stdout line."""
    found = re.findall(r"consumed (\d+) messages \(partitions ([\d,]+|none)\): ingested (\d+), duplicates (\d+), "
                       r"rejected (\d+)", log.read_text(encoding="utf-8", errors="replace"))  # fmt: skip
    assert found, log.read_text(encoding="utf-8", errors="replace")[-3000:]
    messages, parts, ingested, duplicates, rejected = found[-1]
    partitions = set() if parts == "none" else {int(p) for p in parts.split(",")}
    return int(messages), partitions, int(ingested), int(duplicates), int(rejected)


# ------------------------------------------------------------------ crash safety


def test_sigkilled_five_times_loses_nothing_and_doubles_nothing(tmp_path: Path) -> None:
    rng = random.Random(4711)
    samples = make_samples(100_000, rng, "crash")
    records: list[bytes | None] = list(pack(samples, rng))
    bad = [b"not json", b"   ", None, b'{"oslo.version": "1.0", "oslo.message": "{}"}', b"\xff\xfe\x00garbage"]
    for n in range(20):  # bad records among the good: each must be dead-lettered exactly once
        records.insert(rng.randrange(len(records)), bad[n % len(bad)])
    partitions = 3
    placement = [rng.randrange(partitions) for _ in records]
    expected = sent_totals(samples)
    with services(partitions) as (bootstrap, url, topic):
        produce(bootstrap, topic, records, placement)
        group = f"crash-{uuid.uuid4().hex[:8]}"
        # Small batches: many commits to land a kill between; static membership: a restart takes the
        # partitions back at once instead of waiting for the killed member's session to expire.
        env = consumer_env(bootstrap, url, batch_size=500, batch_timeout_ms=300, group_instance_id="crash-test")
        log = tmp_path / "consume.log"
        for kill in range(5):
            # Each run is killed once the store has passed a random point in its fifth of the stream
            # (12-80% over the five runs), then a random moment later: mid-poll, mid-transaction,
            # mid-commit. Chosen by progress, not by clock, so a fast machine cannot finish the topic
            # before the fifth kill.
            target = max(count(url), 12_000 + 16_000 * kill + rng.randrange(4_000))
            process = start_consumer(env, topic, group, log)
            wait_for(lambda t=target, p=process: count(url) > t or p.poll() is not None, 120,
                     f"run {kill + 1} to store past sample {target}")  # fmt: skip
            assert process.poll() is None, log.read_text()[-3000:]
            time.sleep(rng.uniform(0.0, 0.1))
            at_kill = count(url)
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
            assert at_kill < len(samples), f"run {kill + 1} finished the topic before its SIGKILL"
            wait_for(lambda p=process: group_gone(p), 15, "the killed consumer's workers to exit")
        final = start_consumer(env, topic, group, log, "--until-idle", "4")
        assert final.wait(timeout=180) == 0, log.read_text()[-3000:]

        assert count(url) == len(samples)
        assert stored_totals(url) == expected  # per meter: the count and the exact sum of volumes
        assert count(url, "dead_letters") == 20
        assert committed_offsets(bootstrap, group) == end_offsets(bootstrap, topic, partitions)


# ------------------------------------------------------------------ scale-out


def assigned(log: Path) -> list[str]:
    """The consumer's assignments so far, as logged ("topic[0], topic[2]" or "none")."""
    return re.findall(r"assigned partitions (.*)", log.read_text(errors="replace") if log.exists() else "")


def test_two_consumers_in_one_group_split_four_partitions(tmp_path: Path) -> None:
    """A second consumer joins while the first is consuming: the group rebalances mid-stream, each
    ends with two partitions and a share of the work, and the totals are exact."""
    rng = random.Random(1234)
    samples = make_samples(30_000, rng, "scale")
    records: list[bytes | None] = list(pack(samples, rng))
    placement = [n % 4 for n in range(len(records))]
    with services(4) as (bootstrap, url, topic):
        group = f"scale-{uuid.uuid4().hex[:8]}"
        env = consumer_env(bootstrap, url, batch_size=1000, batch_timeout_ms=300, lag_log_interval_s=1)
        logs = [tmp_path / "first.log", tmp_path / "second.log"]
        first = start_consumer(env, topic, group, logs[0], "--until-idle", "15")
        wait_for(lambda: bool(assigned(logs[0])) and first.poll() is None, 120, "the first consumer to join")
        split = threading.Event()
        producer = threading.Thread(target=trickle, args=(bootstrap, topic, records, placement, split), daemon=True)
        producer.start()
        wait_for(lambda: count(url) > 0, 60, "the first consumer to store a batch")
        second = start_consumer(env, topic, group, logs[1], "--until-idle", "15")
        processes = [first, second]

        def settled() -> bool:  # both processes hold two partitions: the group has rebalanced
            for log, process in zip(logs, processes, strict=True):
                assert process.poll() is None, log.read_text()[-3000:]
            return all(assigned(log) and assigned(log)[-1].count("[") == 2 for log in logs)

        wait_for(settled, 120, "the group to give each consumer two partitions")
        split.set()
        producer.join(timeout=120)
        for log, process in zip(logs, processes, strict=True):
            assert process.wait(timeout=180) == 0, log.read_text()[-3000:]

        (messages_a, parts_a, *_), (messages_b, parts_b, *_) = (summary(log) for log in logs)
        assert messages_a > 0 and messages_b > 0  # both did part of the work
        assert parts_a == {0, 1, 2, 3} and len(parts_b) == 2  # the first read all four before the split
        assert len(assigned(logs[0])) >= 2  # four partitions, then two
        assert messages_a + messages_b >= len(records)  # records uncommitted at the rebalance are read twice
        assert count(url) == len(samples)
        assert stored_totals(url) == sent_totals(samples)
        assert committed_offsets(bootstrap, group) == end_offsets(bootstrap, topic, 4)
        assert re.search(r"kafka lag \S+ group \S+: \d+ \(p\d+=\d+ p\d+=\d+\)", logs[1].read_text())


def trickle(bootstrap: str, topic: str, records: list[bytes | None], placement: list[int],
            split: threading.Event) -> None:  # fmt: skip
    """Up to half the records a chunk at a time until the group has split, then the rest at once."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20)
    half = len(records) // 2
    sent = 0
    while sent < half and not split.is_set():
        for value, partition in zip(records[sent : sent + 100], placement[sent : sent + 100], strict=True):
            producer.send(topic, value, key=b"k", partition=partition)
        producer.flush()
        sent += 100
        split.wait(0.25)
    split.wait(180)
    for value, partition in zip(records[sent:], placement[sent:], strict=True):
        producer.send(topic, value, key=b"k", partition=partition)
    producer.flush()
    producer.close()


# ------------------------------------------------------------------ clean stop


def test_sigterm_stores_and_commits_the_batch_in_hand(tmp_path: Path) -> None:
    """After SIGTERM the committed offsets are exactly what is stored: every sample of the records
    below them, none of the records at or above them."""
    rng = random.Random(99)
    samples = make_samples(60_000, rng, "stop")
    records = [json.dumps(sample).encode() for sample in samples]  # one sample per record: offsets = samples
    with services(1) as (bootstrap, url, topic):
        produce(bootstrap, topic, list(records), [0] * len(records))
        group = f"stop-{uuid.uuid4().hex[:8]}"
        log = tmp_path / "consume.log"
        process = start_consumer(consumer_env(bootstrap, url, batch_size=1000, batch_timeout_ms=200), topic, group,
                                 log)  # fmt: skip
        wait_for(lambda: count(url) > 0, 120, "a first batch")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0, log.read_text()[-3000:]
        messages, _, ingested, duplicates, rejected = summary(log)
        committed = committed_offsets(bootstrap, group)[0]
        assert 0 < committed < len(records), "SIGTERM came too late to stop mid-stream"
        assert messages == ingested == committed and duplicates == rejected == 0
        assert stored_keys(url) == {message_key(sample["message_id"]) for sample in samples[:committed]}


# ------------------------------------------------------------------ database failure


def test_database_failure_commits_nothing_and_the_next_run_stores_everything() -> None:
    rng = random.Random(7)
    samples = make_samples(5_000, rng, "dbdown")
    records: list[bytes | None] = list(pack(samples, rng))
    with services(2) as (bootstrap, url, topic):
        produce(bootstrap, topic, records, [n % 2 for n in range(len(records))])
        group = f"dbdown-{uuid.uuid4().hex[:8]}"
        settings = settings_for(bootstrap, url, retry_attempts=2, retry_backoff_s=0.1)
        engine = create_engine(url)
        with engine.begin() as conn:  # every insert now fails: a schema the consumer does not expect
            conn.execute(text("ALTER TABLE sample_rows RENAME TO sample_rows_away"))
        with pytest.raises(StoreError, match="not stored after 2 tries; its offsets were not committed"):
            consume(settings, topic=topic, group_id=group, until_idle=3)
        assert committed_offsets(bootstrap, group) == {}
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE sample_rows_away RENAME TO sample_rows"))
        engine.dispose()
        result = consume(settings, topic=topic, group_id=group, until_idle=3)
        assert result.messages == len(records) and result.ingested == len(samples)
        assert stored_totals(url) == sent_totals(samples)
        assert committed_offsets(bootstrap, group) == end_offsets(bootstrap, topic, 2)


# ------------------------------------------------------------------ --max-messages, settings


def test_max_messages_stores_and_commits_exactly_that_many_records() -> None:
    rng = random.Random(5)
    samples = make_samples(1_000, rng, "max")
    records: list[bytes | None] = [json.dumps(sample).encode() for sample in samples]
    with services(1) as (bootstrap, url, topic):
        produce(bootstrap, topic, records, [0] * len(records))
        group = f"max-{uuid.uuid4().hex[:8]}"
        settings = settings_for(bootstrap, url, batch_size=64, max_poll_records=50)
        first = consume(settings, topic=topic, group_id=group, max_messages=333)
        assert (first.messages, first.ingested, first.stopped) == (333, 333, "max messages")
        assert committed_offsets(bootstrap, group) == {0: 333}
        assert stored_keys(url) == {message_key(sample["message_id"]) for sample in samples[:333]}
        rest = consume(settings, topic=topic, group_id=group, until_idle=2)
        assert (rest.messages, rest.ingested, rest.duplicates) == (667, 667, 0)
        assert committed_offsets(bootstrap, group) == {0: 1_000}


def test_kafka_settings_errors_never_echo_the_sasl_password() -> None:
    env = {"STACKLEDGER__KAFKA__SECURITY_PROTOCOL": "SASL_SSL", "STACKLEDGER__KAFKA__SASL_MECHANISM": "PLAIN",
           "STACKLEDGER__KAFKA__SASL_PASSWORD": "hunter2"}  # fmt: skip
    with pytest.raises(ConfigError, match="SASL_SSL needs sasl_mechanism, sasl_username and sasl_password") as error:
        load_settings(None, env)
    assert "hunter2" not in str(error.value)
    settings = load_settings(None, {**env, "STACKLEDGER__KAFKA__SASL_USERNAME": "metering"})
    assert "hunter2" not in repr(settings) and settings.kafka.topic == "metering.sample"
