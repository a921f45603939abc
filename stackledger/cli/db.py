"""`stackledger db upgrade|current`."""

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


def _upgrade(args: argparse.Namespace) -> int:
    from stackledger import pipeline

    revision = pipeline.upgrade_database(settings_from(args))
    print(f"database at revision {revision}")
    return 0


def _current(args: argparse.Namespace) -> int:
    from stackledger import pipeline

    print(pipeline.database_revision(settings_from(args)) or "empty")
    return 0
