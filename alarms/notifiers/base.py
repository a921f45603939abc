"""What every notifier shares: the interface, the delivery error, the JSON body and the text."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests

from stackledger.alarms.states import Notification
from stackledger.errors import StackLedgerError


class DeliveryError(StackLedgerError):
    """A notifier could not deliver. `transient` failures are retried; `notifier` names it.

    The message never holds a secret: no password, HMAC key, or Slack URL path.
    """

    def __init__(self, notifier: str, message: str, *, transient: bool) -> None:
        self.notifier = notifier
        self.transient = transient
        super().__init__(f"{notifier}: {message}")


class Notifier(Protocol):
    name: str

    def send(self, notification: Notification) -> None:
        """Deliver once; raise DeliveryError on failure (retries are the caller's)."""

    def close(self) -> None: ...


def body(notification: Notification) -> bytes:
    """The exact bytes webhooks and Kafka carry (and the HMAC signs): compact, keys sorted."""
    return json.dumps(notification.payload(), sort_keys=True, separators=(",", ":"), default=str).encode()


def delivery_id(notification: Notification) -> str:
    """Same alarm, instant and state → same id, so a receiver can drop a retried duplicate."""
    seed = f"{notification.alarm_id}|{notification.at.isoformat()}|{notification.current}"
    return hashlib.sha256(seed.encode()).hexdigest()[:32]


def headline(notification: Notification) -> str:
    """'ALARM critical: project-budgets [actual 80%] project web-shop [p1]'."""
    return f"{notification.current.upper()} {notification.severity}: {notification.title}"


def plain_text(notification: Notification) -> str:
    """A plain-text message: headline, transition, reason and the reason data, one fact a line."""
    lines = [
        headline(notification),
        f"{notification.previous} → {notification.current} at {notification.at:%Y-%m-%d %H:%M} UTC",
        notification.reason,
        "",
        *(f"{key}: {_plain(value)}" for key, value in notification.reason_data.items() if value is not None),
        "",
        f"alarm id: {notification.alarm_id}",
    ]
    return "\n".join(lines)


def _plain(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str) if isinstance(value, dict | list) else str(value)


def post(session: requests.Session, notifier: str, url: str, *, timeout_s: float, verify: bool | str,
         **request: Any) -> None:  # fmt: skip
    """POST without following redirects; any non-2xx answer or connection failure → DeliveryError."""
    try:
        response = session.post(url, timeout=timeout_s, verify=verify, allow_redirects=False, **request)
    except requests.RequestException as error:
        raise http_failure(notifier, url, error) from None
    if not 200 <= response.status_code < 300:
        raise http_status(notifier, url, response.status_code)


def http_failure(notifier: str, url: str, error: Exception) -> DeliveryError:
    """A connection failure described by host only: URLs may carry tokens (Slack's do). A
    certificate that does not verify will not verify on a retry either."""
    host = urlsplit(url).hostname or "?"
    transient = not isinstance(error, requests.exceptions.SSLError)
    return DeliveryError(notifier, f"{type(error).__name__} talking to {host}", transient=transient)


def http_status(notifier: str, url: str, status: int) -> DeliveryError:
    host = urlsplit(url).hostname or "?"
    # 408, 429 and 5xx may pass; any other 4xx will fail the same way again.
    transient = status >= 500 or status in (408, 429)
    return DeliveryError(notifier, f"HTTP {status} from {host}", transient=transient)
