"""One typed settings object, read from YAML with environment overrides.

Precedence (last wins): built-in defaults, the YAML file (`--config PATH` or
`STACKLEDGER_CONFIG`), then environment variables `STACKLEDGER__SECTION__KEY=value`
(values are parsed as YAML, so `true`, `5` and `[a, b]` keep their types; the value of a key
named like a secret — `…__PASSWORD`, `…__SECRET` — is taken verbatim). Secrets are `SecretStr`:
they print as '**********'; every secret read (and the password of `database.url`) is
remembered by `stackledger.redact`, which masks it in logs, errors and `config show`.

The sections live in `stackledger.sections` (one module per area) and are re-exported here;
`Settings` assembles them, `load_settings` reads and validates them. Concepts with a pure
model are built from here: `settings.fx_rates()`, `settings.baselines.config(provider)`, and
the rate card by `stackledger.ratecard.load_rate_card(settings.rate_card)`.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError

from stackledger import redact
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
    """Build the settings from an optional YAML file and the environment.

    A `ConfigError` names where the bad value came from: the environment variable when it set the
    value (or the mapping holding it), else the file; then the key and what was expected. It
    never quotes a secret's value. Every secret read is `stackledger.redact.remember`ed first.
    """
    env = os.environ if environ is None else environ
    file = str(path) if path is not None else env.get(CONFIG_ENV)
    redact.remember_environment(env)
    data: dict[str, Any] = _read_yaml(file) if file else {}
    from_file = copy.deepcopy(data)
    overrides: dict[tuple[str, ...], str] = {}
    for name, value in env.items():
        if name.startswith(ENV_PREFIX):
            parts = tuple(name[len(ENV_PREFIX) :].lower().split("__"))
            _set_path(data, parts, _parse_override(name, parts, value), name)
            overrides[parts] = name
    redact.remember_in(data)
    if file:
        _relative_to(data, Path(file).parent)
    try:
        settings = Settings(**data, source_file=file)
    except ValidationError as exc:
        raise _config_error(exc, file, from_file, overrides) from None
    redact.remember_in(settings)
    return settings


def _relative_to(data: dict[str, Any], folder: Path) -> None:
    """Relative paths in a config file are relative to that file, as a user expects."""
    for section, keys in _FILE_PATHS.items():
        node = data if section is None else data.get(section)
        if not isinstance(node, dict):
            continue
        for key in keys:
            if node.get(key):
                given = Path(str(node[key]))
                node[key] = str(given if given.is_absolute() else folder / given)


_FILE_PATHS: dict[str | None, tuple[str, ...]] = {
    None: ("rate_card",),
    "baselines": ("price_overrides",),
    "alarms": ("rules",),
    "api": ("policy_file",),
    "kafka": ("ssl_cafile", "ssl_certfile", "ssl_keyfile"),
}


def _read_yaml(file: str) -> dict[str, Any]:
    try:
        with open(file, encoding="utf-8") as handle:
            loaded = yaml.safe_load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", file=file) from None
    except UnicodeDecodeError:
        raise ConfigError("cannot read: not UTF-8 text", file=file) from None
    except yaml.YAMLError as exc:
        raise ConfigError.invalid_yaml(exc, file=file) from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError("expected a mapping of sections at the top level", file=file)
    return loaded


def _parse_override(name: str, parts: tuple[str, ...], raw: str) -> Any:
    """An environment value as YAML (`5`, `true`, `[a, b]` keep their types); a secret's verbatim,
    so a password such as `123456` or `yes` stays the string it is."""
    if redact.is_secret_name(parts[-1]):
        return raw
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise ConfigError(f"not a valid YAML value: {problem}{_got(raw)}", env=name, key=".".join(parts)) from None


def _set_path(data: dict[str, Any], parts: tuple[str, ...], value: Any, name: str) -> None:
    node = data
    for depth, part in enumerate(parts[:-1]):
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            where = ".".join(parts[: depth + 1])
            raise ConfigError(f"cannot set a key inside {where}, which is not a mapping", env=name, key=".".join(parts))
    node[parts[-1]] = value


def _config_error(
    exc: ValidationError, file: str | None, from_file: dict[str, Any], overrides: Mapping[tuple[str, ...], str]
) -> ConfigError:
    """The first problem (an unknown key first: a typo also explains a "missing" one), naming the
    environment variable(s) that set the value or the mapping holding it, else the file."""
    errors = exc.errors()
    first = next((error for error in errors if error["type"] == "extra_forbidden"), errors[0])
    loc = tuple(str(part) for part in first["loc"])
    key = ".".join(loc)
    # A missing key is the fault of the mapping that lacks it.
    scope = loc[:-1] if first["type"] == "missing" else loc
    above = [name for parts, name in overrides.items() if scope[: len(parts)] == parts]
    below = [name for parts, name in overrides.items() if parts[: len(scope)] == scope and name not in above]
    env: str | None = above[-1] if above else ", ".join(sorted(below)) or None
    in_file = not above and _has_path(from_file, scope)
    return ConfigError(_expected(first, secret=redact.is_secret_name(loc[-1]) if loc else False),
                       env=env, file=file if (in_file or not env) else None, key=key)  # fmt: skip


def _has_path(data: Any, parts: tuple[str, ...]) -> bool:
    for part in parts:
        if isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        elif isinstance(data, dict) and part in data:
            data = data[part]
        else:
            return False
    return True


def _expected(error: Mapping[str, Any], *, secret: bool) -> str:
    """Pydantic's message, with the value it got only when that is a plain scalar of a key that
    is not a secret's (a missing key's "input" is the whole mapping around it: never shown)."""
    if error["type"] == "extra_forbidden":
        return "unknown key"
    message = redact.redact_text(str(error["msg"]))
    value = error.get("input")
    if secret or error["type"] in ("missing", "value_error") or not isinstance(value, str | int | float | bool):
        return message  # a value_error's message is our validator's own, which says what it needs to
    return f"{message}{_got(value)}"


def _got(value: str | float | bool) -> str:
    """` (got 'abc')`, or nothing for text that may be a URL malformed around a password."""
    if isinstance(value, str) and ("@" in value or "://" in value):
        return ""
    return f" (got {redact.redact_text(repr(value))})"
