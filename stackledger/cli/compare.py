"""`stackledger compare --month YYYY-MM [--format table|csv]`."""

from __future__ import annotations

import argparse
import sys

from stackledger.cli.common import add_month, settings_from, warn_if_empty

EPILOG = """\
Per project and in total: the internal cost of the month's cost lines, the same usage at AWS and
DigitalOcean list prices (converted with the configured `fx` rates), the difference (baseline −
internal) and its percent of internal, and how each flavor and service was matched, e.g.
`m1.large 4 vCPU 8 GiB → m6i.xlarge 0.204 USD/h, eu-north-1, as of 2022-11-22`.
Run `stackledger rate --month` first: a month without cost lines prints zeros and a warning on
stderr saying what is missing. The table shows cents; csv prints the exact sums.
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compare",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_month(parser)
    parser.add_argument("--format", choices=("table", "csv"), default="table", help="output format (default: table)")
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from stackledger.pipeline.compare import compare_month
    from stackledger.reports.compare import render_csv, render_table

    settings = settings_from(args)
    warn_if_empty(settings, args.month)  # the zeros below are then "nothing rated", not "free"
    result = compare_month(settings, args.month)
    sys.stdout.write(render_table(result) if args.format == "table" else render_csv(result))
    return 0
