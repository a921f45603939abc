"""`kafka`: the webhook's JSON body as one message on `topic`, keyed by alarm id (so one
alarm's notifications stay in order on one partition), acks from all in-sync replicas."""

from __future__ import annotations

from typing import Any

from stackledger.alarms.notifiers.base import DeliveryError, body, delivery_id
from stackledger.alarms.states import Notification
from stackledger.settings import KafkaNotifierSettings, NotifierSettings


class KafkaNotifier:
    name = "kafka"

    def __init__(self, settings: NotifierSettings) -> None:
        if settings.kafka is None:
            raise ValueError("kafka is not configured")
        self.config: KafkaNotifierSettings = settings.kafka
        self._producer: Any = None

    def _connect(self) -> Any:
        from kafka import KafkaProducer  # late: kafka-python is slow to import and most runs never use it

        if self._producer is None:
            timeout_ms = int(self.config.timeout_s * 1000)
            self._producer = KafkaProducer(
                bootstrap_servers=self.config.bootstrap_servers, acks="all", client_id="stackledger-alarms",
                request_timeout_ms=timeout_ms, max_block_ms=timeout_ms, delivery_timeout_ms=2 * timeout_ms,
            )  # fmt: skip
        return self._producer

    def send(self, notification: Notification) -> None:
        from kafka.errors import KafkaError

        try:
            future = self._connect().send(
                self.config.topic, key=notification.alarm_id.encode(), value=body(notification),
                headers=[("content-type", b"application/json"), ("delivery", delivery_id(notification).encode())],
            )  # fmt: skip
            future.get(timeout=self.config.timeout_s)
        except KafkaError as error:
            transient = bool(getattr(error, "retriable", True))
            raise DeliveryError(self.name, f"{type(error).__name__} from {self.config.bootstrap_servers}",
                                transient=transient) from None  # fmt: skip

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=self.config.timeout_s)
            self._producer = None
