"""Settings of the alarm engine: its notifiers and the month-end forecast."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr

from stackledger.sections import Section


class SmtpNotifierSettings(Section):
    """`email` notifier: one message per notification, plain text, over SMTP."""

    host: str = "localhost"
    port: int = Field(default=25, gt=0, lt=65536)
    security: Literal["none", "starttls", "ssl"] = "none"  # ssl = SMTPS (implicit TLS, usually port 465)
    username: str | None = None
    password: SecretStr | None = None
    sender: str = "stackledger@localhost"  # the From: address
    recipients: list[str] = Field(default_factory=list)  # the To: addresses
    subject_prefix: str = "[StackLedger]"
    timeout_s: float = Field(default=10.0, gt=0)
    ca_bundle: Path | None = None  # CA file to verify the server with (default: the system store)


class WebhookNotifierSettings(Section):
    """`webhook` notifier: Aodh-style JSON POST, HMAC-SHA256 signed when `secret` is set."""

    url: str
    secret: SecretStr | None = None  # signs the body: X-StackLedger-Signature: sha256=<hex>
    timeout_s: float = Field(default=10.0, gt=0)
    verify_tls: bool = True
    ca_bundle: Path | None = None
    headers: dict[str, SecretStr] = Field(default_factory=dict)  # sent as given; values often carry tokens: masked


class SlackNotifierSettings(Section):
    """`slack` notifier: Slack-compatible incoming webhook (`{"text": …}`); the URL is a secret."""

    url: SecretStr
    timeout_s: float = Field(default=10.0, gt=0)
    verify_tls: bool = True


class KafkaNotifierSettings(Section):
    """`kafka` notifier: the webhook's JSON body as a message on `topic`, keyed by alarm id."""

    bootstrap_servers: str = "localhost:9092"
    topic: str = "stackledger.alarms"
    timeout_s: float = Field(default=10.0, gt=0)


class NotifierSettings(Section):
    """Notifiers by name; `log` always exists, the others exist when configured here."""

    log_level: Literal["INFO", "WARNING", "ERROR"] = "WARNING"
    email: SmtpNotifierSettings | None = None
    webhook: WebhookNotifierSettings | None = None
    slack: SlackNotifierSettings | None = None
    kafka: KafkaNotifierSettings | None = None
    retry_attempts: int = Field(default=3, ge=1)  # per notification and notifier, first try included
    retry_backoff_s: float = Field(default=0.5, ge=0)  # doubled after each failed try, at most 30 s


class ForecastSettings(Section):
    """Month-end cost forecast for `basis: forecast` budgets (alarms/stats.py explains both methods)."""

    method: Literal["trailing_mean", "linear"] = "trailing_mean"
    window_days: int = Field(default=7, ge=2, le=62)  # complete days the forecast learns from
    min_days: int = Field(default=3, ge=1)  # fewer rated days than this in the window: insufficient_data


class AlarmSettings(Section):
    rules: Path | None = None  # the rules YAML; relative paths are relative to the config file
    default_notify: list[str] = Field(default_factory=lambda: ["log"])  # a rule without `notify`
    notifiers: NotifierSettings = NotifierSettings()
    forecast: ForecastSettings = ForecastSettings()
    # metric_threshold rules with `source: gnocchi` use the top-level `gnocchi` section (the collector's).
