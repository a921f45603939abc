"""`stackledger db upgrade|current|retention`."""

from __future__ import annotations

import argparse

from stackledger.cli.common import settings_from


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("db")
    actions = parser.add_subparsers(dest="db_action", required=True)
    upgrade = actions.add_parser("upgrade", help="migrate the database to the current schema")
    upgrade.set_defaults(run=_upgrade)
    current = actions.add_parser("current", help="print the database's schema revision")
    current.set_defaults(run=_current)
    retention = actions.add_parser(
        "retention",
        help="drop the raw samples of days older than retention.raw_days that are rated (usage and "
        "cost lines are kept; later samples for those days are refused as dead letters)",
    )
    retention.set_defaults(run=_retention)


def _upgrade(args: argparse.Namespace) -> int:
    from stackledger import pipeline

    revision = pipeline.upgrade_database(settings_from(args))
    print(f"database at revision {revision}")
    return 0


def _current(args: argparse.Namespace) -> int:
    from stackledger import pipeline

    print(pipeline.database_revision(settings_from(args)) or "empty")
    return 0


def _retention(args: argparse.Namespace) -> int:
    from stackledger.pipeline.retention import apply_retention

    result = apply_retention(settings_from(args))
    for day, rows in sorted(result.dropped.items()):
        print(f"dropped the raw samples of {day} ({rows:,} rows)")
    if result.kept:
        print(f"kept {len(result.kept)} old day(s) not rated yet or waiting for re-rating: "
              f"{', '.join(str(day) for day in result.kept)}")  # fmt: skip
    if result.usage_rows:
        print(f"deleted {result.usage_rows:,} hourly usage rows older than retention.usage_hours_days")
    if not result.dropped and not result.kept:
        print("nothing to drop")
    return 0
