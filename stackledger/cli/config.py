"""`stackledger config show|example`: the effective settings, or a commented example file."""

from __future__ import annotations

import argparse
import json

from stackledger.cli.common import settings_from


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("config")
    actions = parser.add_subparsers(dest="config_action", required=True)
    actions.add_parser("show", help="print the effective settings (secrets masked)").set_defaults(run=_show)
    actions.add_parser("example", help="print a commented example settings file").set_defaults(run=_example)


def _show(args: argparse.Namespace) -> int:
    """The effective settings as JSON, through `stackledger.redact.redact_value`: secret-named
    keys, `SecretStr`s (webhook header values, Slack's URL) and URL passwords are masked."""
    from stackledger.redact import redact_value

    print(json.dumps(redact_value(settings_from(args).model_dump(mode="json")), indent=2, sort_keys=True))
    return 0


def _example(_args: argparse.Namespace) -> int:
    from stackledger.settings import PACKAGE_DATA

    print((PACKAGE_DATA / "config.example.yaml").read_text(encoding="utf-8"), end="")
    return 0
