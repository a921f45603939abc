"""The CLI starts without its heavy dependencies, logs as -q/-v/-vv ask, and its help texts
name what the pipeline really accepts."""

from __future__ import annotations

import importlib
import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from stackledger.cli import COMMANDS, build_parser, configure_logging, global_parser, parse_args
from stackledger.progress import CLEAR_LINE, ProgressBar

HEAVY = ("pandas", "numpy", "sqlalchemy", "alembic", "matplotlib", "weasyprint", "pydantic", "yaml", "openstack",
         "kafka", "jinja2", "requests")  # fmt: skip

BUILD_EVERY_PARSER = """
import json, sys
import stackledger.cli as cli
cli.global_parser()
for name in cli.COMMANDS:
    cli.build_parser(name)
print(json.dumps(sorted(name for name in sys.modules if name.split(".")[0] in sys.argv[1:])))
"""


def test_building_every_parser_imports_nothing_heavy() -> None:
    # A fresh interpreter: this test process has imported everything already.
    out = subprocess.run([sys.executable, "-c", BUILD_EVERY_PARSER, *HEAVY], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).parents[2])  # fmt: skip
    assert json.loads(out.stdout) == []


def test_every_command_has_a_module_that_declares_it(capsys: pytest.CaptureFixture[str]) -> None:
    for name, summary in COMMANDS.items():
        assert callable(importlib.import_module(f"stackledger.cli.{name}").add_parser)
        with pytest.raises(SystemExit) as exited:
            build_parser(name).parse_args([name, "--help"])
        out = capsys.readouterr().out
        assert exited.value.code == 0
        assert out.startswith(f"usage: stackledger {name} ") and summary.capitalize() in out


def test_global_options_then_the_command_and_its_own() -> None:
    args = parse_args(["--config", "c.yaml", "-vv", "rate", "--month", "2026-10"])
    assert (args.config, args.verbose, args.quiet, args.command, args.month) == ("c.yaml", 2, False, "rate", "2026-10")
    assert callable(args.run)
    with pytest.raises(SystemExit):
        parse_args(["-q", "-v", "rate", "--month", "2026-10"])  # -q and -v exclude each other
    with pytest.raises(SystemExit):
        parse_args(["rate", "--month", "2026-10", "--config", "c.yaml"])  # global options come first


def test_demo_months_is_a_whole_number_of_at_least_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert parse_args(["demo", "--months", "2"]).months == 2
    assert parse_args(["demo"]).months == 3
    for bad in ("0", "-1", "two", "1.5"):
        with pytest.raises(SystemExit):
            parse_args(["demo", "--months", bad])
        assert f"--months must be a whole number of at least 1, got {bad!r}" in capsys.readouterr().err


def test_top_level_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        global_parser().parse_args(["--help"])
    out = capsys.readouterr().out
    for name, summary in COMMANDS.items():
        assert f"  {name} " in out and summary in out
    assert "-q, --quiet" in out and "-v, --verbose" in out


def test_help_texts_name_what_the_pipeline_accepts() -> None:
    # The CLI keeps copies of these to write its help without importing the pipeline.
    from stackledger.cli import collect, demo, prices, rate, reconcile, report
    from stackledger.collectors import synthetic
    from stackledger.model import PROVIDERS
    from stackledger.pipeline import collect as collect_step
    from stackledger.pipeline import demo as demo_step
    from stackledger.pipeline import reconcile as reconcile_step
    from stackledger.pipeline import report as report_step
    from stackledger.schema import INTERNAL_BOOK
    from stackledger.settings import CONFIG_ENV, ENV_PREFIX
    from stackledger.transforms.pricebooks import KINDS

    assert (tuple(collect_step.COLLECTORS), collect_step.ALL) == (collect.SOURCES, collect.ALL)
    assert (CONFIG_ENV, f"{ENV_PREFIX}DATABASE__URL") == (demo.CONFIG_ENV, demo.DATABASE_URL_ENV)
    assert (demo.DEFAULT_MONTH, demo.DEFAULT_MONTHS) == (demo_step.DEFAULT_MONTH, demo_step.DEFAULT_MONTHS)
    assert (demo.DEFAULT_SEED, demo.DEFAULT_POLL_MINUTES) == (synthetic.DEFAULT_SEED, synthetic.DEFAULT_POLL_MINUTES)
    assert (PROVIDERS, tuple(sorted(KINDS))) == (prices.PROVIDERS, prices.KINDS)
    assert reconcile_step.Tolerance.parse(reconcile.DEFAULT_TOLERANCE) == reconcile_step.DEFAULT_TOLERANCE
    assert tuple(report_step.FORMATS) == report.FORMATS
    assert rate.INTERNAL_BOOK == INTERNAL_BOOK


