"""`webhook`: Aodh's JSON body, POSTed and signed.

Body: `alarms.notifiers.base.body` — the Aodh keys (alarm_name, alarm_id, severity, previous,
current, reason, reason_data) and StackLedger's (kind, condition, scope, evaluated_at,
repeat), compact JSON with sorted keys, UTF-8.

Signature, when `secret` is set: `X-StackLedger-Signature: sha256=<hex>`, the HMAC-SHA256 of
the exact body bytes with the secret as key. A receiver recomputes it over the raw body it
read (before parsing) and compares with `hmac.compare_digest`. `X-StackLedger-Delivery` is
the same for a retry of the same notification, so a receiver can drop duplicates.

TLS is verified (against `ca_bundle` when set); connection errors, timeouts, 408, 429 and
5xx are transient and retried by the dispatcher, other statuses are not.
"""

from __future__ import annotations

import hashlib
import hmac

import requests

from stackledger.alarms.notifiers.base import DeliveryError, body, delivery_id, post
from stackledger.alarms.states import Notification
from stackledger.settings import NotifierSettings, WebhookNotifierSettings

SIGNATURE_HEADER = "X-StackLedger-Signature"
DELIVERY_HEADER = "X-StackLedger-Delivery"


def sign(secret: bytes, payload: bytes) -> str:
    return "sha256=" + hmac.new(secret, payload, hashlib.sha256).hexdigest()


def verify(secret: bytes, payload: bytes, header: str | None) -> bool:
    return header is not None and hmac.compare_digest(sign(secret, payload), header)


class WebhookNotifier:
    name = "webhook"

    def __init__(self, settings: NotifierSettings) -> None:
        if settings.webhook is None:
            raise ValueError("webhook is not configured")
        self.config: WebhookNotifierSettings = settings.webhook
        self.session = requests.Session()

    def send(self, notification: Notification) -> None:
        payload = body(notification)
        configured = {name: value.get_secret_value() for name, value in self.config.headers.items()}
        headers = {**configured, "Content-Type": "application/json", DELIVERY_HEADER: delivery_id(notification)}
        if self.config.secret is not None:
            headers[SIGNATURE_HEADER] = sign(self.config.secret.get_secret_value().encode(), payload)
        verify_tls: bool | str = str(self.config.ca_bundle) if self.config.ca_bundle else self.config.verify_tls
        post(self.session, self.name, self.config.url, timeout_s=self.config.timeout_s, verify=verify_tls,
             data=payload, headers=headers)  # fmt: skip

    def close(self) -> None:
        self.session.close()


__all__ = ["DELIVERY_HEADER", "SIGNATURE_HEADER", "DeliveryError", "WebhookNotifier", "sign", "verify"]
