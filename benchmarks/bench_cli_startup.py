"""How long the installed `stackledger` command takes to answer without doing any work.

Each figure is the median wall time of RUNS runs of the entry point the package installs
(`<venv>/bin/stackledger`), each in a fresh process, after one unmeasured warm-up run (which
writes the bytecode caches). Targets: `--version` and `--help` 0.3 s, `<command> --help` 0.5 s.
Every other command's `--help` is timed too and reported as the slowest of them. The bare
interpreter's start-up (`python -c pass`, same venv, site packages included) is printed
beside them: on a loaded machine it shows how much of a figure is Python itself. Each figure
also carries `cpu_s`, the median CPU time (user + system) of the process: what the wall time
comes to on an idle machine, and steadier than it when other work shares the cores.

Figures: `startup_s` per command line (median, with `cpu_s`, `min_s`, `max_s`, `target_s`),
`slowest_command_help_s`, and `interpreter_s`.
"""

from __future__ import annotations

import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from benchmarks.common import emit

RUNS: Final = 15
TARGETS: Final = {("--version",): 0.3, ("--help",): 0.3, ("rate", "--help"): 0.5}
COMMAND_HELP_TARGET: Final = 0.5


def entry_point() -> str:
    """The `stackledger` script installed beside this interpreter (else the one on PATH)."""
    beside = Path(sys.executable).parent / "stackledger"
    found = str(beside) if beside.exists() else shutil.which("stackledger")
    if found is None:
        raise SystemExit("no installed `stackledger` entry point: run ./ops/venv.sh")
    return found


def run_times(argv: Sequence[str], runs: int = RUNS) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of each of `runs` runs of `argv` (after one warm-up run)."""
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return walls, cpus


def commands() -> list[str]:
    from stackledger.cli import COMMANDS

    return list(COMMANDS)


def main() -> None:
    script = entry_point()
    walls, cpus = run_times([sys.executable, "-c", "pass"])
    emit("cli_startup", "interpreter_s", statistics.median(walls), "s", runs=RUNS,
         cpu_s=round(statistics.median(cpus), 4), min_s=round(min(walls), 4))  # fmt: skip
    for args, target in TARGETS.items():
        walls, cpus = run_times([script, *args])
        median = statistics.median(walls)
        emit("cli_startup", "startup_s", median, "s", command=" ".join(["stackledger", *args]), runs=RUNS,
             cpu_s=round(statistics.median(cpus), 4), min_s=round(min(walls), 4), max_s=round(max(walls), 4),
             target_s=target, under_target=median <= target)  # fmt: skip
    slowest = ("", 0.0, 0.0)
    for name in commands():
        walls, cpus = run_times([script, name, "--help"], runs=5)
        slowest = max(slowest, (name, statistics.median(walls), statistics.median(cpus)), key=lambda row: row[1])
    emit("cli_startup", "slowest_command_help_s", slowest[1], "s", command=f"stackledger {slowest[0]} --help",
         runs=5, cpu_s=round(slowest[2], 4), target_s=COMMAND_HELP_TARGET,
         under_target=slowest[1] <= COMMAND_HELP_TARGET)  # fmt: skip


if __name__ == "__main__":
    main()
