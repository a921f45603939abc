"""A quiet CLI: nothing on stderr by default, INFO with -v, progress bars on a terminal only
(not with -q), and the progress `rate` and `report` report through their pipeline functions."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stackledger.cli import main
from stackledger.pipeline import ingest_paths, rate_window, render_reports
from stackledger.progress import CLEAR_LINE
from stackledger.settings import Settings
from stackledger.window import Window
from tests.e2e.test_rate_cli import write_samples

MONTH = Window.month("2026-10")
FX = "[{from: USD, to: EUR, rate: '0.92', valid_from: 2026-01-01}]"  # else rating warns that USD stays USD


def config(settings: Settings, tmp_path: Path) -> str:
    path = tmp_path / "stackledger.yaml"
    path.write_text(f"database:\n  url: {settings.database.url}\nfx: {FX}\n", encoding="utf-8")
    return str(path)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def rated_month(sqlite_settings: Settings, tmp_path: Path) -> Settings:
    result = ingest_paths(sqlite_settings, [str(write_samples(tmp_path / "samples.jsonl"))])
    assert result.ingested and not result.rejected
    return sqlite_settings


def test_rate_window_tells_each_step(rated_month: Settings) -> None:
    events: list[tuple[int, int, str]] = []
    result = rate_window(rated_month, MONTH, progress=lambda *event: events.append(event))
    books = [book.price_book for book in result.books]
    steps = len(books) + 2
    assert events == [(0, steps, "usage"), *((n, steps, book) for n, book in enumerate(books, 1)),
                      (steps - 1, steps, "saving"), (steps, steps, "done")]  # fmt: skip
    assert books == ["internal", "aws", "digitalocean"]


def test_render_reports_tells_each_file(rated_month: Settings, tmp_path: Path) -> None:
    rate_window(rated_month, MONTH)
    events: list[tuple[int, int, str]] = []
    paths = render_reports(rated_month, MONTH, ["pdf", "projects", "csv"], tmp_path / "out",
                           progress=lambda *event: events.append(event))  # fmt: skip
    total = len(paths)  # the summary, one PDF per project (one here), the CSV
    assert total == 3
    assert events[0] == (0, total, "pdf")
    assert events[-1] == (total, total, "csv")
    assert all(event[1] == total for event in events)
    done = [event[0] for event in events]
    assert done == sorted(done) and set(range(total + 1)) <= set(done)


def run_on(stderr: io.StringIO, monkeypatch: pytest.MonkeyPatch, *argv: str) -> str:
    monkeypatch.setattr(sys, "stderr", stderr)
    assert main(list(argv)) == 0
    monkeypatch.undo()
    return stderr.getvalue()


def test_rate_draws_its_bar_on_a_terminal_only_and_not_with_q(
    rated_month: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = config(rated_month, tmp_path)
    drawn = run_on(Terminal(), monkeypatch, "--config", cfg, "rate", "--month", "2026-10").split(CLEAR_LINE)
    assert drawn[1].startswith("rate 2026-10 [") and "0/5 steps usage" in drawn[1]
    assert any("3/5 steps digitalocean" in part for part in drawn)
    assert drawn[-1] == ""  # wiped before the results are printed
    assert "total EUR" in capsys.readouterr().out
    assert run_on(Terminal(), monkeypatch, "-q", "--config", cfg, "rate", "--month", "2026-10") == ""
    no_fx = tmp_path / "no-fx.yaml"  # rating warns that the USD books stay in USD: -q hides warnings too
    no_fx.write_text(f"database:\n  url: {rated_month.database.url}\n", encoding="utf-8")
    assert "no fx rate" in run_on(io.StringIO(), monkeypatch, "--config", str(no_fx), "rate", "--month", "2026-10")
    assert run_on(Terminal(), monkeypatch, "-q", "--config", str(no_fx), "rate", "--month", "2026-10") == ""
    assert run_on(io.StringIO(), monkeypatch, "--config", cfg, "rate", "--month", "2026-10") == ""  # not a TTY


def test_report_draws_its_bar_on_a_terminal(
    rated_month: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rate_window(rated_month, MONTH)
    cfg = config(rated_month, tmp_path)
    argv = ("--config", cfg, "report", "--month", "2026-10", "--format", "csv,json", "--out", str(tmp_path / "out"))
    drawn = run_on(Terminal(), monkeypatch, *argv).split(CLEAR_LINE)
    assert drawn[1].startswith("report 2026-10 [") and "0/2 files csv" in drawn[1]
    assert any("2/2 files json" in part for part in drawn) and drawn[-1] == ""
    assert capsys.readouterr().out.count(".csv") == 1


def stackledger(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """The installed entry point, in a fresh process (nothing configured its logging before)."""
    script = Path(sys.executable).parent / "stackledger"
    env = {**os.environ, "STACKLEDGER__DATABASE__URL": f"sqlite:///{tmp_path / 'quiet.db'}", "STACKLEDGER__FX": FX}
    env.pop("STACKLEDGER_CONFIG", None)
    return subprocess.run([str(script), *argv], capture_output=True, text=True, env=env, cwd=tmp_path, check=True,
                          timeout=600)  # fmt: skip


def test_commands_are_quiet_by_default_and_say_more_with_v(tmp_path: Path) -> None:
    samples = str(write_samples(tmp_path / "samples.jsonl"))
    ingested = stackledger(tmp_path, "ingest", samples)  # creates and migrates the SQLite file
    assert ingested.stderr == "" and ingested.stdout.startswith("ingested 144,")
    rated = stackledger(tmp_path, "rate", "--month", "2026-10")
    assert rated.stderr == ""
    verbose = stackledger(tmp_path, "-v", "rate", "--month", "2026-10")
    assert "INFO stackledger.pipeline.rate: rated 2026-10" in verbose.stderr
    assert verbose.stdout == rated.stdout
    fresh = stackledger(tmp_path, "-v", "db", "upgrade")  # already at head: Alembic says nothing at INFO
    assert "Context impl" not in fresh.stderr and "Will assume" not in fresh.stderr
    assert "alembic" not in fresh.stderr
