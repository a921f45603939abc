"""`stackledger collect --source NAME --start ISO --end ISO [--force] [--window hour|day]`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from stackledger.cli.common import progress_bar, settings_from

if TYPE_CHECKING:
    from stackledger.pipeline.collect import CollectResult
    from stackledger.progress import ProgressBar
    from stackledger.window import Window

EXIT_INCOMPLETE = 1  # some window could not be collected: it stored nothing and keeps no checkpoint
# The names of `stackledger.pipeline.collect.COLLECTORS` and its ALL, for the help text without
# importing the collectors (tests/unit/test_cli.py keeps the two lists the same).
SOURCES = ("gnocchi", "keystone", "nova", "cinder", "synthetic")
ALL = "all"

EPILOG = f"""\
Sources: {", ".join([*SOURCES, ALL])} (`all`: every one but synthetic, in that order). Several may be given
(--source a --source b, or a,b).

The range [start, end) is cut into UTC days (or hours with --window hour, or the settings'
collect.window), clipped to the range; start and end must fall on whole hours (a date alone
means midnight UTC). Each (source, window) is stored in one transaction with its checkpoint, or,
if anything in it failed, not at all. A checkpointed window is skipped, so a re-run only
collects what is missing; --force collects again and replaces. A window that ended less than
collect.settle_minutes ago is stored but not checkpointed (its data may still arrive).

stdout: one summary line per source. stderr: every failure, and a progress bar on a terminal.
exit status: 0 every window stored or already stored; 1 some window failed (the failures are
listed; run again to retry them); 2 configuration or database error.
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "collect",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--source", action="append", required=True, metavar="NAME", help="source to collect")
    parser.add_argument("--start", required=True, metavar="ISO", help="range start (UTC unless an offset is given)")
    parser.add_argument("--end", required=True, metavar="ISO", help="range end, exclusive")
    parser.add_argument("--window", choices=("hour", "day"), help="window size (default: collect.window)")
    parser.add_argument("--force", action="store_true", help="collect checkpointed windows again")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from stackledger.pipeline.collect import collect_range, source_names, windows
    from stackledger.window import Window

    settings = settings_from(args)
    sources = [name.strip() for value in args.source for name in value.split(",") if name.strip()]
    window = Window.parse(args.start, args.end)
    total = len(source_names(sources)) * len(windows(window, args.window or settings.collect.window))
    bar = progress_bar(args, "collect", unit="windows")
    counter = _WindowCounter(bar, total) if bar is not None else None
    try:
        results = collect_range(settings, sources, window, force=args.force, size=args.window,
                                progress=counter.update if counter else None)  # fmt: skip
    finally:
        if bar is not None:
            bar.close()
    _report(results)
    return 0 if all(result.complete for result in results) else EXIT_INCOMPLETE


def _report(results: Sequence[CollectResult]) -> None:
    for result in results:
        for failure in result.failures:
            kind = "transient" if failure.transient else "error"
            print(f"stackledger: {result.source} {result.window.label}: {failure.scope} ({kind}): {failure.reason}",
                  file=sys.stderr)  # fmt: skip
    marked = sorted(set().union(*(result.rerate_days for result in results)))
    if marked:
        days = ", ".join(str(day) for day in marked)
        print(f"stackledger: already-rated days whose usage changed, marked for re-rating: {days}", file=sys.stderr)
    for source in dict.fromkeys(result.source for result in results):
        mine = [result for result in results if result.source == source]
        stored = [result for result in mine if result.stored]
        failed = sum(not result.complete for result in mine)
        print(
            f"{source}: {len(stored)} windows stored ({sum(r.usage_rows for r in stored):,} usage rows, "
            f"{sum(r.resources for r in stored):,} resource revisions, {sum(r.projects for r in stored):,} projects), "
            f"{sum(r.skipped for r in mine)} already stored, {sum(r.open for r in mine)} open, {failed} failed; "
            f"{sum(r.requests for r in mine):,} requests"
        )


class _WindowCounter:
    """Feeds the bar: windows done of all, failures so far, the window in progress."""

    def __init__(self, bar: ProgressBar, total: int) -> None:
        self.bar = bar
        self.total = max(total, 1)
        self.done = 0
        self.failed = 0

    def update(self, event: str, source: str, window: Window, result: CollectResult | None) -> None:
        if event == "done":
            self.done += 1
            self.failed += int(result is not None and not result.complete)
        failed = f"{self.failed} failed" if self.failed else ""
        doing = f"{source} {window.start:%Y-%m-%d %H:%M}" if event == "start" else ""
        self.bar.update(self.done, self.total, " ".join(part for part in (failed, doing) if part), force=True)
