"""Kafka → PostgreSQL ingest: `stackledger consume`'s rate against bare kafka-python in the same run.

Data: N samples (default 200,000; `BENCH_KAFKA_SAMPLES`) with the synthetic cloud's real Ceilometer
shapes and metadata (about 1 KB per sample), packed as Ceilometer's `notifier://?driver=kafka`
publishes them: oslo.messaging 2.0 envelopes of `BENCH_KAFKA_PER_ENVELOPE` samples (default 10),
and one record in five a raw single sample. They go to a fresh 4-partition topic.

Measured, each from its first record to its last (group join and idle time excluded):
- bare: a kafka-python consumer with the same fetch settings reading every record and decoding
  it with `json` (the envelope and its inner message), nothing else;
- ours: `stackledger.pipeline.consume.consume` into a scratch PostgreSQL database (its samples,
  codes, revisions and dead letters emptied between rounds, a new consumer group each time): in
  worker processes (`pipeline.consume_worker`), read each record with `collectors.sample_fast`
  into a batch of compact rows, and store the batch with `SampleWriter` (codes, attribute
  revisions, one binary COPY into the day partitions, dead letters) in one transaction; then
  commit the offsets.
`BENCH_KAFKA_ROUNDS` rounds (default 3) of bare then ours; the figures are medians, and the ratio is
the median of each round's ratio, as the machine may be shared. CPU seconds are
printed too, the steadier figure on a busy machine (ours counts its worker processes, not the
PostgreSQL server). `STACKLEDGER__KAFKA__*` variables tune our consumer (e.g. `…__WORKERS=0`).

Needs STACKLEDGER_KAFKA_BOOTSTRAP and STACKLEDGER_TEST_PG_URL (`ops/up.sh postgres kafka`; read from
`.ops/env` when not in the environment).
"""

from __future__ import annotations

import json
import logging
import os
import resource
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from sqlalchemy import create_engine, make_url, text

from benchmarks.common import emit, peak_rss_mib
from stackledger.collectors import synthetic
from stackledger.collectors.kafka import HAS_C_CRC32C, consumer_config
from stackledger.pipeline.consume import consume
from stackledger.settings import Settings, load_settings
from stackledger.store import Store, tables

SAMPLES = int(os.environ.get("BENCH_KAFKA_SAMPLES", "200000"))
PER_ENVELOPE = int(os.environ.get("BENCH_KAFKA_PER_ENVELOPE", "10"))
ROUNDS = int(os.environ.get("BENCH_KAFKA_ROUNDS", "3"))
RAW_EVERY = 5  # one record in five is a raw sample
PARTITIONS = 4
BENCH = "kafka_ingest"

# Why the ingest path is built as it is (figures from earlier runs of this benchmark and of
# bench_ingest.py; they moved here from the modules' docstrings):
# - store.samples: one binary COPY of compact rows straight into the day partition takes about
#   half the time of COPY into a staging table then INSERT … SELECT … ON CONFLICT (every row
#   written twice); the staged way is kept for batches holding messages stored already.
# - collectors.sample_fast / sample_json: msgspec decodes 2-3x faster than json; the reader runs
#   30,000+ times a second in the consumer, and reads each resource's repeated metadata once.


def sample_stream(n: int) -> list[dict[str, Any]]:
    """n synthetic Ceilometer samples; beyond one month, the month again with new message ids
    (UUIDs, as Ceilometer's are: the store keeps a UUID as it is and hashes any other id)."""
    month: list[dict[str, Any]] = []
    for message in synthetic.messages(synthetic.generate_cloud("2026-10")):
        if "oslo.message" in message:
            month.extend(json.loads(message["oslo.message"])["payload"])
        else:
            month.append(message)
    out: list[dict[str, Any]] = []
    lap = 0
    while len(out) < n:
        out.extend({**s, "message_id": _lap_id(s["message_id"], lap)} for s in month[: n - len(out)])
        lap += 1
    return out


def _lap_id(message_id: str, lap: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_OID, f"{message_id}/{lap}")) if lap else message_id


def records(samples: list[dict[str, Any]]) -> Iterator[bytes]:
    i = 0
    while i < len(samples):
        if (i // PER_ENVELOPE) % RAW_EVERY == RAW_EVERY - 1:
            yield json.dumps(samples[i]).encode()
            i += 1
            continue
        inner = {"message_id": str(uuid.uuid4()), "publisher_id": "telemetry.publisher.bench", "event_type": "metering",
                 "priority": "SAMPLE", "payload": samples[i : i + PER_ENVELOPE],
                 "timestamp": "2026-10-31 23:59:59.000000", "_context": {}}  # fmt: skip
        yield json.dumps({"oslo.version": "2.0", "oslo.message": json.dumps(inner)}).encode()
        i += PER_ENVELOPE


def produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=50, batch_size=1 << 20,
                             max_request_size=8 << 20)  # fmt: skip
    for n, value in enumerate(values):
        producer.send(topic, value, partition=n % PARTITIONS)
    producer.flush()
    producer.close()


