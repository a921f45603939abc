"""`stackledger demo` as a new user runs it (the first README command, after the venv exists):
wall time and peak RSS of the whole command on a fresh SQLite file, in a subprocess. The demo
simulates, ingests and rates three months (`months` in each figure); the figures of the
one-month demo it used to be are not comparable."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import emit
from stackledger.cli.demo import DEFAULT_MONTHS

TARGET_S = 60.0  # what a new user should wait for the demo on SQLite


def main() -> None:
    stackledger = Path(sys.executable).with_name("stackledger")
    env = {k: v for k, v in os.environ.items() if not k.startswith("STACKLEDGER")}
    with tempfile.TemporaryDirectory() as tmp:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run([str(stackledger), "-q", "demo", "--out", tmp], check=True, env=env, capture_output=True)
        seconds = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    emit("demo", "wall_seconds", seconds, "s", months=DEFAULT_MONTHS, target_s=TARGET_S, met=seconds <= TARGET_S)
    emit("demo", "cpu_seconds", cpu, "s", months=DEFAULT_MONTHS, load_average_1m=round(os.getloadavg()[0], 2))
    emit("demo", "peak_rss", after.ru_maxrss / 1024, "MiB", months=DEFAULT_MONTHS)


if __name__ == "__main__":
    main()
