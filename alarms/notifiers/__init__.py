"""Notifiers: a plain registry by name, and delivery with retries that never blocks.

    REGISTRY = {"log": …, "webhook": …, "email": …, "kafka": …, "slack": …}

Rules name notifiers (`notify: [email, webhook]`); `build_notifiers` makes the ones a rule
set uses from `settings.alarms.notifiers`, raising ConfigError for an unknown name (listing
the valid ones) or one that is not configured, before anything is evaluated.

`deliver` sends every notification to each of its notifiers. Each notifier works through its
own queue in its own thread, so a slow or failing one never holds up the others; transient
failures (`DeliveryError.transient`) are retried with exponential backoff (tenacity), and
every outcome — sent or failed, attempts, error — comes back as a `Delivery`. Error texts
are scrubbed of configured secrets (`stackledger.redact`) before they are returned or logged.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from stackledger.alarms.notifiers.base import DeliveryError, Notifier
from stackledger.alarms.notifiers.email import EmailNotifier
from stackledger.alarms.notifiers.kafka import KafkaNotifier
from stackledger.alarms.notifiers.log import LogNotifier
from stackledger.alarms.notifiers.slack import SlackNotifier
from stackledger.alarms.notifiers.webhook import WebhookNotifier
from stackledger.alarms.states import Notification
from stackledger.errors import ConfigError
from stackledger.redact import mask_all, redact_text
from stackledger.settings import NotifierSettings
from stackledger.window import utcnow

log = logging.getLogger(__name__)

REGISTRY: dict[str, Callable[[NotifierSettings], Notifier]] = {
    "log": LogNotifier,
    "webhook": WebhookNotifier,
    "email": EmailNotifier,
    "kafka": KafkaNotifier,
    "slack": SlackNotifier,
}
MAX_BACKOFF_S = 30.0


@dataclass(frozen=True)
class Delivery:
    notification: Notification
    notifier: str
    ok: bool
    attempts: int
    error: str | None
    finished_at: dt.datetime  # naive UTC wall clock


def build_notifiers(settings: NotifierSettings, names: Iterable[str]) -> dict[str, Notifier]:
    built: dict[str, Notifier] = {}
    for name in sorted(set(names)):
        factory = REGISTRY.get(name)
        if factory is None:
            valid = ", ".join(sorted(REGISTRY))
            raise ConfigError(f"unknown notifier {name!r}; valid: {valid}", key="alarms.notifiers")
        try:
            built[name] = factory(settings)
        except ValueError as error:
            raise ConfigError(f"the rules use notifier {name!r} but {error}: set alarms.notifiers.{name}",
                              key=f"alarms.notifiers.{name}") from None  # fmt: skip
    return built


def deliver(
    notifications: Sequence[Notification],
    notifiers: Mapping[str, Notifier],
    settings: NotifierSettings,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Delivery]:
    """Send everything; returns one Delivery per (notification, notifier), in input order."""
    queues: dict[str, list[Notification]] = {}
    for note in notifications:
        for name in note.notifiers:
            queues.setdefault(name, []).append(note)
    if not queues:
        return []
    secrets = _secrets(settings)

    def work(name: str) -> list[Delivery]:
        notifier = notifiers.get(name)
        if notifier is None:  # build_notifiers prevents this; never let it stop the others
            now = utcnow()
            return [Delivery(note, name, False, 0, f"{name}: not configured", now) for note in queues[name]]
        return [_send(notifier, note, settings, secrets, sleep) for note in queues[name]]

    with ThreadPoolExecutor(max_workers=len(queues), thread_name_prefix="notify") as pool:
        results = dict(zip(queues, pool.map(work, queues), strict=True))
    order = {id(note): i for i, note in enumerate(notifications)}
    flat = [d for found in results.values() for d in found]
    return sorted(flat, key=lambda d: (order[id(d.notification)], d.notifier))


def _send(notifier: Notifier, note: Notification, settings: NotifierSettings, secrets: list[str],
          sleep: Callable[[float], None]) -> Delivery:  # fmt: skip
    attempts = 0
    retrying = Retrying(
        stop=stop_after_attempt(settings.retry_attempts),
        wait=wait_exponential(multiplier=settings.retry_backoff_s, max=MAX_BACKOFF_S),
        retry=retry_if_exception(lambda error: isinstance(error, DeliveryError) and error.transient),
        reraise=True,
        sleep=sleep,
    )
    error: str | None = None
    try:
        for attempt in retrying:
            with attempt:
                attempts += 1
                notifier.send(note)
    except DeliveryError as failure:
        error = _scrub(str(failure), secrets)
    except Exception as failure:  # a notifier bug must not stop the others; record it
        error = _scrub(f"{notifier.name}: unexpected {type(failure).__name__}: {failure}", secrets)
    if error:
        log.warning("alarm %s: %s failed after %d attempt(s): %s", note.title, notifier.name, attempts, error)
    return Delivery(note, notifier.name, error is None, attempts, error, utcnow())


def close_all(notifiers: Mapping[str, Notifier]) -> None:
    for notifier in notifiers.values():
        try:
            notifier.close()
        except Exception as error:  # closing is best effort
            log.debug("closing %s: %s", notifier.name, type(error).__name__)


def _secrets(settings: NotifierSettings) -> list[str]:
    found = []
    if settings.email and settings.email.password:
        found.append(settings.email.password.get_secret_value())
    if settings.webhook and settings.webhook.secret:
        found.append(settings.webhook.secret.get_secret_value())
    if settings.webhook:
        found.extend(value.get_secret_value() for value in settings.webhook.headers.values())
    if settings.slack:
        found.append(settings.slack.url.get_secret_value())
    return [s for s in found if s]


def _scrub(message: str, secrets: Iterable[str]) -> str:
    return redact_text(mask_all(secrets, message))


__all__ = ["REGISTRY", "Delivery", "DeliveryError", "Notifier", "build_notifiers", "close_all", "deliver"]
