"""Small helpers shared by subcommands."""

from __future__ import annotations

import argparse
import sys

from stackledger.errors import ConfigError
from stackledger.settings import Settings, load_settings
from stackledger.window import Window


def settings_from(args: argparse.Namespace) -> Settings:
    return load_settings(args.config)


def add_month(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    parser.add_argument("--month", required=required, metavar="YYYY-MM", type=month_arg, help="calendar month")


def month_arg(text: str) -> Window:
    """argparse only reports ValueError-like errors as usage errors; ours is a ConfigError."""
    try:
        return Window.month(text)
    except ConfigError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def on_terminal() -> bool:
    return sys.stderr.isatty()
