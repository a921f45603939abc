"""Notifier registry, delivery with retries, the signed body and the message texts (no network:
the real SMTP server, webhook receiver and Kafka are in tests/integration/test_alarm_delivery.py)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import threading
from dataclasses import replace

import pytest

from stackledger.alarms.notifiers import REGISTRY, build_notifiers, deliver
from stackledger.alarms.notifiers.base import DeliveryError, body
from stackledger.alarms.notifiers.email import message
from stackledger.alarms.notifiers.slack import slack_text
from stackledger.alarms.notifiers.webhook import sign, verify
from stackledger.alarms.states import AlarmKey, Notification, scope_label
from stackledger.errors import ConfigError
from stackledger.settings import NotifierSettings, SmtpNotifierSettings

NOTE = Notification(
    AlarmKey("team-budget", "actual 80%", "project:p1"), "budget", dt.datetime(2026, 10, 15), "moderate", "ok",
    "alarm", "Transition to alarm due to actual 820.00 EUR > 800.00 EUR", {"type": "budget", "actual": "820.00"},
    ("a", "b"),
)  # fmt: skip


class Fake:
    def __init__(self, name: str, failures: list[Exception] | None = None) -> None:
        self.name = name
        self.failures = list(failures or [])
        self.sent: list[Notification] = []

    def send(self, notification: Notification) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(notification)

    def close(self) -> None:
        pass


def settings(**values: object) -> NotifierSettings:
    return NotifierSettings.model_validate({"retry_attempts": 3, "retry_backoff_s": 0.5, **values})


def test_registry_is_a_plain_dict_and_unknown_names_list_the_valid_ones() -> None:
    assert set(REGISTRY) == {"log", "webhook", "email", "kafka", "slack"}
    with pytest.raises(ConfigError, match="unknown notifier 'pager'; valid: email, kafka, log, slack, webhook"):
        build_notifiers(settings(), ["log", "pager"])


def test_a_notifier_the_settings_do_not_configure_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        build_notifiers(settings(), ["email"])
    assert caught.value.key == "alarms.notifiers.email"
    assert set(build_notifiers(settings(), ["log"])) == {"log"}


def test_transient_failures_are_retried_with_backoff() -> None:
    flaky = Fake("a", [DeliveryError("a", "HTTP 503", transient=True), DeliveryError("a", "HTTP 503", transient=True)])
    steady = Fake("b")
    waits: list[float] = []
    deliveries = deliver([NOTE], {"a": flaky, "b": steady}, settings(), sleep=waits.append)
    assert [(d.notifier, d.ok, d.attempts, d.error) for d in deliveries] == [("a", True, 3, None), ("b", True, 1, None)]
    assert waits == [0.5, 1.0]  # exponential: backoff × 2^n
    assert len(flaky.sent) == len(steady.sent) == 1


def test_permanent_failures_are_not_retried_and_unexpected_ones_are_recorded() -> None:
    refused = Fake("a", [DeliveryError("a", "HTTP 400 from hooks.example", transient=False)])
    broken = Fake("b", [RuntimeError("boom with hunter2 inside")])
    config = settings(email={"recipients": ["x@example.org"], "password": "hunter2"})
    deliveries = deliver([NOTE], {"a": refused, "b": broken}, config, sleep=lambda _: None)
    assert [(d.ok, d.attempts) for d in deliveries] == [(False, 1), (False, 1)]
    assert deliveries[0].error == "a: HTTP 400 from hooks.example"
    assert deliveries[1].error == "b: unexpected RuntimeError: boom with *** inside"  # secret scrubbed


def test_retries_give_up_after_the_configured_attempts() -> None:
    down = Fake("a", [DeliveryError("a", "ConnectionError", transient=True)] * 5)
    [delivery] = deliver([NOTE], {"a": down, "b": Fake("b")}, settings(), sleep=lambda _: None)[:1]
    assert (delivery.ok, delivery.attempts) == (False, 3)


def test_a_slow_notifier_does_not_hold_up_the_others() -> None:
    released = threading.Event()

    class Slow(Fake):
        def send(self, notification: Notification) -> None:
            # Waits for the other notifier: only possible if both run at once.
            if not released.wait(timeout=5):
                raise DeliveryError(self.name, "the other notifier never ran", transient=False)
            super().send(notification)

    class Quick(Fake):
        def send(self, notification: Notification) -> None:
            super().send(notification)
            released.set()

    deliveries = deliver([NOTE], {"a": Slow("a"), "b": Quick("b")}, settings(), sleep=lambda _: None)
    assert all(d.ok for d in deliveries)


def test_webhook_signature_is_hmac_sha256_of_the_exact_body() -> None:
    raw = body(NOTE)
    assert raw == json.dumps(NOTE.payload(), sort_keys=True, separators=(",", ":")).encode()
    header = sign(b"k3y", raw)
    assert header == "sha256=" + hmac.new(b"k3y", raw, hashlib.sha256).hexdigest()
    assert verify(b"k3y", raw, header)
    assert not verify(b"k3y", raw + b" ", header) and not verify(b"other", raw, header)
    assert not verify(b"k3y", raw, None)
    payload = json.loads(raw)
    assert {k: payload[k] for k in ("alarm_name", "severity", "previous", "current")} == {
        "alarm_name": "team-budget", "severity": "moderate", "previous": "ok", "current": "alarm"}  # fmt: skip
    assert payload["evaluated_at"] == "2026-10-15T00:00:00Z" and payload["alarm_id"] == NOTE.key.alarm_id


def test_texts_for_email_and_slack() -> None:
    mail = message(SmtpNotifierSettings(sender="alarms@example.org", recipients=["a@example.org", "b@example.org"]),
                   NOTE)  # fmt: skip
    assert mail["Subject"] == "[StackLedger] ALARM moderate: team-budget [actual 80%] project:p1"
    assert mail["To"] == "a@example.org, b@example.org" and mail["X-StackLedger-Alarm-Id"] == NOTE.alarm_id
    content = mail.get_content()
    assert "ok → alarm at 2026-10-15 00:00 UTC" in content and "actual: 820.00" in content
    assert slack_text(NOTE).startswith(":rotating_light: *ALARM moderate: team-budget [actual 80%] project:p1*")


def test_log_notifier_writes_one_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="stackledger.alarms")
    note = replace(NOTE, notifiers=("log",))
    [delivery] = deliver([note], build_notifiers(settings(), ["log"]), settings(), sleep=lambda _: None)
    assert delivery.ok
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert "ALARM moderate: team-budget [actual 80%] project:p1 (ok → alarm)" in caplog.text


def test_a_notifier_missing_from_the_mapping_fails_alone() -> None:
    deliveries = deliver([NOTE], {"b": Fake("b")}, settings(), sleep=lambda _: None)
    assert [(d.notifier, d.ok, d.error) for d in deliveries] == [("a", False, "a: not configured"), ("b", True, None)]


def test_secrets_do_not_print() -> None:
    config = settings(email={"recipients": ["a@example.org"], "password": "hunter2"},
                      webhook={"url": "https://hooks.example/x", "secret": "s3cret"},
                      slack={"url": "https://hooks.slack.com/services/T0/B0/tok3n"})  # fmt: skip
    shown = repr(config) + str(config.model_dump())
    assert "hunter2" not in shown and "s3cret" not in shown and "tok3n" not in shown


def test_scopes_read_as_names_with_the_id_in_brackets() -> None:
    names = {"p1": "web-shop"}
    assert scope_label("project:p1", names) == "project web-shop [p1]"
    assert scope_label("project:p9", names) == "project [p9]"  # no name known: the id alone
    assert (scope_label("team:payments", names), scope_label("total", names)) == ("team payments", "total")
    assert scope_label("resource:vm-1", names) == "resource vm-1"


def test_every_output_names_the_project(caplog: pytest.LogCaptureFixture) -> None:
    note = replace(NOTE, notifiers=("log",), scope_label=scope_label("project:p1", {"p1": "web-shop"}))
    mail = message(SmtpNotifierSettings(sender="alarms@example.org", recipients=["a@example.org"]), note)
    assert mail["Subject"] == "[StackLedger] ALARM moderate: team-budget [actual 80%] project web-shop [p1]"
    assert slack_text(note).startswith(
        ":rotating_light: *ALARM moderate: team-budget [actual 80%] project web-shop [p1]*"
    )
    payload = note.payload()
    assert (payload["scope"], payload["scope_label"]) == ("project:p1", "project web-shop [p1]")
    caplog.set_level(logging.INFO, logger="stackledger.alarms")
    deliver([note], build_notifiers(settings(), ["log"]), settings(), sleep=lambda _: None)
    assert "ALARM moderate: team-budget [actual 80%] project web-shop [p1] (ok → alarm)" in caplog.text