def bare(settings: Settings, topic: str, total: int) -> tuple[int, float, float]:
    """(samples, seconds, cpu seconds): poll every record and json-decode it, nothing else."""
    config = consumer_config(settings.kafka, "unused")
    config["group_id"] = None
    consumer = KafkaConsumer(**config)
    consumer.assign([TopicPartition(topic, p) for p in range(PARTITIONS)])
    consumer.seek_to_beginning()
    seen = samples = 0
    first = cpu = 0.0
    while seen < total:
        polled = consumer.poll(timeout_ms=1000)
        if polled and not first:
            first, cpu = time.perf_counter(), time.process_time()
        for batch in polled.values():
            for record in batch:
                seen += 1
                message = json.loads(record.value)
                if "oslo.message" in message:
                    samples += len(json.loads(message["oslo.message"])["payload"])
                else:
                    samples += 1
    seconds, cpu = time.perf_counter() - first, time.process_time() - cpu
    consumer.close()
    return samples, seconds, cpu


@contextmanager
def scratch_database(base_url: str) -> Iterator[str]:
    name = f"stackledger_bench_kafka_{os.getpid()}"
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(base_url).set(database=name).render_as_string(hide_password=False)
    try:
        Store(url).upgrade()
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def cpu_seconds() -> float:
    """This process and its finished children (the worker processes, once `consume` has joined them)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


# What a round of `consume` writes: every round starts from an empty compact store (codes included).
ROUND_TABLES = (tables.sample_rows, tables.sample_batches, tables.sample_meters, tables.sample_resources,
                tables.sample_projects, tables.resource_revisions, tables.dead_letters, tables.rerate_days)  # fmt: skip


def empty(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(table.name for table in ROUND_TABLES)} RESTART IDENTITY"))
    engine.dispose()


@contextmanager
def scratch_topic(bootstrap: str) -> Iterator[str]:
    topic = f"bench.kafka-ingest.{uuid.uuid4().hex[:10]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="stackledger-bench")
    try:
        admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)])
        yield topic
        admin.delete_topics([topic])
    finally:
        admin.close()


def service_env(name: str) -> str | None:
    """From the environment, else from the `.ops/env` that ops/up.sh writes (`make bench` does not
    source it)."""
    if os.environ.get(name):
        return os.environ[name]
    env_file = Path(__file__).resolve().parent.parent / ".ops" / "env"
    if env_file.exists():
        for line in env_file.read_text(encoding="utf-8").splitlines():
            key, _, value = line.removeprefix("export ").partition("=")
            if key == name and value:
                return value.strip().strip("'\"")
    return None


def main() -> int:
    bootstrap = service_env("STACKLEDGER_KAFKA_BOOTSTRAP")
    pg = service_env("STACKLEDGER_TEST_PG_URL")
    if not bootstrap or not pg:
        print("bench_kafka_ingest: needs STACKLEDGER_KAFKA_BOOTSTRAP and STACKLEDGER_TEST_PG_URL "
              "(ops/up.sh postgres kafka; source .ops/env)", file=sys.stderr)  # fmt: skip
        return 1
    logging.basicConfig(level=logging.WARNING)
    samples = sample_stream(SAMPLES)
    values = list(records(samples))
    context = {"samples": len(samples), "records": len(values), "per_envelope": PER_ENVELOPE,
               "bytes_per_sample": round(sum(map(len, values)) / len(samples)), "partitions": PARTITIONS,
               "c_crc32c": HAS_C_CRC32C}  # fmt: skip
    bare_runs: list[tuple[float, float]] = []  # (samples/s, samples per CPU second)
    ours_runs: list[tuple[float, float]] = []
    batches = workers = 0
    with scratch_topic(bootstrap) as topic, scratch_database(pg) as url:
        produce(bootstrap, topic, values)
        env = {k: v for k, v in os.environ.items() if k.startswith("STACKLEDGER__KAFKA__")}  # tuning, if any
        env.update({"STACKLEDGER__DATABASE__URL": url, "STACKLEDGER__KAFKA__BOOTSTRAP_SERVERS": bootstrap})
        settings = load_settings(None, env)
        for _ in range(ROUNDS):
            seen, seconds, cpu_s = bare(settings, topic, len(values))
            assert seen == len(samples), (seen, len(samples))
            bare_runs.append((seen / seconds, seen / cpu_s))
            empty(url)
            cpu = cpu_seconds()
            result = consume(settings, topic=topic, group_id=f"bench-{uuid.uuid4().hex[:8]}", until_idle=1.0)
            cpu = cpu_seconds() - cpu
            assert result.ingested == len(samples) and not result.rejected, result
            ours_runs.append((result.ingested / result.busy_seconds, result.ingested / cpu))
            batches, workers = result.batches, result.workers
    median = statistics.median
    emit(BENCH, "bare_samples_per_s", median(r[0] for r in bare_runs), "samples/s",
         runs=[round(r[0]) for r in bare_runs], **context)  # fmt: skip
    emit(BENCH, "ours_samples_per_s", median(r[0] for r in ours_runs), "samples/s",
         runs=[round(r[0]) for r in ours_runs], batches=batches, workers=workers, **context)  # fmt: skip
    emit(BENCH, "ratio_to_bare", median(o[0] / b[0] for o, b in zip(ours_runs, bare_runs, strict=True)), "ratio",
         **context)  # fmt: skip
    emit(BENCH, "bare_samples_per_cpu_s", median(r[1] for r in bare_runs), "samples/cpu-s", **context)
    emit(BENCH, "ours_samples_per_cpu_s", median(r[1] for r in ours_runs), "samples/cpu-s", **context)
    emit(BENCH, "ratio_to_bare_cpu", median(o[1] / b[1] for o, b in zip(ours_runs, bare_runs, strict=True)),
         "ratio", **context)  # fmt: skip
    emit(BENCH, "peak_rss", peak_rss_mib(), "MiB", **context)
    return 0


if __name__ == "__main__":
    sys.exit(main())
