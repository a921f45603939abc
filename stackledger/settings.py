"""One typed settings object, read from YAML with environment overrides.

Precedence (last wins): built-in defaults, the YAML file (`--config PATH` or
`STACKLEDGER_CONFIG`), then environment variables `STACKLEDGER__SECTION__KEY=value`
(values are parsed as YAML scalars, so `true`, `5` and `[a, b]` keep their types).
Secrets are `SecretStr`: they print as '**********' and never reach logs.

The sections live in `stackledger.sections` (one module per area) and are re-exported here;
`Settings` assembles them, `load_settings` reads and validates them. Concepts with a pure
model are built from here: `settings.fx_rates()`, `settings.baselines.config(provider)`, and
the rate card by `stackledger.ratecard.load_rate_card(settings.rate_card)`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError

from stackledger.errors import ConfigError
from stackledger.model.fx import FxRate
from stackledger.sections import Section
from stackledger.sections.alarms import (
    AlarmSettings,
    ForecastSettings,
    KafkaNotifierSettings,
    NotifierSettings,
    SlackNotifierSettings,
    SmtpNotifierSettings,
    WebhookNotifierSettings,
)
from stackledger.sections.api import ApiSettings, KeystoneAuthSettings, TeamLeadRule
from stackledger.sections.core import (
    AirflowSettings,
    CollectSettings,
    DatabaseSettings,
    IngestSettings,
    RateSettings,
    RetentionSettings,
    UsageSettings,
)
from stackledger.sections.pricing import (
    AwsBaseline,
    BaselineSettings,
    DigitalOceanBaseline,
    FxRateSettings,
    ProviderBaseline,
)
from stackledger.sections.reports import ReportEmailSettings, ReportSettings
from stackledger.sections.sources import GnocchiSourceSettings, KafkaSettings, OpenStackSettings, ProjectTagSettings

ENV_PREFIX = "STACKLEDGER__"
CONFIG_ENV = "STACKLEDGER_CONFIG"
PACKAGE_DATA = Path(__file__).parent / "data"
DEFAULT_RATE_CARD = PACKAGE_DATA / "rate_card.example.yaml"

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_RATE_CARD",
    "ENV_PREFIX",
    "PACKAGE_DATA",
    "AirflowSettings",
    "AlarmSettings",
    "ApiSettings",
    "AwsBaseline",
    "BaselineSettings",
    "CollectSettings",
    "DatabaseSettings",
    "DigitalOceanBaseline",
    "ForecastSettings",
    "FxRateSettings",
    "GnocchiSourceSettings",
    "IngestSettings",
    "KafkaNotifierSettings",
    "KafkaSettings",
    "KeystoneAuthSettings",
    "NotifierSettings",
    "OpenStackSettings",
    "ProjectTagSettings",
    "ProviderBaseline",
    "RateSettings",
    "ReportEmailSettings",
    "ReportSettings",
    "RetentionSettings",
    "Section",
    "Settings",
    "SlackNotifierSettings",
    "SmtpNotifierSettings",
    "TeamLeadRule",
    "UsageSettings",
    "WebhookNotifierSettings",
    "load_settings",
]  # fmt: skip


class Settings(Section):
    database: DatabaseSettings = DatabaseSettings()
    rate_card: Path = DEFAULT_RATE_CARD
    ingest: IngestSettings = IngestSettings()
    usage: UsageSettings = UsageSettings()
    rate: RateSettings = RateSettings()
    retention: RetentionSettings = RetentionSettings()
    report: ReportSettings = ReportSettings()
    baselines: BaselineSettings = BaselineSettings()
    fx: list[FxRateSettings] = Field(default_factory=list)
    alarms: AlarmSettings = AlarmSettings()
    gnocchi: GnocchiSourceSettings = GnocchiSourceSettings()
    collect: CollectSettings = CollectSettings()
    kafka: KafkaSettings = KafkaSettings()
    openstack: OpenStackSettings = OpenStackSettings()
    airflow: AirflowSettings = AirflowSettings()
    api: ApiSettings = ApiSettings()
    source_file: str | None = Field(default=None, exclude=True)

    def fx_rates(self) -> tuple[FxRate, ...]:
        """The `fx` entries as the pure model the transforms convert with."""
        return tuple(entry.fx_rate() for entry in self.fx)


def load_settings(path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Build the settings from an optional YAML file and the environment."""
    env = os.environ if environ is None else environ
    file = str(path) if path is not None else env.get(CONFIG_ENV)
    data: dict[str, Any] = _read_yaml(file) if file else {}
    for key, value in env.items():
        if key.startswith(ENV_PREFIX):
            _set_path(data, key[len(ENV_PREFIX) :].lower().split("__"), _parse_scalar(key, value))
    if file and "rate_card" in data and not Path(str(data["rate_card"])).is_absolute():
        # Relative paths in a config file are relative to that file, as a user expects.
        data["rate_card"] = str(Path(file).parent / str(data["rate_card"]))
    baselines = data.get("baselines")
    if file and isinstance(baselines, dict) and baselines.get("price_overrides"):
        overrides = Path(str(baselines["price_overrides"]))
        baselines["price_overrides"] = str(overrides if overrides.is_absolute() else Path(file).parent / overrides)
    alarms = data.get("alarms")
    if file and isinstance(alarms, dict) and alarms.get("rules"):
        rules = Path(str(alarms["rules"]))
        alarms["rules"] = str(rules if rules.is_absolute() else Path(file).parent / rules)
    api = data.get("api")
    if file and isinstance(api, dict) and api.get("policy_file"):
        policy = Path(str(api["policy_file"]))
        api["policy_file"] = str(policy if policy.is_absolute() else Path(file).parent / policy)
    kafka = data.get("kafka")
    if file and isinstance(kafka, dict):
        for key in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            if kafka.get(key):
                tls = Path(str(kafka[key]))
                kafka[key] = str(tls if tls.is_absolute() else Path(file).parent / tls)
    try:
        return Settings(**data, source_file=file)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"])
        raise ConfigError(_expected(first, secret=_is_secret(key)), file=file or "<environment>", key=key) from None


def _read_yaml(file: str) -> dict[str, Any]:
    try:
        with open(file, encoding="utf-8") as handle:
            loaded = yaml.safe_load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", file=file) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", file=file) from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError("expected a mapping of sections at the top level", file=file)
    return loaded


def _parse_scalar(key: str, raw: str) -> Any:
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError:
        raise ConfigError(f"value {raw!r} is not a YAML scalar", file="<environment>", key=key) from None


def _set_path(data: dict[str, Any], parts: list[str], value: Any) -> None:
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError("cannot set a key inside a non-mapping value", key=".".join(parts))
    node[parts[-1]] = value


_SECRET_WORDS = ("password", "secret", "token", "key")


def _is_secret(key: str) -> bool:
    return any(word in key.lower() for word in _SECRET_WORDS)


def _expected(error: Mapping[str, Any], *, secret: bool) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown key"
    if secret or "input" not in error:  # never echo a secret's value back
        return str(error["msg"])
    return f"{error['msg']} (got {error['input']!r})"
