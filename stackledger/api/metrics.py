"""`/metrics` in the Prometheus text format (prometheus-client), built from the store at scrape time.

Families (all gauges; instants are Unix seconds, money in the currency label):
- stackledger_collect_last_success_timestamp_seconds{source}: when the source's newest
  checkpoint was stored; stackledger_collect_window_end_timestamp_seconds{source}: the end of
  the newest window it covers;
- stackledger_rated_through_timestamp_seconds{price_book}: the end of the last rated cost line;
- stackledger_samples_stored{source}, stackledger_dead_letters{origin}: rows in the store;
- stackledger_kafka_consumer_lag{topic,group,partition}: the consume group's committed offset
  behind the partition's end, read from the brokers (stackledger_kafka_up 0 when they could
  not be asked; the figures are kept for `KAFKA_SECONDS`);
- stackledger_cost_month_to_date{project_id,project_name,team,currency} and
  stackledger_team_cost_month_to_date{team,currency}: the internal price book, this calendar
  month (the same sums as the reports);
- stackledger_budget{…} and stackledger_budget_forecast{…}: the month's budget and the
  month-end forecast the alarms and the PDF use;
- stackledger_alarm_state{rule,condition,scope,state} = 1 for each alarm's current state, and
  stackledger_alarms{state}: how many alarms are in each state.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

from stackledger.api.figures import Figures
from stackledger.reports.data import ZERO
from stackledger.settings import KafkaSettings
from stackledger.window import utcnow

log = logging.getLogger(__name__)

KAFKA_SECONDS: Final = 30.0


@dataclass
class KafkaLag:
    """The consume group's lag per partition, asked of the brokers at most every KAFKA_SECONDS."""

    settings: KafkaSettings
    _at: float = -1e9
    _value: tuple[bool, dict[int, int]] = (False, {})
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def read(self) -> tuple[bool, dict[int, int]]:
        with self._lock:
            if time.monotonic() - self._at < KAFKA_SECONDS:
                return self._value
            self._value = self._ask()
            self._at = time.monotonic()
            return self._value

    def _ask(self) -> tuple[bool, dict[int, int]]:
        from kafka import KafkaConsumer, TopicPartition

        from stackledger.collectors.kafka import consumer_config

        config = consumer_config(self.settings, self.settings.group_id)
        config |= {"client_id": "stackledger-serve-metrics", "group_instance_id": None}
        consumer = None
        try:
            consumer = KafkaConsumer(**config)  # never subscribes: reads offsets, joins no group
            partitions = consumer.partitions_for_topic(self.settings.topic) or set()
            tps = [TopicPartition(self.settings.topic, p) for p in sorted(partitions)]
            ends = consumer.end_offsets(tps) if tps else {}
            lag = {tp.partition: max(int(ends[tp]) - int(consumer.committed(tp) or 0), 0) for tp in tps}
            return True, lag
        except Exception as error:  # a broker that is down or refuses: the metric says so
            log.warning("metrics: Kafka consumer lag unavailable (%s)", type(error).__name__)
            return False, {}
        finally:
            if consumer is not None:
                consumer.close(autocommit=False)


class StoreCollector:
    """A prometheus-client collector reading the figures at each scrape."""

    def __init__(self, figures: Figures, kafka: KafkaLag) -> None:
        self.figures = figures
        self.kafka = kafka

    def collect(self) -> Iterator[Metric]:
        yield from self._pipeline()
        yield from self._kafka()
        yield from self._costs()
        yield from self._alarms()

    def _pipeline(self) -> Iterator[Metric]:
        status = self.figures.status()
        last = _gauge(
            "collect_last_success_timestamp_seconds", "When the source's newest checkpoint was stored", ["source"]
        )
        window = _gauge(
            "collect_window_end_timestamp_seconds", "End of the newest window the source collected", ["source"]
        )
        for source, (at, end) in sorted(status.collected.items()):
            last.add_metric([source], _epoch(at))
            window.add_metric([source], _epoch(end))
        rated = _gauge("rated_through_timestamp_seconds", "End of the last rated cost line", ["price_book"])
        for book, end in sorted(status.rated_through.items()):
            rated.add_metric([book], _epoch(end))
        stored = _gauge("samples_stored", "Samples in the store, by where they came from (file, kafka:<topic>)",
                        ["source"])  # fmt: skip
        for source, count in sorted(status.samples.items()):
            stored.add_metric([source], count)
        letters = _gauge("dead_letters", "Messages that could not be used, by origin", ["origin"])
        for origin, count in sorted(status.dead_letters.items()):
            letters.add_metric([origin], count)
        yield from (last, window, rated, stored, letters)

    def _kafka(self) -> Iterator[Metric]:
        up, lag = self.kafka.read()
        settings = self.kafka.settings
        yield _gauge("kafka_up", "1 when the brokers answered the consumer lag question", [], value=1 if up else 0)
        family = _gauge(
            "kafka_consumer_lag", "Messages the consume group has not committed yet", ["topic", "group", "partition"]
        )
        for partition, behind in sorted(lag.items()):
            family.add_metric([settings.topic, settings.group_id, str(partition)], behind)
        yield family

    def _costs(self) -> Iterator[Metric]:
        documents = self.figures.month(utcnow().strftime("%Y-%m"))
        projects = _gauge(
            "cost_month_to_date",
            "Internal cost of the project this calendar month",
            ["project_id", "project_name", "team", "currency"],
        )
        budget = _gauge(
            "budget", "The project's budget for the month", ["project_id", "project_name", "team", "currency"]
        )
        forecast = _gauge(
            "budget_forecast",
            "Month-end cost forecast of a project with a budget",
            ["project_id", "project_name", "team", "currency"],
        )
        teams: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
        for line in documents.summary.projects:
            for currency, amount in sorted(line.cost.items()):
                projects.add_metric([line.project_id, line.name, line.team, currency], float(amount))
                teams[(line.team, currency)] += amount
            if line.budget is not None:
                labels = [line.project_id, line.name, line.team, line.budget.currency]
                budget.add_metric(labels, float(line.budget.amount))
                if line.budget.forecast is not None:
                    forecast.add_metric(labels, float(line.budget.forecast))
        team = _gauge("team_cost_month_to_date", "Internal cost of the team this calendar month", ["team", "currency"])
        for (name, currency), amount in sorted(teams.items()):
            team.add_metric([name, currency], float(amount))
        yield from (projects, team, budget, forecast)

    def _alarms(self) -> Iterator[Metric]:
        states = self.figures.alarm_states()
        each = _gauge("alarm_state", "1 for the alarm's current state", ["rule", "condition", "scope", "state"])
        counts: Counter[str] = Counter()
        for row in states:
            each.add_metric([row["rule"], row["condition"], row["scope_key"], row["state"]], 1)
            counts[row["state"]] += 1
        total = _gauge("alarms", "Alarms in each state", ["state"])
        for state in ("ok", "alarm", "insufficient_data"):
            total.add_metric([state], counts[state])
        yield from (each, total)


def render(figures: Figures, kafka: KafkaLag) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(figures, kafka))
    return generate_latest(registry)


def _gauge(name: str, documentation: str, labels: list[str], value: Any = None) -> GaugeMetricFamily:
    if value is not None:
        return GaugeMetricFamily(f"stackledger_{name}", documentation, value=value)
    return GaugeMetricFamily(f"stackledger_{name}", documentation, labels=labels)


def _epoch(instant: Any) -> float:
    import datetime as dt

    return float(instant.replace(tzinfo=dt.UTC).timestamp())
