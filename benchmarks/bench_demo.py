"""`stackledger demo` as a new user runs it (the first README command, after the venv exists):
wall time and peak RSS of the whole command on a fresh SQLite file, in a subprocess."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import emit

TARGET_S = 60.0  # what a new user should wait for the demo month on SQLite


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
    emit("demo", "wall_seconds", seconds, "s", target_s=TARGET_S, met=seconds <= TARGET_S)
    emit("demo", "cpu_seconds", cpu, "s")
    emit("demo", "peak_rss", after.ru_maxrss / 1024, "MiB")


if __name__ == "__main__":
    main()
