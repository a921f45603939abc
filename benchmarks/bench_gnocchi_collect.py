"""Gnocchi collection, 1,000 instances for one day: our collector against one request per resource.

The fleet (tests/integration/gnocchi_fleet.py, instance meters only: vcpus, memory,
disk.root.size, disk.ephemeral.size, three readings an hour, resizes and mid-hour creations and
deletions) is pushed into the real Gnocchi started by ops/gnocchi.sh, then fetched two ways:

- **ours**: `GnocchiCollector.collect(day, scope)` — one paginated history search and one
  `/v1/aggregates` (groupby, 3600 s) per meter — including turning the answers into usage
  rows (`transforms.usage.hourly_usage`, as the collect step does), as the default
  configuration (`gnocchi.use_history: auto`) collects every project: plain groupby, flavors in
  force from the search; with the default 4 requests in flight, and with 1. The benchmark
  filters on its fleet's projects only to keep other data in the shared Gnocchi out, so it
  says `use_history=False` — what "auto" picks without that filter. And with
  `use_history=True`, what "auto" picks under a project filter (`gnocchi.projects`, shards);
- **baseline**: what a collector without aggregates does: list the instances (paginated), then
  `GET /v1/resource/instance/<id>/metric/<meter>/measures?granularity=3600&start&stop` for
  every instance and meter, one at a time over a keep-alive session; fetching only, no usage.

Each side runs 3 times after a warm-up; the best wall time is kept. Figures: requests and
seconds of each, the Gnocchi API's CPU seconds per run (from /proc: the machine is shared, and
wall time moves with its load), and the ratios (targets: 10× fewer requests, 5× faster).

Needs Gnocchi: STACKLEDGER_GNOCCHI_URL from .ops/env, else it runs `ops/up.sh gnocchi` itself.

Recorded (moved here from collectors/gnocchi.py's docstring): Gnocchi 4.7.1 spends about 40% less
CPU on plain groupby than under use_history, which fetches every revision of every resource
separately; hence `gnocchi.use_history: auto`.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

from benchmarks.common import emit, timed
from stackledger.collectors.base import Scope
from stackledger.collectors.gnocchi import GnocchiCollector
from stackledger.collectors.gnocchi_client import GnocchiClient, iso
from stackledger.transforms.usage import hourly_usage
from stackledger.window import Window
from tests.integration.gnocchi_fleet import Fleet

NAME = "gnocchi_collect"
INSTANCES = 1000
METERS = ("vcpus", "memory", "disk.root.size", "disk.ephemeral.size")
RUNS = 3
REPO = Path(__file__).resolve().parent.parent


def gnocchi() -> tuple[str, str]:
    url = os.environ.get("STACKLEDGER_GNOCCHI_URL")
    if not url:
        subprocess.run([str(REPO / "ops" / "up.sh"), "gnocchi"], check=True)
        env = (REPO / ".ops" / "gnocchi.env").read_text()
        values = dict(line.removeprefix("export ").split("=", 1) for line in env.splitlines() if "=" in line)
        url = values["STACKLEDGER_GNOCCHI_URL"]
    return url, os.environ.get("STACKLEDGER_GNOCCHI_USER", "admin")


def baseline(url: str, user: str, projects: list[str], day: Window) -> tuple[int, int]:
    """One request per resource and meter. Returns (requests, points fetched)."""
    http = requests.Session()
    http.auth = (user, "")
    sent = points = 0
    query: dict[str, Any] = {"in": {"project_id": projects}}
    page: str | None = f"{url}/v1/search/resource/instance"
    instances: list[dict[str, Any]] = []
    while page:
        response = http.post(page, json=query, params={"limit": 1000} if sent == 0 else None, timeout=120)
        response.raise_for_status()
        sent += 1
        instances += response.json()
        page = response.links.get("next", {}).get("url") if response.json() else None
    window = {"granularity": 3600, "start": iso(day.start), "stop": iso(day.end), "aggregation": "mean"}
    for instance in instances:
        for meter in METERS:
            if meter not in instance["metrics"]:
                continue
            where = f"{url}/v1/resource/instance/{instance['id']}/metric/{meter}/measures"
            for attempt in range(3):  # a keep-alive connection the server just dropped: try again
                sent += 1
                try:
                    response = http.get(where, params=window, timeout=120)
                    break
                except requests.ConnectionError:
                    if attempt == 2:
                        raise
            response.raise_for_status()
            points += len(response.json())
    return sent, points


def ours(url: str, user: str, projects: list[str], day: Window, concurrency: int, history: bool) -> tuple[int, int]:
    client = GnocchiClient(url, auth=(user, ""))
    collector = GnocchiCollector(client, meters=METERS, concurrency=concurrency, use_history=history)
    collected = collector.collect(day, Scope(projects=tuple(projects)))
    if not collected.complete:
        raise RuntimeError(f"collection failed: {collected.failures}")
    usage = hourly_usage(collected.readings, collected.resources, day, source="gnocchi")  # as the collect step does
    return collected.requests, len(usage)


def server_cpu_s() -> float:
    """CPU seconds used so far by the Gnocchi API's processes (ops/gnocchi.sh's gunicorn master and
    its workers, from /proc): the machine is shared, so wall time alone depends on its load."""
    pidfile = Path(os.environ.get("STACKLEDGER_OPS_DIR", REPO / ".ops")) / "gnocchi" / "pid"
    master = int(pidfile.read_text())
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in [master, *map(int, children)]:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
    return total


def best(run: Any, *args: Any) -> tuple[float, float, tuple[int, int]]:
    """Best wall time of RUNS after a warm-up, the mean server CPU per run, the run's result."""
    run(*args)  # warm-up: connections, Gnocchi's caches
    times, result = [], (0, 0)
    cpu_before = server_cpu_s()
    for _ in range(RUNS):
        with timed() as timer:
            result = run(*args)
        times.append(timer.seconds)
    return min(times), (server_cpu_s() - cpu_before) / RUNS, result


