"""End to end, as a user would run it: a generated cloud's Ceilometer samples through the real
`stackledger` commands on PostgreSQL, each step measured from the outside (issue 14, point 4).

For each run: generate the samples (`benchmarks.e2e.generator`, cached under `.bench/` by
instances, days, month and seed), create a fresh database and `stackledger db upgrade` it, then
`stackledger ingest FILE`, `stackledger rate --month M` (`--start/--end` for part of a month) and
`stackledger report --month M --format pdf,csv,projects`. Each step prints wall time, client
CPU-s (its process tree), PostgreSQL CPU-s (the benchmark database's backends, and the whole
cluster), peak RSS of the tree and its rows in and out; after ingest, the store's bytes per
sample. Then issue 14's targets, met or NOT met, and a table.

    make bench-e2e                                     # N=1,000 for the month; N=10,000 ingest + rate one day
    python -m benchmarks.bench_month_e2e --instances 50 --days 1     # a smoke run: a few minutes

Runs shorter than the month also print ingest and rate for the month extrapolated (× days in
month / days), labelled so. A command whose tree passes `--rss-limit-gb` is killed and reported
as such: that is a figure (it cannot run in that memory), not a failure of the benchmark. Exit
status 1 means a command failed by itself; 2 that the benchmark could not start.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from benchmarks.e2e import database, figures
from benchmarks.e2e.fleet import FleetSpec
from benchmarks.e2e.generator import GENERATOR_VERSION, Generated, read_generated, sidecar
from benchmarks.e2e.measure import PostgresCpu, StepRun, run_measured

REPO = Path(__file__).resolve().parent.parent
# Sizes per sample, to check the disk before starting: the gzip file, and today's store (issue 14
# measured ~1,020 B per sample in the samples table; a compact store needs far less).
FILE_BYTES_PER_SAMPLE = 90
STORE_BYTES_PER_SAMPLE = 1_200
SAMPLES_PER_INSTANCE_DAY = 6.5 * 144  # 6 meters per instance + one volume per two instances, every 10 min
DEFAULT_STEPS = "ingest,rate,report"
_INGESTED = re.compile(r"ingested (\d+), duplicates (\d+), rejected (\d+)")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        plan = _plan(args)
    except ValueError as exc:
        print(f"bench_month_e2e: {exc}", file=sys.stderr)
        return 2
    base = database.base_url()
    if base is None:
        print("bench_month_e2e: no PostgreSQL: run `ops/up.sh postgres` (or set STACKLEDGER_BENCH_PG_URL)",
              file=sys.stderr)  # fmt: skip
        return 2
    cli = Path(sys.executable).with_name("stackledger")
    if not cli.exists():
        print(f"bench_month_e2e: no stackledger command beside {sys.executable}", file=sys.stderr)
        return 2
    for command in ("ingest", "rate"):
        usage = subprocess.run([cli, command, "--help"], capture_output=True, text=True).stdout
        if args.jobs > 1 and "--jobs" not in usage:
            print(f"bench_month_e2e: this stackledger's `{command}` has no --jobs option", file=sys.stderr)
            return 2
    runs = []
    for spec, steps in plan:
        problem = _disk_problem(spec, args.cache_dir)
        if problem:
            print(f"bench_month_e2e: {problem}", file=sys.stderr)
            return 2
        runs.append(_run(spec, steps, args, base, cli))
    print(figures.table(runs, args.jobs), flush=True)
    failed = [
        s for run in runs for s in run.steps if s.run is not None and s.run.returncode and not s.run.killed_for_memory
    ]
    return 1 if failed else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, help="one run of N instances (default: the plan of `make bench-e2e`)")
    parser.add_argument("--days", type=int, help="with --instances: days from the month's first (default: all)")
    parser.add_argument("--month", default="2026-10", metavar="YYYY-MM")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", default=DEFAULT_STEPS, help="with --instances: which commands to run")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="pass `--jobs N` to `stackledger ingest` and `rate` (default: the machine's cores, as "
                             "an operator would run them; 1: the serial path)")  # fmt: skip
    parser.add_argument("--cache-dir", type=Path, default=REPO / ".bench", help="generated files (default: .bench/)")
    parser.add_argument("--regenerate", action="store_true", help="generate even when a cached file exists")
    parser.add_argument("--delete-file", action="store_true", help="delete the generated file after its run")
    parser.add_argument("--keep-db", action="store_true", help="keep each run's database (it is dropped by default)")
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between RSS / CPU samples")
    parser.add_argument("--rss-limit-gb", type=float, default=_default_limit_gb(),
                        help="kill a command whose process tree passes this RSS (default: 60%% of RAM)")  # fmt: skip
    return parser


def _plan(args: argparse.Namespace) -> list[tuple[FleetSpec, list[str]]]:
    """The runs to make; ValueError names what is wrong with the options."""
    try:
        month_days = FleetSpec(1, 1, args.month).month_days
    except ValueError:
        raise ValueError(f"--month {args.month!r} is not YYYY-MM") from None
    if args.instances is None:
        if args.days is not None or args.steps != DEFAULT_STEPS:
            raise ValueError("--days and --steps go with --instances")
        return [
            (FleetSpec(1_000, month_days, args.month, args.seed), ["ingest", "rate", "report"]),
            (FleetSpec(10_000, 1, args.month, args.seed), ["ingest", "rate"]),
        ]
    steps = [s for s in args.steps.split(",") if s]
    unknown = set(steps) - {"ingest", "rate", "report"}
    if unknown:
        raise ValueError(f"unknown step(s) {', '.join(sorted(unknown))} (ingest, rate, report)")
    return [(FleetSpec(args.instances, args.days or month_days, args.month, args.seed), steps)]


def _default_limit_gb() -> float:
    with open("/proc/meminfo", encoding="ascii") as f:
        total_kib = next(int(line.split()[1]) for line in f if line.startswith("MemTotal:"))
    return round(total_kib * 0.6 / 1024**2, 1)


def _disk_problem(spec: FleetSpec, cache_dir: Path) -> str | None:
    samples = spec.instances * spec.days * SAMPLES_PER_INSTANCE_DAY
    need = samples * (FILE_BYTES_PER_SAMPLE + STORE_BYTES_PER_SAMPLE)  # the database is on this machine too
    cache_dir.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(cache_dir).free
    if need > free:
        return (f"N={spec.instances} × {spec.days} days needs about {need / 1e9:.1f} GB (file and store), "
                f"{free / 1e9:.1f} GB free under {cache_dir}")  # fmt: skip
    return None


# ---------------------------------------------------------------- one run


def _run(spec: FleetSpec, steps: list[str], args: argparse.Namespace, base: str, cli: Path) -> figures.Run:
    run = figures.Run(spec.instances, spec.days, spec.month, spec.month_days, tuple(steps))
    path, generated = _samples_file(spec, args, run)
    name = f"stackledger_bench_e2e_{os.getpid()}_n{spec.instances}"
    with (
        tempfile.TemporaryDirectory(prefix="bench-e2e-") as out,
        database.scratch_database(base, name, keep=args.keep_db) as url,
    ):
        env = {**os.environ, "STACKLEDGER__DATABASE__URL": url, "STACKLEDGER__REPORT__OUT_DIR": out}
        subprocess.run([cli, "db", "upgrade"], env=env, check=True, capture_output=True)
        pid = database.postmaster_pid(url)
        postgres = PostgresCpu(pid, name) if pid is not None else None
        commands = {
            "ingest": [str(cli), "ingest", str(path), *([f"--jobs={args.jobs}"] if args.jobs > 1 else [])],
            "rate": [str(cli), "rate", *_window_args(spec), *([f"--jobs={args.jobs}"] if args.jobs > 1 else [])],
            "report": [str(cli), "report", f"--month={spec.month}", "--format=pdf,csv,projects", f"--out={out}"],
        }
        for step_name in steps:
            result = _measured(commands[step_name], env, args, postgres=postgres)
            step = figures.Step(step_name, result, _rows(step_name, result, url, generated.samples, Path(out)))
            if step_name == "ingest":
                run.samples_bytes, run.database_bytes = database.store_bytes(url)
                run.stored_samples = int(step.rows["stored_samples"])
            _record(run, step)
            if not result.ok:
                break
        figures.emit_store(run)
        figures.emit_targets(run, figures.targets(run))
    if args.delete_file:
        path.unlink(missing_ok=True)
        sidecar(path).unlink(missing_ok=True)
    return run


def _samples_file(spec: FleetSpec, args: argparse.Namespace, run: figures.Run) -> tuple[Path, Generated]:
    """The run's samples: the cached file for (instances, month, days, seed), else generated now (measured)."""
    key = f"v{GENERATOR_VERSION}-n{spec.instances}-{spec.month}-d{spec.days}-s{spec.seed}"
    path = args.cache_dir / f"samples-{key}.jsonl.gz"
    generated = None if args.regenerate else read_generated(path)
    step = figures.Step("generate", None)
    if generated is None:
        argv = [sys.executable, "-m", "benchmarks.e2e.generator", f"--instances={spec.instances}",
                f"--days={spec.days}", f"--month={spec.month}", f"--seed={spec.seed}", f"--out={path}"]  # fmt: skip
        step.run = _measured(argv, os.environ, args, cwd=str(REPO))
        generated = read_generated(path)
    if generated is None:
        raise SystemExit(f"bench_month_e2e: the generator wrote no {path}:\n{_tail(step.run)}")
    step.rows = {"samples_out": generated.samples, "file_mib": generated.file_bytes / 2**20}
    _record(run, step)
    return path, generated


