"""A load generator for `stackledger serve`: N concurrent clients (httpx, asyncio) request one URL
for a fixed number of requests each, after a warm-up; prints one JSON object with the latencies.

Usage: python -m benchmarks.api_load URL --token T --clients 20 --requests 50 [--warmup 3]
Run in its own process by `benchmarks/bench_api.py --load python`, so the server and the load do not
share a GIL. The default generator is api_load.mjs: httpx costs ~4.6 ms of CPU per request here,
more than the server it measures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time

import httpx


async def client(http: httpx.AsyncClient, url: str, headers: dict[str, str], count: int, out: list[float]) -> None:
    for _ in range(count):
        started = time.perf_counter()
        response = await http.get(url, headers=headers)
        out.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise SystemExit(f"{url}: HTTP {response.status_code}: {response.text[:300]}")


async def run(url: str, token: str, clients: int, requests: int, warmup: int) -> dict[str, float]:
    headers = {"X-Auth-Token": token}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=120, limits=limits) as http:
        ignored: list[float] = []
        await asyncio.gather(*(client(http, url, headers, warmup, ignored) for _ in range(clients)))
        latencies: list[float] = []
        cpu_started = time.process_time()
        started = time.perf_counter()
        await asyncio.gather(*(client(http, url, headers, requests, latencies) for _ in range(clients)))
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
    latencies.sort()
    return {
        "requests": len(latencies),
        "seconds": wall,
        "requests_per_second": len(latencies) / wall,
        "p50_ms": statistics.median(latencies) * 1000,
        "p95_ms": latencies[int(0.95 * (len(latencies) - 1))] * 1000,
        "p99_ms": latencies[int(0.99 * (len(latencies) - 1))] * 1000,
        "max_ms": latencies[-1] * 1000,
        "client_cpu_seconds": cpu,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--token", required=True)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=50, help="per client")
    parser.add_argument("--warmup", type=int, default=3, help="per client, not measured")
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(run(args.url, args.token, args.clients, args.requests, args.warmup))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
