"""`/metrics` of `stackledger serve`, parsed with prometheus-client's own parser, against a store
seeded with this month's costs, checkpoints, samples, dead letters and alarm states, and the
real Kafka broker's offsets of a consumer group (ops/kafka.sh).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.structs import OffsetAndMetadata
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from stackledger.pipeline.base import store_for
from stackledger.settings import Settings
from stackledger.store import tables
from stackledger.window import utcnow
from tests import api_support as api
from tests.integration.test_api_keystone import cli
from tests.integration.test_kafka_service import kafka_bootstrap
from tests.stored_samples import store_records

pytestmark = pytest.mark.services

NOW = utcnow()
MONTH = NOW.strftime("%Y-%m")
DAYS = max(NOW.day - 1, 1)
PROJECTS = [
    api.SeedProject("payments", "payments", Decimal("700"), Decimal("12.5")),
    api.SeedProject("search-api", "search", Decimal("50"), Decimal("8.25")),
    api.SeedProject("search-index", "search", None, Decimal("3")),
]
COMMITTED = {0: 4, 1: 5}  # offsets the group committed; 10 and 5 messages were produced
PRODUCED = {0: 10, 1: 5}
EPOCH = dt.datetime(1970, 1, 1)


@pytest.fixture(scope="module")
def ids() -> dict[str, str]:
    return api.keystone_projects()


@pytest.fixture(scope="module")
def kafka_group() -> Iterator[tuple[str, str, str]]:
    """A topic with 2 partitions, 10 + 5 messages, and a group that committed 4 and 5."""
    bootstrap = kafka_bootstrap()
    topic, group = f"test.api-metrics.{uuid.uuid4().hex[:10]}", f"stackledger-test-{uuid.uuid4().hex[:6]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="stackledger-test")
    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for partition, count in PRODUCED.items():
        for i in range(count):
            producer.send(topic, value=f"{i}".encode(), partition=partition).get(timeout=30)
    producer.close()
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    consumer.commit({TopicPartition(topic, p): OffsetAndMetadata(o, "", -1) for p, o in COMMITTED.items()})
    consumer.close(autocommit=False)
    try:
        yield bootstrap, topic, group
    finally:
        admin.delete_topics([topic])
        admin.close()


@pytest.fixture(scope="module")
def settings(pg_url: str, tmp_path_factory: pytest.TempPathFactory, ids: dict[str, str]) -> Settings:
    settings = api.fresh_settings(pg_url, tmp_path_factory.mktemp("api-metrics"))
    api.seed_costs(settings, ids, PROJECTS, [MONTH], days=DAYS)
    store = store_for(settings)
    with store.transaction() as conn:
        store.insert(
            conn,
            tables.checkpoints,
            [
                {
                    "source": "gnocchi",
                    "window_start": dt.datetime(2026, 11, 1),
                    "window_end": dt.datetime(2026, 11, 2),
                    "rows": 10,
                    "completed_at": dt.datetime(2026, 11, 2, 0, 40),
                },
                {
                    "source": "gnocchi",
                    "window_start": dt.datetime(2026, 11, 2),
                    "window_end": dt.datetime(2026, 11, 3),
                    "rows": 12,
                    "completed_at": dt.datetime(2026, 11, 3, 0, 35),
                },
                {
                    "source": "nova",
                    "window_start": dt.datetime(2026, 11, 1),
                    "window_end": dt.datetime(2026, 11, 2),
                    "rows": 3,
                    "completed_at": dt.datetime(2026, 11, 2, 1, 5),
                },
            ],
        )
        store.insert(
            conn,
            tables.dead_letters,
            [
                {
                    "fingerprint": f"{i:064d}",
                    "origin": "metering.sample" if i < 3 else "bad.jsonl",
                    "location": f"line {i}",
                    "reason": "not JSON",
                    "payload": "x",
                    "received_at": NOW,
                }
                for i in range(5)
            ],
        )
    store_records(store, [
        {"message_id": f"m{i}", "meter": "vcpus", "type": "gauge", "unit": "vcpu", "volume": 2.0,
         "project_id": ids["payments"], "resource_id": "r1", "timestamp": NOW, "metadata": {}}
        for i in range(7)
    ], origin="/data/samples.jsonl")  # fmt: skip
    return settings


@pytest.fixture(scope="module")
def server(
    settings: Settings,
    kafka_group: tuple[str, str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[api.Server]:
    out = tmp_path_factory.mktemp("api-metrics-server")
    rules = out / "rules.yaml"
    rules.write_text(
        "rules:\n  - name: budgets\n    kind: budget\n    scope: project\n"
        "    thresholds: [{at: 80%, basis: actual, severity: moderate}]\n"
    )
    cli(
        settings,
        "alarms",
        "evaluate",
        "--at",
        NOW.replace(microsecond=0).isoformat(),
        env={"STACKLEDGER__ALARMS__RULES": str(rules)},
    )
    bootstrap, topic, group = kafka_group
    env = {
        **api.server_env(settings, out),
        **api.keystone_env(),
        "STACKLEDGER__KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "STACKLEDGER__KAFKA__TOPIC": topic,
        "STACKLEDGER__KAFKA__GROUP_ID": group,
    }
    with api.serving(env, out / "serve.log") as server:
        yield server


def scrape(server: api.Server) -> dict[str, list[tuple[dict[str, str], float]]]:
    answer = server.get("/metrics", headers={"Authorization": f"Bearer {api.METRICS_TOKEN}"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return {
        family.name: [(dict(s.labels), s.value) for s in family.samples]
        for family in text_string_to_metric_families(answer.text)
    }


def test_metrics_parse_and_carry_the_pipeline_figures(
    server: api.Server, settings: Settings, ids: dict[str, str], tmp_path: Path
) -> None:
    metrics = scrape(server)
    collected = {
        labels["source"]: value for labels, value in metrics["stackledger_collect_last_success_timestamp_seconds"]
    }
    assert collected == {
        "gnocchi": seconds(dt.datetime(2026, 11, 3, 0, 35)),
        "nova": seconds(dt.datetime(2026, 11, 2, 1, 5)),
    }
    windows = {labels["source"]: value for labels, value in metrics["stackledger_collect_window_end_timestamp_seconds"]}
    assert windows == {"gnocchi": seconds(dt.datetime(2026, 11, 3)), "nova": seconds(dt.datetime(2026, 11, 2))}
    rated_end = dt.datetime.fromisoformat(f"{MONTH}-01") + dt.timedelta(days=DAYS)
    rated = {labels["price_book"]: value for labels, value in metrics["stackledger_rated_through_timestamp_seconds"]}
    assert rated == {book: seconds(rated_end) for book in ("internal", "aws", "digitalocean")}
    assert metrics["stackledger_samples_stored"] == [({"source": "/data/samples.jsonl"}, 7.0)]
    letters = {labels["origin"]: value for labels, value in metrics["stackledger_dead_letters"]}
    assert letters == {"metering.sample": 3.0, "bad.jsonl": 2.0}

    _bootstrap, lags = metrics["stackledger_kafka_up"], metrics["stackledger_kafka_consumer_lag"]
    assert _bootstrap == [({}, 1.0)]
    assert {int(labels["partition"]): value for labels, value in lags} == {
        p: float(PRODUCED[p] - COMMITTED[p]) for p in PRODUCED
    }

    cli(settings, "report", "--month", MONTH, "--format", "csv", "--out", str(tmp_path))
    expected = api.csv_totals(tmp_path / f"stackledger-{MONTH}.csv")
    costs = {labels["project_id"]: value for labels, value in metrics["stackledger_cost_month_to_date"]}
    assert costs.keys() == expected.keys()
    for project_id, total in expected.items():
        assert Decimal(str(costs[project_id])).quantize(Decimal("0.01")) == total.quantize(Decimal("0.01"))
    teams = {labels["team"]: value for labels, value in metrics["stackledger_team_cost_month_to_date"]}
    search = expected[ids["search-api"]] + expected[ids["search-index"]]
    assert Decimal(str(teams["search"])).quantize(Decimal("0.01")) == search.quantize(Decimal("0.01"))

    h = tables.alarm_states.c
    with store_for(settings).engine.connect() as conn:
        stored = {(r, c, k): s for r, c, k, s in conn.execute(select(h.rule, h.condition, h.scope_key, h.state))}
    states = {
        (labels["rule"], labels["condition"], labels["scope"]): labels["state"]
        for labels, value in metrics["stackledger_alarm_state"]
        if value == 1
    }
    assert states == stored and stored
    counts = {labels["state"]: value for labels, value in metrics["stackledger_alarms"]}
    assert counts["alarm"] == sum(1 for s in stored.values() if s == "alarm") >= 1  # search-api spends over 80% of 50


def test_metrics_need_the_token_or_a_cloud_reader(server: api.Server) -> None:
    assert server.get("/metrics").status_code == 401
    assert server.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert server.get("/metrics", api.token("lead-payments")).status_code == 403
    assert server.get("/metrics", api.token("finance-reader")).status_code == 200


def seconds(instant: dt.datetime) -> float:
    return (instant - EPOCH).total_seconds()
