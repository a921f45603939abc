"""One typed settings object, read from YAML with environment overrides.

Precedence (last wins): built-in defaults, the YAML file (`--config PATH` or
`STACKLEDGER_CONFIG`), then environment variables `STACKLEDGER__SECTION__KEY=value`
(values are parsed as YAML scalars, so `true`, `5` and `[a, b]` keep their types).
Secrets are `SecretStr`: they print as '**********' and never reach logs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stackledger.errors import ConfigError

ENV_PREFIX = "STACKLEDGER__"
CONFIG_ENV = "STACKLEDGER_CONFIG"
PACKAGE_DATA = Path(__file__).parent / "data"
DEFAULT_RATE_CARD = PACKAGE_DATA / "rate_card.example.yaml"


class Section(BaseModel):
    # A typo in a config key is an error, not a silently ignored line.
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseSettings(Section):
    url: str = "sqlite:///stackledger.db"
    echo: bool = False


class IngestSettings(Section):
    batch_size: int = Field(default=5000, gt=0)


class UsageSettings(Section):
    # How far before a window we look for the previous reading of a cumulative counter.
    cumulative_lookback_hours: int = Field(default=24, ge=1)
    region: str = "RegionOne"


class ReportSettings(Section):
    organisation: str = "Example Cloud"
    out_dir: Path = Path("out")


class Settings(Section):
    database: DatabaseSettings = DatabaseSettings()
    rate_card: Path = DEFAULT_RATE_CARD
    ingest: IngestSettings = IngestSettings()
    usage: UsageSettings = UsageSettings()
    report: ReportSettings = ReportSettings()
    source_file: str | None = Field(default=None, exclude=True)


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
