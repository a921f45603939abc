"""Malformed Kafka records are dead-lettered with their reason and partition/offset, one each, while
the good records between them are stored. Real broker and PostgreSQL; see test_kafka_consumer."""

from __future__ import annotations

import json
import random
import uuid
from typing import Any

import pytest
from kafka import KafkaProducer
from sqlalchemy import create_engine, select

from stackledger.cli import main
from stackledger.store import tables
from tests.integration.test_kafka_consumer import (
    consumer_env,
    envelope,
    make_samples,
    sent_totals,
    services,
    stored_totals,
)

pytestmark = pytest.mark.services

PARTITIONS = 2


def _sample(**change: Any) -> dict[str, Any]:
    sample = make_samples(1, random.Random(), f"bad-{uuid.uuid4().hex[:6]}")[0]
    sample.update({"counter_name": "vcpus", "counter_type": "gauge", "counter_unit": "vcpu", "counter_volume": 2})
    sample.update(change)
    return {k: v for k, v in sample.items() if v is not ...}  # `...` removes a key


def _raw(**change: Any) -> bytes:
    return json.dumps(_sample(**change)).encode()


def _notification(**fields: Any) -> bytes:
    inner = {"message_id": str(uuid.uuid4()), "publisher_id": "telemetry.publisher.test", "event_type": "metering",
             "priority": "SAMPLE", "payload": [_sample()], "timestamp": "2026-10-01 00:00:00.000000",
             "_context": {}}  # fmt: skip
    inner.update(fields)
    return json.dumps({"oslo.version": "2.0", "oslo.message": json.dumps(inner)}).encode()


HUGE = _raw(resource_metadata={"blob": "x" * 1_500_000})

# (record value, a phrase the dead letter's reason must contain): 40 kinds of bad record.
BAD: list[tuple[bytes | None, str]] = [
    (b"not json at all", "not valid JSON"),
    (b'{"counter_name": "cpu", "counter_volume": ', "not valid JSON"),
    (b"[1, 2, 3]", "expected a JSON object, got array"),
    (b'"just a string"', "expected a JSON object, got string"),
    (b"null", "expected a JSON object, got null"),
    (b"", "empty message"),
    (b"   \n\t ", "empty message"),
    (None, "null value (a tombstone)"),
    (bytes(range(256)) * 4, "not valid"),
    (b'{"counter_name": "\xff\xfe"}', "not valid UTF-8"),
    (HUGE, "over kafka.max_message_bytes"),
    (b"[" * 50_000 + b"]" * 50_000, "nested too deeply"),
    (json.dumps({"oslo.version": "1.0", "oslo.message": "{}"}).encode(), "unsupported oslo.version '1.0'"),
    (
        json.dumps({"oslo.version": "2.0", "oslo.message": {"payload": []}}).encode(),
        "oslo.message must be a JSON string, got object",
    ),
    (json.dumps({"oslo.version": "2.0", "oslo.message": "{not json"}).encode(), "oslo.message is not valid JSON"),
    (json.dumps({"oslo.version": "2.0", "oslo.message": "[1]"}).encode(), "oslo.message must hold a JSON object"),
    (_notification(event_type="compute.instance.exists"), "is not a metering notification"),
    (_notification(priority="INFO"), "priority 'INFO' is not SAMPLE"),
    (_notification(payload={"counter_name": "cpu"}), "payload must be a list of samples, got object"),
    (_notification(payload=[]), "payload is an empty list"),
    (_raw(counter_name=...), "missing counter_name"),
    (_raw(message_id=...), "missing message_id"),
    (_raw(resource_id=...), "missing resource_id"),
    (_raw(counter_volume=...), "missing counter_volume"),
    (_raw().replace(b'"counter_volume": 2', b'"counter_volume": NaN'), "counter_volume nan is not a finite number"),
    (_raw(resource_metadata={"ratio": 1.5}).replace(b"1.5", b"-Infinity"), "resource_metadata.ratio is not a finite"),
    (_raw(resource_metadata={"big": 1.5}).replace(b"1.5", b"1e999"), "resource_metadata.big is not a finite number"),
    (_raw(counter_volume="lots"), "counter_volume 'lots' is not a number"),
    (_raw(counter_volume=True), "counter_volume must be a number, got boolean"),
    (_raw(timestamp="yesterday at noon"), "timestamp 'yesterday at noon' is not ISO 8601"),
    (_raw(timestamp=1727777702), "timestamp must be an ISO 8601 string, got number"),
    (_raw(counter_type="counter"), "counter_type 'counter' is not one of gauge, delta, cumulative"),
    (_raw(counter_unit="B"), "unit 'B' does not match meter vcpus's unit 'vcpu'"),
    (_raw(counter_volume=-4), "negative volume -4 for gauge meter vcpus"),
    (_raw(message_id="m" * 300), "message_id longer than 255 characters"),
    (_raw(resource_metadata={"name": "a\x00b"}), "resource_metadata.name contains a NUL character"),
    (_raw(resource_id="r-\ud800"), "resource_id contains invalid Unicode"),
    (_raw(user_id="u-x").replace(b'"u-x"', b'"u-\xed\xa0\x80"'), "user_id contains invalid Unicode"),
    (_raw(resource_metadata=["a", "list"]), "resource_metadata must be an object, got array"),
    (_raw(meter="memory"), "counter_name 'vcpus' and meter 'memory' disagree"),
]


