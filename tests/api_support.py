"""Shared pieces of the `stackledger serve` tests: the real server as a subprocess, the real
Keystone's seeded users (ops/keystone/access.json), and a store seeded with cost lines of
the Keystone projects.

The server runs `stackledger serve` from this checkout on a free loopback port, with its
settings in environment variables, its log in a file the tests read (no token may appear
in it), and it is stopped by its PID.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests

from stackledger.pipeline.base import store_for
from stackledger.settings import Settings
from stackledger.store import tables
from tests.conftest import REPO, require_openstack

TEAM_LEADS = "{payments: {group: payments-leads}}"
COOKIE_SECRET = "tests-cookie-secret-0123456789abcdef"
METRICS_TOKEN = "tests-metrics-bearer-token"
ARTIFACTS = REPO / "out" / "test-artifacts"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    url: str
    log: Path
    process: subprocess.Popen[bytes]

    def get(self, path: str, token: str | None = None, **kwargs: Any) -> requests.Response:
        headers = {"X-Auth-Token": token} if token else {}
        headers |= kwargs.pop("headers", {})
        return requests.get(self.url + path, headers=headers, timeout=120, allow_redirects=False, **kwargs)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def serving(env: Mapping[str, str], log: Path, *args: str) -> Iterator[Server]:
    """`stackledger serve` on a free port with `env` added to this process's environment."""
    port = free_port()
    full = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
    command = [
        str(Path(sys.executable).parent / "stackledger"),
        "-v",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        *args,
    ]
    with log.open("wb") as sink:
        process = subprocess.Popen(command, env=full, stdout=sink, stderr=subprocess.STDOUT, cwd=REPO)
    server = Server(f"http://127.0.0.1:{port}", log, process)
    try:
        _wait(server)
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait(server: Server, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"stackledger serve exited ({server.process.returncode}):\n{server.log_text()[-3000:]}")
        try:
            requests.get(server.url + "/static/web.css", timeout=2)
            return
        except requests.ConnectionError:
            time.sleep(0.3)
    pytest.fail(f"stackledger serve did not answer within {seconds}s:\n{server.log_text()[-3000:]}")


# ---------------------------------------------------------------- Keystone


def user_clouds() -> dict[str, Any]:
    """The clouds.yaml entries ops/keystone.sh wrote for the seeded users (JSON is YAML)."""
    require_openstack()
    path = os.environ.get("STACKLEDGER_KEYSTONE_USER_CLOUDS") or str(
        Path(os.environ["OS_CLIENT_CONFIG_FILE"]).parent / "clouds-users.yaml"
    )
    if not Path(path).is_file():
        pytest.fail(f"no seeded Keystone users at {path}: run `ops/keystone.sh start` (it seeds access.json)")
    return dict(json.loads(Path(path).read_text())["clouds"])


def user_auth(name: str) -> dict[str, Any]:
    """`admin` (the ops cloud's admin) or a seeded user's auth dict."""
    if name == "admin":
        return {
            "auth_url": os.environ["OS_AUTH_URL"],
            "username": "admin",
            "password": os.environ["OS_PASSWORD"],
            "user_domain_name": "Default",
            "project_name": "admin",
            "project_domain_name": "Default",
        }
    return dict(user_clouds()[f"stackledger-{name}"]["auth"])


def token(name: str, **overrides: Any) -> str:
    """A fresh Keystone token of a user (scoped as its clouds entry says)."""
    from keystoneauth1 import session
    from keystoneauth1.identity import v3

    auth = {**user_auth(name), **overrides}
    return str(session.Session(auth=v3.Password(**auth)).get_token())


def admin_session() -> Any:
    from keystoneauth1 import session
    from keystoneauth1.identity import v3

    return session.Session(auth=v3.Password(**user_auth("admin")))


def keystone_projects() -> dict[str, str]:
    """Keystone project name -> id."""
    sess = admin_session()
    projects = sess.get(os.environ["OS_AUTH_URL"] + "/projects").json()["projects"]
    return {p["name"]: p["id"] for p in projects}


