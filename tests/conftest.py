"""Shared fixtures. Services come from ops/ (`make test` starts them); a test that needs a
service which is not there fails with a message saying how to start it — it never skips."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from stackledger.settings import Settings, load_settings
from stackledger.store import Store, tables

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("STACKLEDGER_SHARED_DIR", REPO.parent / "shared"))
OPENSTACK_FIXTURES = SHARED / "fixtures" / "openstack"
PRICEBOOKS = SHARED / "pricebooks"


def require_env(name: str, service: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: start {service} with `ops/up.sh {service}` and `source .ops/env`")
    return value


def settings_for(url: str, tmp_path: Path, **overrides: object) -> Settings:
    env = {"STACKLEDGER__DATABASE__URL": url, "STACKLEDGER__REPORT__OUT_DIR": str(tmp_path / "out")}
    env.update({f"STACKLEDGER__{k.upper()}": str(v) for k, v in overrides.items()})
    return load_settings(None, env)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'stackledger.db'}"


@pytest.fixture
def sqlite_settings(sqlite_url: str, tmp_path: Path) -> Settings:
    return settings_for(sqlite_url, tmp_path)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A PostgreSQL database rebuilt from the migrations once per test session."""
    url = require_env("STACKLEDGER_TEST_PG_URL", "postgres")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    Store(url).upgrade()
    yield url


@pytest.fixture
def pg_settings(pg_url: str, tmp_path: Path) -> Settings:
    """PostgreSQL settings with every table emptied before the test."""
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        names = ", ".join(t.name for t in tables.metadata.sorted_tables)
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return settings_for(pg_url, tmp_path)


@pytest.fixture(params=["sqlite", "postgres"])
def any_settings(request: pytest.FixtureRequest) -> Settings:
    """Runs a test once on SQLite and once on PostgreSQL."""
    name = "sqlite_settings" if request.param == "sqlite" else "pg_settings"
    return request.getfixturevalue(name)
