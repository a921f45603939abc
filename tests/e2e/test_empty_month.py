"""Say it when there is nothing: `rate`, `compare` and `report` on a month without data, on SQLite
and PostgreSQL. Each warns on stderr naming the month and what is missing; `report` refuses
(exit 2, nothing written) unless `--allow-empty`."""

from __future__ import annotations

from pathlib import Path

import pytest

from stackledger.cli import main
from stackledger.settings import Settings
from tests.e2e.test_rate_cli import config, write_samples

NOTHING = "2026-11: no samples, no usage and no cost lines in the store: nothing was ingested for it"


def run(capsys: pytest.CaptureFixture[str], cfg: str, *args: str) -> tuple[int, str, str]:
    code = main(["--config", cfg, *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_an_empty_month_is_named_and_its_report_refused(
    any_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = config(any_settings, tmp_path)
    code, out, err = run(capsys, cfg, "rate", "--month", "2026-11")
    assert code == 0 and "2026-11: 0 usage rows, 0 cost lines" in out
    assert f"stackledger: warning: {NOTHING} (stackledger ingest FILE, or stackledger consume)" in err

    code, out, err = run(capsys, cfg, "compare", "--month", "2026-11")
    assert code == 0 and "TOTAL" in out  # the zeros are still printed, and said to be empty
    assert f"stackledger: warning: {NOTHING}" in err

    out_dir = tmp_path / "reports"
    code, out, err = run(capsys, cfg, "report", "--month", "2026-11", "--out", str(out_dir))
    assert code == 2 and out == ""
    assert f"stackledger: error: {NOTHING}" in err and "nothing written (--allow-empty renders" in err
    assert not out_dir.exists() or not any(out_dir.iterdir())

    code, out, err = run(capsys, cfg, "report", "--month", "2026-11", "--format", "csv", "--out", str(out_dir),
                         "--allow-empty")  # fmt: skip
    assert code == 0 and f"stackledger: warning: {NOTHING}" in err
    written = [Path(line) for line in out.split()]
    assert [p.name for p in written] == ["stackledger-2026-11.csv"] and written[0].is_file()


def test_samples_not_rated_yet_say_so_and_a_rated_month_is_quiet(
    any_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = config(any_settings, tmp_path)
    samples = write_samples(tmp_path / "samples.jsonl")
    count = len(samples.read_text(encoding="utf-8").splitlines())
    assert run(capsys, cfg, "ingest", str(samples))[0] == 0

    unrated = (f"2026-10: no usage and no cost lines in the store ({count:,} samples stored): it is not rated yet "
               "(stackledger rate --month 2026-10)")  # fmt: skip
    code, _, err = run(capsys, cfg, "compare", "--month", "2026-10")
    assert code == 0 and f"stackledger: warning: {unrated}" in err
    code, _, err = run(capsys, cfg, "report", "--month", "2026-10", "--format", "csv", "--out", str(tmp_path / "r"))
    assert code == 2 and f"stackledger: error: {unrated}" in err

    code, _, err = run(capsys, cfg, "rate", "--month", "2026-10")
    assert code == 0 and "warning" not in err
    code, _, err = run(capsys, cfg, "compare", "--month", "2026-10")
    assert code == 0 and "warning" not in err
    code, out, err = run(capsys, cfg, "report", "--month", "2026-10", "--format", "csv", "--out", str(tmp_path / "r"))
    assert code == 0 and "warning" not in err and out.strip().endswith("stackledger-2026-10.csv")
