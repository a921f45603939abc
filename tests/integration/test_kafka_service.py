"""The Kafka broker started by ops/kafka.sh round-trips messages through a consumer group.

Needs `ops/up.sh kafka` (or `ops/kafka.sh start`) and STACKLEDGER_KAFKA_BOOTSTRAP from .ops/env.
A missing broker is a failure, not a skip (DESIGN.md section 9).
"""

import os
import socket
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

pytestmark = pytest.mark.services

PARTITIONS = 4
PER_PARTITION = 25


def kafka_bootstrap() -> str:
    # Called from the test body, not a fixture, so a missing broker reports FAILED, not ERROR.
    value = os.environ.get("STACKLEDGER_KAFKA_BOOTSTRAP")
    if not value:
        pytest.fail(
            "STACKLEDGER_KAFKA_BOOTSTRAP is not set: run `ops/up.sh kafka` and `source .ops/env`",
            pytrace=False,
        )
    host, _, port = value.rpartition(":")
    try:  # fail in 2 s with a clear message rather than after kafka-python's 30 s retry loop
        socket.create_connection((host, int(port)), timeout=2).close()
    except OSError as exc:
        problem = str(exc)
    else:
        return value
    pytest.fail(f"no Kafka broker at {value} ({problem}): run `ops/up.sh kafka`", pytrace=False)


@contextmanager
def fresh_topic(bootstrap: str) -> Iterator[str]:
    name = f"test.kafka-service.{uuid.uuid4().hex[:12]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="stackledger-test")
    try:
        admin.create_topics([NewTopic(name, num_partitions=PARTITIONS, replication_factor=1)])
        yield name
        admin.delete_topics([name])
    finally:
        admin.close()


def test_round_trip_exact_counts_per_partition() -> None:
    bootstrap = kafka_bootstrap()
    with fresh_topic(bootstrap) as topic:
        _round_trip(bootstrap, topic)


def _round_trip(bootstrap: str, topic: str) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    sent = [
        producer.send(topic, value=f"{i}".encode(), partition=i % PARTITIONS) for i in range(PARTITIONS * PER_PARTITION)
    ]
    producer.flush()
    acked = Counter(future.get(timeout=10).partition for future in sent)
    producer.close()
    assert acked == {p: PER_PARTITION for p in range(PARTITIONS)}

    group = f"{topic}.group"
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    received: list[tuple[int, bytes]] = []
    deadline = time.monotonic() + 30  # includes the group join
    while len(received) < len(sent) and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=500).values():
            received.extend((r.partition, r.value) for r in records)
    consumer.commit()
    tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    committed = {tp.partition: consumer.committed(tp) for tp in tps}
    consumer.close()

    assert Counter(p for p, _ in received) == {p: PER_PARTITION for p in range(PARTITIONS)}
    assert sorted(int(v) for _, v in received) == list(range(len(sent)))
    # Per-partition order is Kafka's guarantee: values in a partition arrive in send order.
    for p in range(PARTITIONS):
        values = [int(v) for q, v in received if q == p]
        assert values == sorted(values)
    assert committed == {p: PER_PARTITION for p in range(PARTITIONS)}