def test_malformed_records_are_dead_lettered_while_good_ones_flow(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = random.Random(20)
    with services(PARTITIONS, **{"max.message.bytes": str(4 << 20)}) as (bootstrap, url, topic):
        good = make_samples(3 * len(BAD), rng, "good")
        # An envelope whose second sample is bad: that sample alone is dead-lettered, the others stored.
        mixed = [*make_samples(1, rng, "mixed"), _sample(counter_volume="NaN"), *make_samples(2, rng, "mixed")]
        records: list[tuple[bytes | None, str | None]] = [(envelope(mixed), "counter_volume 'NaN' is not a finite")]
        for n, (value, reason) in enumerate(BAD):  # good records before and after every bad one
            records.append((json.dumps(good[3 * n]).encode(), None))
            records.append((value, reason))
            records.append((envelope(good[3 * n + 1 : 3 * n + 3]), None))
        producer = KafkaProducer(bootstrap_servers=bootstrap, max_request_size=4 << 20)
        futures = [producer.send(topic, value, key=b"k", partition=n % PARTITIONS) for n, (value, _) in
                   enumerate(records)]  # fmt: skip
        producer.flush()
        located = [future.get(timeout=30) for future in futures]
        producer.close()

        monkeypatch.delenv("STACKLEDGER_CONFIG", raising=False)
        for key, value in consumer_env(bootstrap, url, batch_size=50, batch_timeout_ms=200).items():
            if key.startswith("STACKLEDGER__"):
                monkeypatch.setenv(key, value)
        assert main(["consume", "--topic", topic, "--group", f"bad-{uuid.uuid4().hex[:8]}", "--until-idle", "3"]) == 0

        stored_good = [*good, mixed[0], *mixed[2:]]
        assert stored_totals(url) == sent_totals(stored_good)
        engine = create_engine(url)
        with engine.connect() as conn:
            letters = {row.location: row for row in conn.execute(select(tables.dead_letters))}
        engine.dispose()
        expected = {}
        for (value, reason), meta in zip(records, located, strict=True):
            if reason is not None:
                location = f"partition {meta.partition} offset {meta.offset}"
                expected[location + (" sample 2" if value == records[0][0] else "")] = reason
        assert set(letters) == set(expected)  # every bad record, each once, where it was
        for location, reason in expected.items():
            letter = letters[location]
            assert reason in letter.reason, (location, letter.reason)
            assert letter.origin == f"kafka:{topic}"
        assert len(letters) == len(BAD) + 1 >= 21
        huge = next(letter for letter in letters.values() if "max_message_bytes" in letter.reason)
        assert len(huge.payload) < 17_000  # kept, truncated
        one_sample = letters[next(location for location in expected if location.endswith("sample 2"))]
        assert json.loads(one_sample.payload)["counter_volume"] == "NaN"  # just the bad sample
        out = capsys.readouterr().out
        assert f"consumed {len(records)} messages (partitions 0,1): ingested {len(stored_good)}, duplicates 0, " \
               f"rejected {len(BAD) + 1}" in out  # fmt: skip
