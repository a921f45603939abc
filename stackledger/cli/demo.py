"""`stackledger demo [--out DIR] [--month YYYY-MM] [--months N]`: synthetic months, end to end."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from stackledger.cli.common import month_arg, output_dir

if TYPE_CHECKING:
    from stackledger.pipeline.demo import DemoResult
    from stackledger.settings import Settings

DEMO_DB = "demo.db"
# For the help text without importing the settings, the pipeline or the generator; the same as
# settings.CONFIG_ENV / ENV_PREFIX, pipeline.demo.DEFAULT_MONTH / DEFAULT_MONTHS and
# collectors.synthetic's DEFAULT_SEED / DEFAULT_POLL_MINUTES (tests/unit/test_cli.py keeps them so).
CONFIG_ENV = "STACKLEDGER_CONFIG"
DATABASE_URL_ENV = "STACKLEDGER__DATABASE__URL"
DEFAULT_MONTH = "2026-10"
DEFAULT_MONTHS = 3
DEFAULT_SEED = 4711
DEFAULT_POLL_MINUTES = 60

EPILOG = f"""\
Generates a synthetic OpenStack cloud (12 projects in 3 teams, instances created, resized and
deleted, volumes, snapshots, backups, images, floating IPs, network counters) over the
{DEFAULT_MONTHS} months ending with --month (one fleet growing month by month), writes their
Ceilometer samples to DIR/demo-samples.jsonl, and runs them through the real pipeline:
ingest → usage → rating (the configured rate card) of every month → PDF and CSV reports of
the last month in DIR, with the months before it in its month-over-month comparison.

Without --config, ${CONFIG_ENV} or ${DATABASE_URL_ENV}, the demo uses its own
SQLite file, DIR/{DEMO_DB}, recreated on every run. With them, the synthetic data goes into
that database.
All figures are SYNTHETIC: no real cloud was measured.
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", metavar="DIR", type=Path, help="output directory (default: report.out_dir)")
    parser.add_argument(
        "--month",
        metavar="YYYY-MM",
        type=month_arg,
        default=DEFAULT_MONTH,  # a string default goes through `type` too
        help=f"the last calendar month to simulate and the one reported (default: {DEFAULT_MONTH})",
    )
    parser.add_argument(
        "--months",
        type=_months_arg,
        default=DEFAULT_MONTHS,
        metavar="N",
        help="how many months to simulate, ending with --month (default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="the generator's seed (default: %(default)s)")
    parser.add_argument(
        "--poll-minutes",
        type=int,
        default=DEFAULT_POLL_MINUTES,
        metavar="N",
        help="polling interval of the simulated agents, a divisor of 60 (default: %(default)s)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from stackledger.pipeline.demo import demo, fresh_sqlite

    settings, own_database = _settings(args)
    out_dir = output_dir(settings.report.out_dir if args.out is None else args.out,
                         "--out" if args.out is not None else "report.out_dir")  # fmt: skip
    if own_database:
        settings = _with_database(args, out_dir / DEMO_DB)
        fresh_sqlite(settings)
    print("StackLedger demo: SYNTHETIC data from a generated cloud, not measurements of a real one.")
    if not own_database:
        print(f"writing the synthetic month into the configured database {_safe_url(settings)}")
    result = demo(
        settings, out_dir, month=args.month.label, months=args.months, seed=args.seed, poll_minutes=args.poll_minutes
    )
    _print(result, settings, own_database)
    return 0


def _months_arg(text: str) -> int:
    count = int(text) if text.strip().isdigit() else 0
    if count < 1:
        raise argparse.ArgumentTypeError(f"--months must be a whole number of at least 1, got {text!r}")
    return count


def _settings(args: argparse.Namespace) -> tuple[Settings, bool]:
    """The settings, and whether the demo should use its own fresh SQLite file."""
    from stackledger.settings import load_settings

    configured = bool(args.config or os.environ.get(CONFIG_ENV) or os.environ.get(DATABASE_URL_ENV))
    return load_settings(args.config), not configured


def _with_database(args: argparse.Namespace, path: Path) -> Settings:
    from stackledger.settings import load_settings

    path.parent.mkdir(parents=True, exist_ok=True)
    environ = {**os.environ, DATABASE_URL_ENV: f"sqlite:///{path.resolve()}"}
    return load_settings(args.config, environ)


def _print(result: DemoResult, settings: Settings, own_database: bool) -> None:
    from stackledger.reports.formatting import money

    samples = result.ingest.ingested if result.ingest else 0
    for number, path in enumerate(result.paths):
        detail = f" ({result.messages:,} messages, {samples:,} samples)" if number == 0 else ""
        print(f"wrote {path}{detail}")
    if own_database:
        print(f"database: {_safe_url(settings)}")
    for window, totals in result.history:
        amounts = ", ".join(f"{currency} {money(total)}" for currency, total in sorted(totals.items()))
        print(f"earlier month {window.label} (internal rate card): {amounts or 'nothing rated'} (synthetic)")
    for currency, total in sorted(result.totals.items()):
        print(f"grand total {result.window.label} (internal rate card): {currency} {money(total)} (synthetic)")
    timings = ", ".join(f"{step} {seconds:.1f}s" for step, seconds in result.seconds.items())
    print(f"took {sum(result.seconds.values()):.1f}s ({timings})")


def _safe_url(settings: Settings) -> str:
    from stackledger.redact import redact_url

    return redact_url(settings.database.url)
