"""benchmarks.e2e.figures: issue 14's targets from a run's figures, extrapolation labelled."""

from __future__ import annotations

import json

import pytest

from benchmarks.e2e.figures import Run, Step, emit_step, emit_targets, table, targets
from benchmarks.e2e.measure import StepRun


def step(name: str, wall: float, rss_mib: float = 100.0, *, returncode: int = 0, killed: bool = False) -> Step:
    returncode = -9 if killed else returncode
    run = StepRun([name], returncode, wall, wall / 2, rss_mib, rss_mib, 1, 1.0, 2.0, killed, "", "")
    return Step(name, run, {"rows": 10})


def by_name(run: Run) -> dict[str, tuple[float | None, str]]:
    return {t.name: (t.value, t.verdict) for t in targets(run)}


def test_a_whole_month_of_1000_instances_is_judged_as_measured() -> None:
    run = Run(1000, 31, "2026-10", 31, steps=[step("ingest", 200), step("rate", 300, 1500), step("report", 50)])
    run.samples_bytes, run.stored_samples = 140 * 29_000_000, 29_000_000
    assert by_name(run) == {
        "month_end_to_end_1000": (550, "met"),
        "rate_peak_rss": (1500 / 1024, "met"),
        "bytes_per_sample": (140, "met"),
    }


def test_one_day_extrapolates_ingest_and_rate_but_not_the_report() -> None:
    run = Run(1000, 1, "2026-10", 31, steps=[step("ingest", 10), step("rate", 20, 3000), step("report", 30)])
    found = by_name(run)
    assert found["month_end_to_end_1000"] == (10 * 31 + 20 * 31 + 30, "NOT met (extrapolated)")
    assert found["rate_peak_rss"] == (3000 / 1024, "NOT met")  # memory is never extrapolated
    assert "bytes_per_sample" not in found  # nothing stored was measured


def test_ten_thousand_instances_one_day_rated_within_a_minute() -> None:
    run = Run(10_000, 1, "2026-10", 31, ("ingest", "rate"), [step("ingest", 100), step("rate", 45)])
    assert by_name(run)["rate_day_10000"] == (45, "met")
    assert "month_end_to_end_1000" not in by_name(run)


def test_a_failed_or_killed_step_meets_no_target() -> None:
    killed = Run(
        10_000, 1, "2026-10", 31, ("ingest", "rate"), [step("ingest", 100), step("rate", 30, 9000, killed=True)]
    )
    assert by_name(killed)["rate_day_10000"] == (None, "NOT met (no figure)")
    assert by_name(killed)["rate_peak_rss"] == (None, "NOT met (no figure)")
    small_kill = Run(50, 1, "2026-10", 31, ("ingest", "rate"), [step("ingest", 1), step("rate", 1, 300, killed=True)])
    assert by_name(small_kill)["rate_peak_rss"] == (None, "NOT met (no figure)")  # killed below 2 GB: still not met
    failed = Run(1000, 31, "2026-10", 31, steps=[step("ingest", 200), step("rate", 1, returncode=1)])
    assert by_name(failed)["month_end_to_end_1000"] == (None, "NOT met (no figure)")  # the report never ran
    unrated = Run(10_000, 1, "2026-10", 31, ("ingest", "rate"), [step("ingest", 100, returncode=1)])
    assert by_name(unrated)["rate_day_10000"] == by_name(unrated)["rate_peak_rss"] == (None, "NOT met (no figure)")
    assert "KILLED at the memory limit" in table([killed])
    assert table([killed]).count("the month extrapolated") == 1  # the ingest's; a killed rate has no month
    assert "FAILED (1)" in table([failed])


def test_json_lines_label_the_extrapolated_month(capsys: pytest.CaptureFixture[str]) -> None:
    run = Run(1000, 1, "2026-10", 31)
    emit_step(run, step("rate", 20))
    emit_step(run, step("report", 30))
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    month = [line for line in lines if line.get("extrapolated")]
    assert {line["metric"] for line in month} == {"rate.wall_month", "rate.client_cpu_month"}
    assert next(line for line in month if line["metric"] == "rate.wall_month")["value"] == 620
    assert all(line["instances"] == 1000 and line["days"] == 1 for line in lines)


def test_a_target_without_a_figure_still_prints_its_verdict(capsys: pytest.CaptureFixture[str]) -> None:
    run = Run(10_000, 1, "2026-10", 31, ("ingest", "rate"), [step("ingest", 100, returncode=1)])
    emit_targets(run, targets(run))
    lines = {line["metric"]: line for line in map(json.loads, capsys.readouterr().out.splitlines())}
    assert lines["target.rate_day_10000"]["value"] is None
    assert lines["target.rate_day_10000"]["verdict"] == "NOT met (no figure)"