def _measured(
    argv: list[str],
    env: Mapping[str, str],
    args: argparse.Namespace,
    *,
    cwd: str | None = None,
    postgres: PostgresCpu | None = None,
) -> StepRun:
    limit = args.rss_limit_gb * 1024
    return run_measured(argv, env, cwd=cwd, postgres=postgres, interval=args.interval, rss_limit_mib=limit)


def _window_args(spec: FleetSpec) -> list[str]:
    if spec.days == spec.month_days:
        return [f"--month={spec.month}"]
    return [f"--start={spec.start.isoformat()}", f"--end={spec.end.isoformat()}"]


def _rows(step: str, result: StepRun, url: str, generated: int, out: Path) -> dict[str, float]:
    counts = database.row_counts(url)
    if step == "ingest":
        found: dict[str, float] = {"samples_in": generated}
        match = _INGESTED.search(result.stdout)
        if match:
            found.update(ingested=int(match[1]), duplicates=int(match[2]), rejected=int(match[3]))
        return {**found, "stored_samples": counts["samples"], "dead_letters": counts["dead_letters"]}
    if step == "rate":
        books = {k.removeprefix("cost_lines_"): v for k, v in counts.items() if k.startswith("cost_lines_")}
        return {"samples_in": counts["samples"], "usage_rows": counts["usage"],
                "daily_usage_rows": counts["daily_usage"],
                "cost_lines": counts["cost_lines"],
                **{f"cost_lines_{book}": n for book, n in sorted(books.items())}}  # fmt: skip
    files = [p for p in out.rglob("*") if p.is_file()]
    return {"cost_lines_in": counts["cost_lines"], "files": len(files)}


def _record(run: figures.Run, step: figures.Step) -> None:
    run.steps.append(step)
    figures.emit_step(run, step)
    if step.run is not None and not step.run.ok:
        print(f"bench_month_e2e: {step.name} failed ({step.run.returncode}):\n{_tail(step.run)}", file=sys.stderr)


def _tail(result: StepRun | None, lines: int = 15) -> str:
    return "" if result is None else "\n".join(result.stderr.splitlines()[-lines:])


if __name__ == "__main__":
    sys.exit(main())
