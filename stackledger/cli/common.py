"""Small helpers shared by subcommands."""

from __future__ import annotations

import argparse
import sys

from stackledger.settings import Settings, load_settings
from stackledger.window import Window


def settings_from(args: argparse.Namespace) -> Settings:
    return load_settings(args.config)


def add_month(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    parser.add_argument("--month", required=required, metavar="YYYY-MM", type=Window.month, help="calendar month")


def on_terminal() -> bool:
    return sys.stderr.isatty()
