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


def warn_if_empty(settings: Settings, window: Window) -> str | None:
    """Print to stderr what `window` lacks (no samples / no usage / no cost lines), naming it;
    returns the warning, or None when the window has cost lines."""
    from stackledger.pipeline.coverage import window_coverage

    warning = window_coverage(settings, window).warning()
    if warning:
        print(f"stackledger: warning: {warning}", file=sys.stderr)
    return warning


def on_terminal() -> bool:
    return sys.stderr.isatty()
