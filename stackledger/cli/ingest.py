"""`stackledger ingest PATH... [--strict]`: Ceilometer samples from JSON-lines files into the store."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from stackledger.cli.common import settings_from, show_progress

if TYPE_CHECKING:
    from stackledger.pipeline.ingest import IngestResult

EXIT_REJECTED = 1  # --strict and something was rejected or unreadable
EXIT_NOTHING_READ = 2  # no input could be opened at all
EXIT_NOT_STORED = 3  # a batch could not be stored (rolled back): run the same command again

EPILOG = """\
Each line is a Ceilometer sample, an oslo.messaging envelope or a metering notification
(see `collectors.samples`). Files may be gzip-compressed. Re-ingesting a file is harmless:
samples dedupe on message_id (as long as their day's raw samples are kept: `retention.raw_days`)
and each bad line is dead-lettered once. Samples of meters StackLedger does not price are
counted on stderr, not stored (`ingest.keep_meters` keeps named ones).

stdout: `ingested N, duplicates N, rejected N` (samples; a line that is not a usable message
counts as one rejection). Rejections and unreadable files are listed on stderr.

exit status: 0 done (bad lines are stored as dead letters, not failures); 1 with --strict when
anything was rejected or a file could not be read; 2 when no input could be read at all; 3 when
the database refused a batch: that batch is rolled back whole and the rest of its file is not
read — running the same command again completes it, nothing stored twice.

Samples are stored a batch (`ingest.batch_size` samples) per transaction, each with its dead
letters, attribute revisions and re-rating marks. A message id reused with other content on the
same day is refused as a dead letter naming the batch that stored the first one (file and lines,
or topic and offsets); an identical repeat is a duplicate.
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ingest",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="JSON-lines file, .gz file, or - for stdin")
    parser.add_argument("--strict", action="store_true", help="exit 1 if any line was rejected or unreadable")
    parser.add_argument(
        "--jobs",
        type=int,
        metavar="N",
        help="worker processes parsing and storing on PostgreSQL (default: ingest.jobs, 1)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from stackledger.errors import ConfigError
    from stackledger.pipeline.ingest import ingest_paths

    if args.jobs is not None and args.jobs < 1:
        raise ConfigError(f"--jobs {args.jobs}: at least 1", key="--jobs")

    result = ingest_paths(settings_from(args), args.paths, progress=show_progress(args), jobs=args.jobs)
    _report(result)
    if result.store_errors:
        return EXIT_NOT_STORED
    if result.files_read == 0:
        return EXIT_NOTHING_READ
    if args.strict and (result.rejected or result.errors):
        return EXIT_REJECTED
    return 0


def _report(result: IngestResult) -> None:
    from stackledger.pipeline.ingest import EXAMPLES_MAX

    for error in result.errors:
        print(f"stackledger: error: {error}", file=sys.stderr)
    for failure in result.store_errors:
        print(f"stackledger: error: {failure}", file=sys.stderr)
    for example in result.examples:
        print(f"stackledger: rejected {example}", file=sys.stderr)
    if result.rejected > len(result.examples):
        more = result.rejected - len(result.examples)
        print(
            f"stackledger: … and {more} more rejected (first {EXAMPLES_MAX} shown; all are in dead_letters)",
            file=sys.stderr,
        )
    if result.rerate_days:
        days = ", ".join(str(day) for day in sorted(result.rerate_days))
        print(f"stackledger: already-rated days marked for re-rating: {days}", file=sys.stderr)
    if result.unrated_meters:
        names = ", ".join(f"{name} ({n})" for name, n in result.unrated_meters.most_common(10))
        print(f"stackledger: not stored, meters StackLedger does not price (ingest.keep_meters keeps them): {names}",
              file=sys.stderr)  # fmt: skip
    print(f"ingested {result.ingested}, duplicates {result.duplicates}, rejected {result.rejected}")
