"""Small helpers shared by subcommands. Light on purpose: every subcommand module imports this
one while the parser is built, so it imports nothing heavy at module level."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from stackledger.errors import ConfigError

if TYPE_CHECKING:
    from stackledger.progress import ProgressBar
    from stackledger.settings import Settings
    from stackledger.window import Window


def settings_from(args: argparse.Namespace) -> Settings:
    from stackledger.settings import load_settings

    return load_settings(args.config)


def add_month(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    parser.add_argument("--month", required=required, metavar="YYYY-MM", type=month_arg, help="calendar month")


def month_arg(text: str) -> Window:
    """argparse only reports ValueError-like errors as usage errors; ours is a ConfigError."""
    from stackledger.window import Window

    try:
        return Window.month(text)
    except ConfigError as error:
        raise argparse.ArgumentTypeError(error.reason) from None  # argparse names the option itself


def output_dir(path: Path, option: str = "--out") -> Path:
    """`path` made ready to write reports into: created when missing. A path that is an existing
    file, or a folder that cannot be created or written, is a `ConfigError` naming `option`."""
    import os

    if path.exists() and not path.is_dir():
        raise ConfigError(f"{path} is an existing file: name a directory (it is created if missing)", key=option)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise ConfigError(
            f"cannot create the directory {path}: {reason}; name a writable directory", key=option
        ) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot write into {path}: permission denied; name a writable directory", key=option)
    return path


def warn_if_empty(settings: Settings, window: Window) -> str | None:
    """Print to stderr what `window` lacks (no samples / no usage / no cost lines), naming it,
    unless `-q` asked for errors only; returns the warning, or None when the window has cost lines."""
    import logging

    from stackledger.pipeline.coverage import window_coverage

    warning = window_coverage(settings, window).warning()
    if warning and logging.getLogger().isEnabledFor(logging.WARNING):
        print(f"stackledger: warning: {warning}", file=sys.stderr)
    return warning


def show_progress(args: argparse.Namespace) -> bool:
    """Progress bars go to stderr when it is a terminal, unless `-q` asked for quiet."""
    return not getattr(args, "quiet", False) and sys.stderr.isatty()


def progress_bar(args: argparse.Namespace, label: str, *, unit: str | None = None) -> ProgressBar | None:
    """A bar to draw with (close it when done), or None when progress is not shown."""
    if not show_progress(args):
        return None
    from stackledger.progress import ProgressBar

    return ProgressBar(label, unit=unit)
