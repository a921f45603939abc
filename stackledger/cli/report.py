"""`stackledger report --month YYYY-MM [--format pdf,csv] [--out DIR]`."""

from __future__ import annotations

import argparse
from pathlib import Path

from stackledger import pipeline
from stackledger.cli.common import add_month, settings_from
from stackledger.pipeline.report import FORMATS


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("report", help="render the monthly cost report (PDF, CSV, FOCUS 1.2 CSV)")
    add_month(parser)
    parser.add_argument(
        "--format",
        dest="formats",
        action="append",
        metavar="FORMAT",
        help=f"{' | '.join(FORMATS)}; repeat or separate with commas (default: all)",
    )
    parser.add_argument("--out", metavar="DIR", type=Path, help="output directory (default: report.out_dir)")
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    formats = [name for value in args.formats for name in value.split(",")] if args.formats else list(FORMATS)
    out_dir = settings.report.out_dir if args.out is None else args.out
    for path in pipeline.render_reports(settings, args.month, formats, out_dir):
        print(path)
    return 0