@pytest.fixture
def restored_logging() -> Iterator[None]:
    names = ["", "weasyprint", "fontTools", "matplotlib", "kafka", "alembic.runtime.plugins"]
    levels = {name: logging.getLogger(name).level for name in names}
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


@pytest.mark.usefixtures("restored_logging")
@pytest.mark.parametrize(
    ("verbosity", "quiet", "root", "pdf", "kafka"),
    [
        (0, False, logging.WARNING, logging.WARNING, logging.WARNING),
        (1, False, logging.INFO, logging.WARNING, logging.WARNING),
        (2, False, logging.DEBUG, logging.WARNING, logging.DEBUG),
        (0, True, logging.ERROR, logging.ERROR, logging.ERROR),
    ],
)
def test_log_levels_follow_q_v_vv(verbosity: int, quiet: bool, root: int, pdf: int, kafka: int) -> None:
    configure_logging(verbosity, quiet=quiet)
    assert logging.getLogger().getEffectiveLevel() == root
    assert logging.getLogger("stackledger.pipeline.rate").getEffectiveLevel() == root
    assert logging.getLogger("urllib3.connectionpool").getEffectiveLevel() == root
    assert logging.getLogger("weasyprint").getEffectiveLevel() == pdf
    assert logging.getLogger("kafka.conn").getEffectiveLevel() == kafka
    assert logging.getLogger("alembic.runtime.plugins").getEffectiveLevel() == kafka


# ---------------------------------------------------------------- the progress bar


def test_bar_draws_share_count_and_detail_then_wipes_itself() -> None:
    out = io.StringIO()
    with ProgressBar("report 2026-10", unit="files", stream=out) as bar:
        bar(3, 12, "projects")
        bar(12, 12, "csv")
    drawn = out.getvalue().split(CLEAR_LINE)
    assert drawn[1].startswith("report 2026-10 [#######.......................] 3/12 files projects ")
    assert drawn[2].startswith("report 2026-10 [##############################] 12/12 files csv ")
    assert drawn[-1] == ""  # the last thing written clears the line


def test_bar_without_a_total_or_unit() -> None:
    out = io.StringIO()
    bar = ProgressBar("<stdin>", stream=out)
    bar.update(0, None, "1,024 lines", force=True)
    bar.update(50, 200, "2,048 lines", force=True)
    first, second = out.getvalue().split(CLEAR_LINE)[1:]
    assert first.startswith("<stdin>: 1,024 lines ")
    assert "  25% 2,048 lines" in second


def test_bar_redraws_at_most_every_interval_unless_forced() -> None:
    out = io.StringIO()
    bar = ProgressBar("x", stream=out, interval=3600)
    bar.update(1, 10)
    bar.update(2, 10)  # within the interval: skipped
    bar.update(3, 10, force=True)
    assert out.getvalue().count(CLEAR_LINE) == 2


def test_a_bar_that_never_drew_writes_nothing_on_close() -> None:
    out = io.StringIO()
    ProgressBar("x", stream=out).close()
    assert out.getvalue() == ""
