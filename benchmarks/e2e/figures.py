"""A run's figures: one JSON line each (`benchmarks.common.emit`), issue 14's targets with met /
NOT met, and the closing human-readable table.

Figures of a run shorter than its month are also given for the month, in lines marked
`"extrapolated": true` and labelled so in the table: ingest and rate, whose work grows with the
days, multiplied by days in the month / days run. The report is rendered once a month, mostly
per project, so its figure stands as measured. Peak RSS and bytes per sample are never
extrapolated.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Final

from benchmarks.common import emit
from benchmarks.e2e.measure import StepRun

BENCHMARK: Final = "month_e2e"
PER_DAY_STEPS: Final = ("ingest", "rate")  # extrapolated to the month by days
MIB_PER_GIB: Final = 1024


@dataclass
class Step:
    name: str  # generate | ingest | rate | report
    run: StepRun | None  # None: a cached file was reused
    rows: dict[str, float] = field(default_factory=dict)  # rows in and out, named


@dataclass
class Run:
    instances: int
    days: int
    month: str
    month_days: int
    planned: tuple[str, ...] = ("ingest", "rate", "report")  # the commands the run meant to measure
    steps: list[Step] = field(default_factory=list)
    samples_bytes: int | None = None
    database_bytes: int | None = None
    stored_samples: int | None = None

    @property
    def label(self) -> str:
        return f"N={self.instances:,} × {self.days} day{'s' * (self.days != 1)}"

    @property
    def partial(self) -> bool:
        return self.days < self.month_days

    @property
    def factor(self) -> float:
        return self.month_days / self.days

    def step(self, name: str) -> Step | None:
        return next((s for s in self.steps if s.name == name), None)

    def context(self) -> dict[str, object]:
        return {"instances": self.instances, "days": self.days, "month": self.month}


@dataclass(frozen=True)
class Target:
    name: str
    limit: float
    unit: str
    value: float | None  # None: not measured (a step failed or did not run)
    extrapolated: bool = False
    note: str = ""

    @property
    def verdict(self) -> str:
        if self.value is None:
            return "NOT met (no figure)"
        met = "met" if self.value <= self.limit else "NOT met"
        return f"{met} (extrapolated)" if self.extrapolated else met


# ---------------------------------------------------------------- JSON lines


def emit_step(run: Run, step: Step) -> None:
    context = {**run.context(), "step": step.name}
    if step.run is None:
        emit(BENCHMARK, f"{step.name}.reused", 1, "file", **context)
    else:
        r = step.run
        emit(BENCHMARK, f"{step.name}.wall", r.wall_s, "s", **context, returncode=r.returncode)
        emit(BENCHMARK, f"{step.name}.client_cpu", r.client_cpu_s, "CPU-s", **context)
        if r.pg_own_cpu_s is not None and r.pg_cluster_cpu_s is not None:
            emit(BENCHMARK, f"{step.name}.postgres_cpu", r.pg_own_cpu_s, "CPU-s", **context, scope="own database")
            emit(BENCHMARK, f"{step.name}.postgres_cluster_cpu", r.pg_cluster_cpu_s, "CPU-s", **context,
                 scope="whole cluster, other databases included")  # fmt: skip
        emit(BENCHMARK, f"{step.name}.peak_rss", r.peak_rss_mib, "MiB", **context, processes=r.processes,
             largest_process_mib=round(r.largest_process_mib, 1), killed_for_memory=r.killed_for_memory)  # fmt: skip
        if run.partial and step.name in PER_DAY_STEPS and r.ok:
            for metric, value, unit in (("wall", r.wall_s, "s"), ("client_cpu", r.client_cpu_s, "CPU-s")):
                emit(BENCHMARK, f"{step.name}.{metric}_month", value * run.factor, unit, **context,
                     extrapolated=True, month_days=run.month_days)  # fmt: skip
    for name, value in step.rows.items():
        unit = "MiB" if name.endswith("_mib") else "files" if name == "files" else "rows"
        emit(BENCHMARK, f"{step.name}.{name}", value, unit, **context)


def emit_store(run: Run) -> None:
    if run.samples_bytes is None or not run.stored_samples:
        return
    context = run.context()
    emit(BENCHMARK, "store.samples_bytes", run.samples_bytes, "B", **context, stored_samples=run.stored_samples)
    emit(BENCHMARK, "store.bytes_per_sample", run.samples_bytes / run.stored_samples, "B/sample", **context,
         scope="samples table, partitions, indexes, TOAST")  # fmt: skip
    if run.database_bytes is not None:
        emit(BENCHMARK, "store.database_bytes_per_sample", run.database_bytes / run.stored_samples, "B/sample",
             **context, scope="whole database")  # fmt: skip


def emit_targets(run: Run, targets: list[Target]) -> None:
    for t in targets:
        context = {**run.context(), "limit": t.limit, "verdict": t.verdict, "extrapolated": t.extrapolated}
        if t.value is not None:
            emit(BENCHMARK, f"target.{t.name}", t.value, t.unit, **context)
        else:  # no figure (the step failed or never ran): the verdict still gets its line
            line = {"benchmark": BENCHMARK, "metric": f"target.{t.name}", "value": None, "unit": t.unit, **context}
            print(json.dumps(line), flush=True)


# ---------------------------------------------------------------- targets (issue 14)


def targets(run: Run) -> list[Target]:
    found = []
    e2e = [run.step(name) for name in ("ingest", "rate", "report")]
    if run.instances == 1000 and {"ingest", "rate", "report"} <= set(run.planned):
        done = [s for s in e2e if s is not None and s.run is not None and s.run.ok]
        scaled = [s.run.wall_s * (run.factor if s.name in PER_DAY_STEPS else 1) for s in done if s.run]
        wall = sum(scaled) if len(done) == len(e2e) else None
        note = "ingest + rate + report of a 1,000-instance month ≤ 10 min"
        found.append(Target("month_end_to_end_1000", 600, "s", wall, run.partial, note))
    rate = run.step("rate")
    if "rate" in run.planned:
        # A rate that failed or was killed has no peak to judge (killed: it was still growing).
        rss = rate.run.peak_rss_mib / MIB_PER_GIB if rate is not None and rate.run is not None and rate.run.ok else None
        found.append(Target("rate_peak_rss", 2.0, "GiB", rss, note=f"`rate` peak RSS ≤ 2 GB at any N ({run.label})"))
    if "rate" in run.planned and run.instances == 10_000 and run.days == 1:
        wall = rate.run.wall_s if rate is not None and rate.run is not None and rate.run.ok else None
        found.append(Target("rate_day_10000", 60, "s", wall, note="one day of 10,000 instances rated ≤ 60 s"))
    if run.samples_bytes is not None and run.stored_samples:
        per_sample = run.samples_bytes / run.stored_samples
        found.append(Target("bytes_per_sample", 150, "B", per_sample, note="≤ 150 bytes per stored sample, indexes in"))
    return found


# ---------------------------------------------------------------- the table


def table(runs: list[Run], jobs: int = 1) -> str:
    how = f"`ingest` and `rate` with --jobs {jobs}" if jobs > 1 else "`ingest` and `rate` serial"
    lines = ["", f"StackLedger end-to-end benchmark (issue 14): real commands on PostgreSQL, {how}", ""]
    header = f"{'run':<22} {'step':<9} {'wall s':>9} {'client CPU-s':>13} {'PG CPU-s own/cluster':>21} " \
             f"{'peak RSS MiB':>13}  rows"  # fmt: skip
    lines += [header, "-" * len(header)]
    for run in runs:
        for step in run.steps:
            lines.append(_step_line(run, step))
            if run.partial and step.run is not None and step.run.ok and step.name in PER_DAY_STEPS:
                wall, cpu = step.run.wall_s * run.factor, step.run.client_cpu_s * run.factor
                month = f"{wall:>9.1f} {cpu:>13.1f}  the month extrapolated (×{run.month_days}/{run.days})"
                lines.append(f"{'':<22} {'  month':<9} {month}")
        if run.samples_bytes is not None and run.stored_samples:
            per = run.samples_bytes / run.stored_samples
            whole = f", whole database {run.database_bytes / run.stored_samples:,.0f}" if run.database_bytes else ""
            lines.append(f"{run.label:<22} {'store':<9} {run.stored_samples:,} samples, {per:,.0f} B/sample{whole}")
        lines.append("")
    lines += ["targets (issue 14, this machine):"]
    for run in runs:
        for t in targets(run):
            value = "—" if t.value is None else f"{t.value:,.2f} {t.unit}"
            lines.append(f"  {t.note:<58} {value:>14}  limit {t.limit:g} {t.unit}: {t.verdict}")
    return "\n".join(lines)


def _step_line(run: Run, step: Step) -> str:
    rows = ", ".join(f"{name} {value:,.0f}" for name, value in step.rows.items())
    if step.run is None:
        return f"{run.label:<22} {step.name:<9} {'(cached file reused)':>45}  {rows}"
    r = step.run
    pg = "—" if r.pg_own_cpu_s is None else f"{r.pg_own_cpu_s:.1f} / {r.pg_cluster_cpu_s:.1f}"
    status = "" if r.ok else ("  KILLED at the memory limit" if r.killed_for_memory else f"  FAILED ({r.returncode})")
    return (f"{run.label:<22} {step.name:<9} {r.wall_s:>9.1f} {r.client_cpu_s:>13.1f} {pg:>21} "
            f"{r.peak_rss_mib:>13,.0f}  {rows}{status}")  # fmt: skip
