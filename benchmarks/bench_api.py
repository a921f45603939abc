"""`stackledger serve` under load: 200 projects × 3 months in PostgreSQL, 20 concurrent clients.

The store: 200 projects in 20 teams with budgets, each with a VM (instance, vCPU, RAM), a volume
and a floating IP, rated daily on the internal rate card, AWS and DigitalOcean for August to
October 2026 (about 280,000 cost lines). The server: `stackledger serve` (2 uvicorn workers)
authenticating against the real Keystone (ops/keystone.sh) as a real deployment does. The load:
benchmarks/api_load.py in its own process, 20 clients at once, after a warm-up that fills the
server's caches (the first request of a month reads its figures: printed as cold_*).

Prints p50/p95 latency and requests/s of `/v1/costs?group_by=project` (finance-reader: all 200
projects) and of the My budgets page (/budgets, the payments lead here leading team-03: 10
projects); target p95 ≤ 150 ms. Needs STACKLEDGER_TEST_PG_URL and the seeded Keystone users.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import requests
from sqlalchemy import create_engine, text

from benchmarks.common import emit, timed
from stackledger.store import Store, tables
from stackledger.window import Window

PROJECTS: Final = 200
TEAMS: Final = 20
MONTHS: Final = ("2026-08", "2026-09", "2026-10")
CLIENTS: Final = 20
REQUESTS: Final = 40  # per client
TARGET_P95_MS: Final = 150.0
SCHEMA: Final = "bench_api"
SERVICES: Final = (  # resource, type, service, unit, daily quantity, internal unit price
    ("vm", "instance", "compute.instance", "instance-hour", 24, "0"),
    ("vm", "instance", "compute.vcpu", "vCPU-hour", 96, "0.021"),
    ("vm", "instance", "compute.ram", "GiB-hour", 192, "0.004"),
    ("vol", "volume", "block.volume", "GiB-hour", 4800, "0.00008"),
    ("fip", "floating_ip", "network.floating_ip", "IP-hour", 24, "0.004"),
)
BOOKS: Final = (("internal", Decimal(1)), ("aws", Decimal("1.9")), ("digitalocean", Decimal("0.8")))


def seed(store: Store) -> int:
    projects = [
        {
            "project_id": f"p{n:03d}",
            "name": f"project {n:03d}",
            "team": f"team-{n % TEAMS:02d}",
            "budget_amount": Decimal(180 + (n * 37) % 400),
            "budget_currency": "EUR",
            "budget_period": "month",
            "source": "bench",
        }
        for n in range(PROJECTS)
    ]
    lines = []
    for month in MONTHS:
        for day in Window.month(month).days():
            for n in range(PROJECTS):
                scale = Decimal(1 + n % 7) / 4
                for resource, kind, service, unit, quantity, price in SERVICES:
                    wobble = Decimal(100 + (n * 13 + day.start.day * 3) % 23) / 100
                    internal = (Decimal(quantity) * Decimal(price) * scale * wobble).quantize(Decimal("1e-6"))
                    for book, factor in BOOKS:
                        lines.append(
                            {
                                "charge_period_start": day.start,
                                "charge_period_end": day.end,
                                "project_id": f"p{n:03d}",
                                "resource_id": f"r{n:03d}-{resource}",
                                "resource_type": kind,
                                "service": service,
                                "flavor_name": "",
                                "consumed_quantity": float(quantity),
                                "consumed_unit": unit,
                                "price_book": book,
                                "sku": f"{book}:{service}",
                                "list_unit_price": Decimal(price),
                                "pricing_quantity": Decimal(quantity),
                                "pricing_unit": unit,
                                "cost": (internal * factor).quantize(Decimal("1e-6")),
                                "currency": "EUR",
                                "price_as_of": dt.date(2026, 1, 1),
                            }
                        )
    with store.transaction() as conn:
        store.insert(conn, tables.projects, projects)
        store.insert(conn, tables.cost_lines, lines)
    return len(lines)


def user_token(clouds: dict[str, Any], name: str) -> str:
    from keystoneauth1 import session
    from keystoneauth1.identity import v3

    return str(session.Session(auth=v3.Password(**clouds[f"stackledger-{name}"]["auth"])).get_token())


def load(url: str, token: str, generator: str) -> dict[str, float]:
    """Run the load in its own process: Node's http client (api_load.mjs) by default, since httpx
    costs more CPU per request than the server does; `--load python` runs api_load.py instead."""
    options = [url, "--token", token, "--clients", str(CLIENTS), "--requests", str(REQUESTS)]
    if generator == "node":
        command = ["node", str(Path(__file__).with_name("api_load.mjs")), *options]
    else:
        command = [sys.executable, "-m", "benchmarks.api_load", *options]
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=1800)
    return dict(json.loads(done.stdout))


def start_server(url: str, clouds_file: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "STACKLEDGER__DATABASE__URL": url,
        "OS_CLIENT_CONFIG_FILE": clouds_file,
        "STACKLEDGER__API__KEYSTONE__CLOUD": "stackledger-stackledger",
        "STACKLEDGER__API__TEAM_LEADS": "{team-03: {group: payments-leads}}",
    }
    command = [str(Path(sys.executable).parent / "stackledger"), "serve", "--port", str(port), "--workers", "2"]
    with log.open("wb") as sink:
        process = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/static/web.css", timeout=2)
            return process
        except requests.ConnectionError:
            time.sleep(0.5)
    process.kill()
    raise SystemExit(f"stackledger serve did not start: {log.read_text()[-2000:]}")


def run(url: str, clouds_file: str, tmp: Path, generator: str) -> None:
    store = Store(url)
    store.upgrade()
    with timed() as seeding:
        count = seed(store)
    context: dict[str, Any] = {
        "db": "postgresql",
        "projects": PROJECTS,
        "months": len(MONTHS),
        "cost_lines": count,
        "clients": CLIENTS,
        "server_workers": 2,
        "load_generator": generator,
    }
    emit("api", "seed_seconds", seeding.seconds, "s", **context)
    clouds = json.loads(Path(clouds_file).read_text())["clouds"]
    tokens = {
        "finance-reader": user_token(clouds, "finance-reader"),
        "lead-payments": user_token(clouds, "lead-payments"),
    }
    port = _free_port()
    server = start_server(url, clouds_file, port, tmp / "serve.log")
    try:
        base = f"http://127.0.0.1:{port}"
        cases = (
            ("costs_by_project", f"{base}/v1/costs?group_by=project&month=2026-10", "finance-reader"),
            ("my_budgets_page", f"{base}/budgets?month=2026-10", "lead-payments"),
        )
        for name, target, user in cases:
            with timed() as cold:  # the month's figures read from the store, once per worker
                answer = requests.get(target, headers={"X-Auth-Token": tokens[user]}, timeout=600)
                answer.raise_for_status()
            emit("api", f"{name}_cold_seconds", cold.seconds, "s", **context)
            context["load_average_1m"] = round(os.getloadavg()[0], 2)  # other work on the machine meanwhile
            cpu_before = server_cpu_seconds(server.pid)
            figures = load(target, tokens[user], generator)
            cpu = server_cpu_seconds(server.pid) - cpu_before
            emit("api", f"{name}_p50", figures["p50_ms"], "ms", **context)
            emit(
                "api",
                f"{name}_p95",
                figures["p95_ms"],
                "ms",
                target_ms=TARGET_P95_MS,
                within_target=figures["p95_ms"] <= TARGET_P95_MS,
                **context,
            )
            emit(
                "api",
                f"{name}_requests_per_second",
                figures["requests_per_second"],
                "req/s",
                requests=figures["requests"],
                **context,
            )
            # The server's own CPU per answer: what the rest of the machine's load does not change.
            # It includes the warm-up, where the other worker may read the month's figures (cold).
            emit("api", f"{name}_server_cpu_per_request", cpu / figures["requests"] * 1000, "ms", **context)
            # The generator's CPU per answer: on two cores it competes with the server it measures.
            client_cpu = figures["client_cpu_seconds"] / figures["requests"] * 1000
            emit("api", f"{name}_load_client_cpu_per_request", client_cpu, "ms", **context)
    finally:
        server.terminate()
        server.wait(timeout=30)


def server_cpu_seconds(pid: int) -> float:
    """User + system CPU of the server process and its worker processes so far (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        pids += [int(child) for child in (task / "children").read_text().split()]
    total = 0
    for one in pids:
        fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / ticks


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_api")
    parser.add_argument("--load", choices=("node", "python"), default="node", help="the load generator")
    args = parser.parse_args(argv)
    pg = os.environ.get("STACKLEDGER_TEST_PG_URL")
    clouds_file = os.environ.get("STACKLEDGER_KEYSTONE_USER_CLOUDS") or (
        str(Path(os.environ["OS_CLIENT_CONFIG_FILE"]).parent / "clouds-users.yaml")
        if os.environ.get("OS_CLIENT_CONFIG_FILE")
        else ""
    )
    if not pg or not clouds_file or not Path(clouds_file).is_file():
        raise SystemExit("bench_api needs PostgreSQL and Keystone: `ops/up.sh postgres keystone`, source .ops/env")
    engine = create_engine(pg)
    with engine.begin() as conn:  # a scratch schema, so the test database is left alone
        conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {SCHEMA}"))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            scoped = pg + ("&" if "?" in pg else "?") + f"options=-csearch_path%3D{SCHEMA}"
            run(scoped, clouds_file, Path(tmp), args.load)
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {SCHEMA} CASCADE"))
        engine.dispose()


if __name__ == "__main__":
    main(sys.argv[1:])
