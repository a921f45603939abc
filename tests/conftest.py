"""Shared fixtures. Services come from ops/ (`make test` starts them); a test that needs a
service which is not there fails with a message saying how to start it — it never skips."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

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


@contextmanager
def empty_pg_database(name: str) -> Iterator[str]:
    """A new, empty PostgreSQL database `name` on the ops server (its URL), dropped afterwards."""
    base = make_url(require_env("STACKLEDGER_TEST_PG_URL", "postgres"))
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A PostgreSQL database of this test session's own, built from the migrations and
    dropped at the end, so concurrent sessions (or developers) never see each other's rows."""
    with empty_pg_database(f"stackledger_t{os.getpid()}") as url:
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


def gnocchi_endpoint() -> tuple[str, str]:
    """Gnocchi from ops/: (url, basic-auth user). Call it from test bodies, not fixtures, so a
    missing server reports FAILED, not ERROR (and never skips)."""
    url = os.environ.get("STACKLEDGER_GNOCCHI_URL")
    if not url:
        pytest.fail("STACKLEDGER_GNOCCHI_URL is not set: run `ops/up.sh gnocchi` and `source .ops/env`", pytrace=False)
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname, parts.port or 80), timeout=2).close()
    except OSError as exc:
        pytest.fail(f"no Gnocchi at {url} ({exc}): run `ops/up.sh gnocchi`", pytrace=False)
    return url, os.environ.get("STACKLEDGER_GNOCCHI_USER", "admin")


def require_openstack() -> None:
    """Keystone and the Nova/Cinder simulator from ops/ (a missing service fails, never skips)."""
    path = os.environ.get("OS_CLIENT_CONFIG_FILE")
    if not path or not Path(path).is_file():
        pytest.fail(f"OS_CLIENT_CONFIG_FILE is {path!r}: run `ops/up.sh keystone openstack_sim` and "
                    "`source .ops/env`", pytrace=False)  # fmt: skip
    for name, default, what in (
        ("STACKLEDGER_KEYSTONE_PORT", 55000, "Keystone"),
        ("STACKLEDGER_NOVA_PORT", 58774, "the Nova simulator"),
        ("STACKLEDGER_CINDER_PORT", 58776, "the Cinder simulator"),
    ):
        port = int(os.environ.get(name, default))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        except OSError as exc:
            pytest.fail(f"no {what} on 127.0.0.1:{port} ({exc}): run `ops/up.sh keystone openstack_sim`",
                        pytrace=False)  # fmt: skip