def keystone_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Settings for a server that authenticates against the real Keystone as the seeded
    `stackledger` service user (its clouds.yaml entry)."""
    clouds = os.environ.get("STACKLEDGER_KEYSTONE_USER_CLOUDS") or str(
        Path(os.environ["OS_CLIENT_CONFIG_FILE"]).parent / "clouds-users.yaml"
    )
    return {
        "OS_CLIENT_CONFIG_FILE": clouds,
        "STACKLEDGER__API__KEYSTONE__CLOUD": "stackledger-stackledger",
        "STACKLEDGER__API__TEAM_LEADS": TEAM_LEADS,
        "STACKLEDGER__API__COOKIE_SECRET": COOKIE_SECRET,
        "STACKLEDGER__API__METRICS_TOKEN": METRICS_TOKEN,
        **(extra or {}),
    }


# ---------------------------------------------------------------- a store to serve


@dataclass(frozen=True)
class SeedProject:
    name: str
    team: str
    budget: Decimal | None
    daily: Decimal  # internal cost of compute.vcpu per day; other services derive from it


def seed_costs(
    settings: Settings, ids: Mapping[str, str], projects: list[SeedProject], months: list[str], days: int | None = None
) -> None:
    """Projects (with the given Keystone ids) and daily cost lines in three price books for
    each day of `months` (the last one only up to `days` days), written straight into the store."""
    import pandas as pd

    from stackledger.pipeline.inventory import store_projects

    frame = pd.DataFrame(
        [
            {
                "project_id": ids[p.name],
                "name": p.name,
                "domain_id": "default",
                "parent_id": None,
                "tags": [f"team:{p.team}"],
                "team": p.team,
                "cost_center": "",
                "budget_amount": p.budget,
                "budget_currency": "EUR" if p.budget is not None else None,
                "budget_period": "month" if p.budget else None,
                "source": "keystone",
            }
            for p in projects
        ]
    )
    store_projects(settings, frame)
    rows = []
    for number, month in enumerate(months):
        start = dt.datetime.fromisoformat(f"{month}-01")
        end = (start + dt.timedelta(days=32)).replace(day=1)
        count = (end - start).days if days is None or number < len(months) - 1 else days
        for day in range(count):
            at = start + dt.timedelta(days=day)
            for p in projects:
                rows += _lines(ids[p.name], at, p.daily + Decimal(day % 5) / 7 + Decimal(number))
    store = store_for(settings)
    with store.transaction() as conn:
        store.insert(conn, tables.cost_lines, rows)


SERVICES = (
    ("compute.vcpu", "vCPU-hour", Decimal(1)),
    ("compute.ram", "GiB-hour", Decimal("0.41")),
    ("block.volume", "GiB-hour", Decimal("0.173")),
)
BOOKS = (("internal", Decimal(1)), ("aws", Decimal("1.7")), ("digitalocean", Decimal("0.9")))


def _lines(project_id: str, at: dt.datetime, base: Decimal) -> list[dict[str, Any]]:
    out = []
    for service, unit, share in SERVICES:
        for book, factor in BOOKS:
            cost = (base * share * factor).quantize(Decimal("0.000001"))
            out.append(
                {
                    "charge_period_start": at,
                    "charge_period_end": at + dt.timedelta(days=1),
                    "project_id": project_id,
                    "resource_id": f"{project_id[:8]}-{service}",
                    "resource_type": "instance",
                    "service": service,
                    "flavor_name": "",
                    "volume_type": None,
                    "region": "RegionOne",
                    "consumed_quantity": 24.0,
                    "consumed_unit": unit,
                    "price_book": book,
                    "sku": f"{book}:{service}",
                    "list_unit_price": cost / 24,
                    "pricing_quantity": Decimal(24),
                    "pricing_unit": unit,
                    "cost": cost,
                    "currency": "EUR",
                }
            )
    return out


def csv_totals(path: Path, book: str = "internal") -> dict[str, Decimal]:
    """project id -> the sum of the CSV's `cost` of one price book."""
    import csv

    sums: dict[str, Decimal] = {}
    with path.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["price_book"] == book:
                sums[row["project_id"]] = sums.get(row["project_id"], Decimal(0)) + Decimal(row["cost"])
    return sums


def fresh_settings(url: str, out: Path, **overrides: object) -> Settings:
    """Settings on `url` with every table emptied first (what the pg_settings fixture does, for a module)."""
    from sqlalchemy import create_engine, text

    from tests.conftest import settings_for

    if url.startswith("postgresql"):
        engine = create_engine(url)
        with engine.begin() as conn:
            names = ", ".join(t.name for t in tables.metadata.sorted_tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        engine.dispose()
    return settings_for(url, out, **overrides)


def server_env(settings: Settings, out: Path) -> dict[str, str]:
    """The environment giving a server the same store and report settings as `settings`."""
    return {
        "STACKLEDGER__DATABASE__URL": settings.database.url,
        "STACKLEDGER__REPORT__OUT_DIR": str(out),
        "STACKLEDGER__REPORT__WORKERS": "1",
    }