def main() -> int:
    url, user = gnocchi()
    today = dt.datetime.now(dt.UTC).replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)
    day = Window(today - dt.timedelta(days=2), today - dt.timedelta(days=1))
    fleet = Fleet.generate(instances=INSTANCES, start=day.start, hours=24, gauges_only=True, seed=1000)
    began = time.perf_counter()
    try:
        fleet.push(url, user)
        emit(NAME, "fleet_push", time.perf_counter() - began, "s", instances=INSTANCES, meters=len(METERS))
        base_s, base_cpu, (base_requests, base_points) = best(baseline, url, user, fleet.projects, day)
        # use_history=False: what the default ("auto") does collecting every project (module docstring).
        seq_s, _, (_, rows) = best(ours, url, user, fleet.projects, day, 1, False)
        our_s, our_cpu, (our_requests, _) = best(ours, url, user, fleet.projects, day, 4, False)
        history_s, history_cpu, (history_requests, history_rows) = best(ours, url, user, fleet.projects, day, 4, True)
    finally:
        fleet.delete(url, user)
    context = {"instances": INSTANCES, "meters": len(METERS), "hours": 24, "load_1min": os.getloadavg()[0],
               "cpus": os.cpu_count()}  # fmt: skip
    emit(NAME, "baseline_requests", base_requests, "requests", points=base_points, **context)
    emit(NAME, "baseline_wall", base_s, "s", **context)
    emit(NAME, "baseline_server_cpu", base_cpu, "s", **context)
    emit(NAME, "ours_requests", our_requests, "requests", usage_rows=rows, **context)
    emit(NAME, "ours_wall", our_s, "s", concurrency=4, **context)
    emit(NAME, "ours_wall_sequential", seq_s, "s", concurrency=1, **context)
    emit(NAME, "ours_server_cpu", our_cpu, "s", **context)
    emit(NAME, "request_ratio", base_requests / our_requests, "x", target=10, **context)
    emit(NAME, "speedup", base_s / our_s, "x", target=5, **context)
    emit(NAME, "speedup_sequential", base_s / seq_s, "x", **context)
    emit(NAME, "server_cpu_ratio", base_cpu / our_cpu, "x", **context)
    emit(NAME, "ours_history_requests", history_requests, "requests", usage_rows=history_rows, use_history=True,
         **context)  # fmt: skip
    emit(NAME, "ours_history_wall", history_s, "s", concurrency=4, use_history=True, **context)
    emit(NAME, "ours_history_server_cpu", history_cpu, "s", use_history=True, **context)
    emit(NAME, "speedup_history", base_s / history_s, "x", use_history=True, **context)
    emit(NAME, "server_cpu_ratio_history", base_cpu / history_cpu, "x", use_history=True, **context)
    return 0


if __name__ == "__main__":
    sys.exit(main())
