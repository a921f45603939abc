"""`stackledger report --month YYYY-MM [--format pdf,projects,csv,xlsx,focus,json] [--out DIR] [--email [--resend]]`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from stackledger.cli.common import add_month, output_dir, progress_bar, settings_from, warn_if_empty
from stackledger.errors import ConfigError, InputError

if TYPE_CHECKING:
    from stackledger.settings import Settings

# The keys of `stackledger.pipeline.report.FORMATS`, in its order, for the help text without
# importing the report stack (tests/unit/test_cli.py keeps the two the same).
FORMATS = ("pdf", "projects", "csv", "xlsx", "focus", "json")

EPILOG = """\
formats: pdf = the finance summary; projects = one PDF per project (for its team lead);
csv = one row per project, service and price book; xlsx = the summary as a workbook;
focus = FOCUS 1.2 CSV, one row per cost line; json = the summary's figures for other tools.

--email renders the PDFs (and the XLSX) and sends the finance summary to report.email.finance
and each team lead (report.email.team_leads) only the PDFs of their own team's projects.
Each recipient gets a month's documents once: a re-run skips who already received the same
documents, and sends a correction to who received different ones (the figures changed).
--resend sends everything again.

A month without cost lines is an error (exit 2, nothing written or sent) naming what is missing
(no samples / no usage / no cost lines); --allow-empty renders (and sends) its empty reports,
with the same warning on stderr.
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_month(parser)
    parser.add_argument(
        "--format",
        dest="formats",
        action="append",
        metavar="FORMAT",
        help=f"{' | '.join(FORMATS)}; repeat or separate with commas (default: all; with --email: the PDFs)",
    )
    parser.add_argument("--out", metavar="DIR", type=Path, help="output directory (default: report.out_dir)")
    parser.add_argument(
        "--allow-empty", action="store_true", help="render a month without cost lines (a warning, not an error)"
    )
    parser.add_argument("--email", action="store_true", help="send the reports by email (settings: report.email)")
    parser.add_argument(
        "--resend", action="store_true", help="with --email: also send to recipients who already received these reports"
    )
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from stackledger.pipeline.report import email_reports, render_reports, wanted_formats

    settings = settings_from(args)
    chosen = [name for value in args.formats for name in value.split(",")] if args.formats else None
    out_dir = settings.report.out_dir if args.out is None else args.out
    if args.resend and not args.email:
        raise ConfigError("--resend only applies with --email", key="--resend")
    wanted_formats(chosen or list(FORMATS))  # a bad --format is named before the month is looked at
    _refuse_empty(settings, args)
    output_dir(out_dir, "--out" if args.out is not None else "report.out_dir")  # after: a refusal writes nothing
    if not args.email:
        bar = progress_bar(args, f"report {args.month.label}", unit="files")
        try:
            paths = render_reports(settings, args.month, chosen or list(FORMATS), out_dir, progress=bar)
        finally:
            if bar is not None:
                bar.close()
        for path in paths:
            print(path)
        return 0
    result = email_reports(settings, args.month, out_dir, chosen or [], resend=args.resend)
    for path in result.paths:
        print(path)
    for delivery in result.deliveries:
        files = ", ".join(delivery.attachments)
        corrected = f" (corrects those sent {delivery.corrects:%Y-%m-%d %H:%M} UTC)" if delivery.corrects else ""
        print(f"sent {delivery.audience} → {', '.join(delivery.recipients)}: {files}{corrected}")
    for skipped in result.skipped:
        print(f"skipped {skipped.audience} → {', '.join(skipped.recipients)}: already sent "
              f"{skipped.sent_at:%Y-%m-%d %H:%M} UTC (--resend to send again)")  # fmt: skip
    for reason, names in result.unsent.items():
        print(f"not sent ({reason}): {', '.join(names)}")
    return 0


def _refuse_empty(settings: Settings, args: argparse.Namespace) -> None:
    """An empty month's reports say zero where nothing was measured: refused unless asked for."""
    if args.allow_empty:
        warn_if_empty(settings, args.month)
        return
    from stackledger.pipeline.coverage import window_coverage

    warning = window_coverage(settings, args.month).warning()
    if warning:
        raise InputError(f"{warning}; nothing written (--allow-empty renders the empty reports)")
