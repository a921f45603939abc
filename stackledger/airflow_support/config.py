"""Settings for an Airflow task, read when it runs, never when a DAG file is parsed:

1. the Airflow Variable `stackledger_config`: YAML text (absolute paths inside) or a file path;
2. else the file named by `STACKLEDGER_CONFIG`, else the defaults;
3. the Airflow Connection `stackledger_db`, when defined, gives `database.url` (postgres or
   sqlite connection types, or any SQLAlchemy URL in its extra `sqlalchemy_url`);
4. `STACKLEDGER__SECTION__KEY` environment variables override all of these, as everywhere.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import yaml

from stackledger.airflow_support.errors import airflow_exception
from stackledger.errors import ConfigError
from stackledger.settings import Settings, load_settings

CONFIG_VARIABLE: Final = "stackledger_config"
DB_CONNECTION: Final = "stackledger_db"
_DB_ENV: Final = "STACKLEDGER__DATABASE__URL"
_FROM_VARIABLE: Final = f"Airflow Variable {CONFIG_VARIABLE}"


def run_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from the Airflow Variable / Connection, the settings file and the environment."""
    env = dict(os.environ if environ is None else environ)
    url = _connection_url(DB_CONNECTION)
    if url and _DB_ENV not in env:  # the environment still wins, as it does over the file
        env[_DB_ENV] = url
    return settings_from_variable(_variable(CONFIG_VARIABLE), env)


def settings_from_variable(value: str | None, environ: Mapping[str, str]) -> Settings:
    """Settings from the Variable's value: YAML text, a file path, or nothing (STACKLEDGER_CONFIG)."""
    if value is None or not value.strip():
        return load_settings(None, environ)
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError as exc:
        raise ConfigError(f"neither a file path nor valid YAML: {exc}", file=_FROM_VARIABLE) from None
    if isinstance(parsed, str):
        return load_settings(parsed.strip(), environ)
    if not isinstance(parsed, dict):
        raise ConfigError("expected YAML sections (a mapping) or the path of a settings file", file=_FROM_VARIABLE)
    with tempfile.TemporaryDirectory(prefix="stackledger-") as folder:
        path = Path(folder) / "stackledger.yaml"
        path.write_text(value, encoding="utf-8")
        try:
            settings = load_settings(path, environ)
        except ConfigError as error:
            raise ConfigError(str(error).replace(f"file {path}", f"file {_FROM_VARIABLE}")) from None
        relative = [key for key, where in _file_paths(settings) if where is not None and folder in str(where)]
    if relative:
        names = ", ".join(relative)
        raise ConfigError(f"{names}: a relative path has no file to be relative to here; give an absolute path "
                          "(or put a file path in the Variable)", file=_FROM_VARIABLE)  # fmt: skip
    return settings.model_copy(update={"source_file": _FROM_VARIABLE})


def _file_paths(settings: Settings) -> list[tuple[str, Path | None]]:
    return [("rate_card", settings.rate_card), ("alarms.rules", settings.alarms.rules),
            ("baselines.price_overrides", settings.baselines.price_overrides)]  # fmt: skip


def database_url(conn_type: str | None, *, host: str | None, login: str | None, password: str | None,
                 port: int | None, schema: str | None, extra: Mapping[str, Any]) -> str:  # fmt: skip
    """A SQLAlchemy URL from an Airflow Connection's fields."""
    if extra.get("sqlalchemy_url"):
        return str(extra["sqlalchemy_url"])
    if conn_type in ("postgres", "postgresql"):
        from stackledger.store.urls import postgres_url  # the store (SQLAlchemy) only when needed

        return postgres_url(host=host, login=login, password=password, port=port, database=schema)
    if conn_type == "sqlite" and host:
        return f"sqlite:///{host}"
    raise ConfigError(f"Airflow connection {DB_CONNECTION}: type {conn_type!r} is not postgres or sqlite; "
                      "or give the SQLAlchemy URL in its extra as sqlalchemy_url", key="database.url")  # fmt: skip


def _variable(name: str) -> str | None:
    from airflow.sdk import Variable

    value = Variable.get(name, default=None)
    return None if value is None else str(value)


def _connection_url(conn_id: str) -> str | None:
    from airflow.sdk import Connection

    try:
        conn = Connection.get(conn_id)
    except airflow_exception("AirflowNotFoundException"):
        return None
    return database_url(conn.conn_type, host=conn.host, login=conn.login, password=conn.password, port=conn.port,
                        schema=conn.schema, extra=conn.extra_dejson)  # fmt: skip


__all__ = ["CONFIG_VARIABLE", "DB_CONNECTION", "database_url", "run_settings", "settings_from_variable"]
