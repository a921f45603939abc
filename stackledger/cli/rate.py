"""`stackledger rate --month YYYY-MM | --start T --end T | --pending [--strict]`: usage → cost lines."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from stackledger.cli.common import progress_bar, settings_from, warn_if_empty
from stackledger.errors import ConfigError

if TYPE_CHECKING:
    from stackledger.pipeline.collect import Shard
    from stackledger.pipeline.rate import RateResult
    from stackledger.window import Window

INTERNAL_BOOK = "internal"  # stackledger.schema.INTERNAL_BOOK, without importing pandas (tests/unit/test_cli.py)
FINDINGS_SHOWN = 10  # finding lines printed; the rest are counted

EPILOG = """\
Computes hourly usage from the stored samples for the window, sums it per UTC day, prices it
with the rate card (`rate_card` in the settings) and replaces the window's cost lines in one
transaction: re-running a window gives the same lines, never more. Windows are widened to
whole UTC days. --pending re-rates the days that received late samples after being rated.

Usage a price book cannot price as usual never stops rating: an instance whose size nothing
says, or that no instance type of the allowed families holds, gets no AWS/DigitalOcean line; a
volume type id no collected Cinder type resolves is priced without its type. Each is stored as a
finding (book, service, resource, project, day, quantity, reason) beside the cost lines, and
listed here and in the reports' data-quality section. Usage without a project is priced as
"unallocated". A configuration error (a service the rate card does not price) still stops the
run with its name.

Memory depends on `rate.chunk_samples` (a day is rated a chunk of resources at a time), not on
the cloud or the window. --jobs N computes the chunks in N processes. --shard K/N rates the
resources (--stage usage) or the projects (--stage month, after every shard's usage stage)
hashing to K, each in its own transaction: the daily Airflow DAG maps them over
`airflow.shards`; a sharded run leaves the days' re-rating marks to the DAG's last task.

stdout: one line per rated window (usage rows, cost lines per price book), then the total per
currency of the internal price book — exact, and to cents — and of each public price book, then
the findings summed per book, service and reason (at most {shown}, the rest counted).
stderr: a warning naming the window when it has no samples, no usage or no cost lines.
exit status: 0, also with findings; with --strict, 2 when there are findings (the window is
rated and stored all the same, so a re-run changes nothing and `report` shows them).
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "rate",
        epilog=EPILOG.format(shown=FINDINGS_SHOWN),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--month", metavar="YYYY-MM", help="a calendar month (UTC)")
    which.add_argument("--start", metavar="TIME", help="window start, ISO 8601 (UTC unless it says otherwise)")
    which.add_argument("--pending", action="store_true", help="re-rate the days late samples marked")
    parser.add_argument("--end", metavar="TIME", help="window end (exclusive), with --start")
    parser.add_argument("--jobs", type=int, default=1, metavar="N", help="compute usage in N processes (default 1)")
    parser.add_argument("--shard", metavar="K/N", help="only shard K of N (0 ≤ K < N), one --stage at a time")
    parser.add_argument("--stage", choices=("usage", "month"), help="with --shard: usage and per-day books, or "
                        "the month-to-date books (after every shard's usage stage)")  # fmt: skip
    parser.add_argument("--strict", action="store_true", help="exit 2 when a price book recorded findings")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from stackledger.pipeline.rate import rate_pending, rate_window

    if args.pending and args.end:
        raise ConfigError("--end goes with --start", key="--end")
    if args.jobs < 1:
        raise ConfigError(f"--jobs {args.jobs}: at least 1", key="--jobs")
    shard = _shard(args)
    window = None if args.pending else _window(args)
    settings = settings_from(args)
    bar = progress_bar(args, f"rate {window.label}" if window else "rate --pending", unit="steps")
    try:
        if window is None:
            results = rate_pending(settings, progress=bar, jobs=args.jobs)
        else:
            results = [rate_window(settings, window, progress=bar, jobs=args.jobs, shard=shard, stage=args.stage)]
    finally:
        if bar is not None:
            bar.close()
    if not results:
        print("no days marked for re-rating")
        return 0
    _report(results)
    found = _findings(results)
    for result in results:
        warn_if_empty(settings, result.window)
    if args.strict and found:
        from stackledger.errors import PricingError

        raise PricingError(
            f"--strict: {found} finding(s) of usage not priced as usual, e.g. {_first_finding(results)}; "
            "they are stored with the cost lines (see `stackledger report`)"
        )
    return 0


def _shard(args: argparse.Namespace) -> Shard | None:
    if args.shard is None:
        if args.stage is not None:
            raise ConfigError("--stage goes with --shard", key="--stage")
        return None
    if args.pending:
        raise ConfigError("--shard rates a window (--month or --start/--end), not --pending", key="--shard")
    if args.stage is None:
        raise ConfigError("--shard needs --stage usage or --stage month", key="--stage")
    index, _, count = args.shard.partition("/")
    if not (index.isdigit() and count.isdigit()):
        raise ConfigError(f"--shard {args.shard!r}: expected K/N, e.g. 0/4", key="--shard")
    from stackledger.pipeline.collect import Shard

    return Shard(int(index), int(count))


def _window(args: argparse.Namespace) -> Window:
    from stackledger.window import Window

    if args.month:
        if args.end:
            raise ConfigError("--end goes with --start, not --month", key="--end")
        return Window.month(args.month)
    if not args.end:
        raise ConfigError("--start needs --end", key="--end")
    return Window.parse(args.start, args.end)


def _report(results: list[RateResult]) -> None:
    from decimal import Decimal

    totals: dict[tuple[str, str], Decimal] = {}  # (price book, currency) -> amount
    for result in results:
        books = ", ".join(f"{book.price_book} {book.cost_lines}" for book in result.books)
        print(f"{result.window.label}: {result.usage_rows} usage rows, {result.cost_lines} cost lines ({books})")
        for book in result.books:
            for currency, amount in book.totals.items():
                totals[book.price_book, currency] = totals.get((book.price_book, currency), Decimal(0)) + amount
    # The internal book is what the cloud charges; the others are the same usage at public list prices.
    for (name, currency), amount in sorted(totals.items(), key=lambda item: (item[0][0] != INTERNAL_BOOK, item[0])):
        label = "total" if name == INTERNAL_BOOK else f"  {name} list price"
        print(f"{label} {currency} {amount} ({amount.quantize(Decimal('0.01')):,})")


def _findings(results: list[RateResult]) -> int:
    """Print each window's findings (at most FINDINGS_SHOWN lines); returns how many summed lines there were."""
    count = sum(len(book.findings) for result in results for book in result.books)
    if not count:
        return 0
    print(f"findings: {count} — usage a price book could not price as usual (stored; the reports list them):")
    lines = [
        f"  {result.window.label} {finding.describe()}" if len(results) > 1 else f"  {finding.describe()}"
        for result in results
        for book in result.books
        for finding in book.findings
    ]
    print("\n".join(lines[:FINDINGS_SHOWN]))
    if len(lines) > FINDINGS_SHOWN:
        print(f"  and {len(lines) - FINDINGS_SHOWN} more")
    return count


def _first_finding(results: list[RateResult]) -> str:
    return next(f.describe() for result in results for book in result.books for f in book.findings)
