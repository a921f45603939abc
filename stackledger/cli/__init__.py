"""The `stackledger` command. Each subcommand lives in its own module and registers itself
through `COMMANDS`; every one calls a `stackledger.pipeline` function."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from stackledger import __version__
from stackledger.errors import StackLedgerError

# subcommand name -> module under stackledger.cli that defines `add_parser(subparsers)`.
COMMANDS = {
    "config": "config",
    "db": "db",
    "ingest": "ingest",
    "rate": "rate",
    "report": "report",
    "demo": "demo",
    "prices": "prices",
    "compare": "compare",
    "alarms": "alarms",
    "collect": "collect",
    "consume": "consume",
    "reconcile": "reconcile",
    "serve": "serve",
}

EXIT_ERROR = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stackledger", description="Metering, cost and reporting for OpenStack clouds."
    )
    parser.add_argument("--version", action="version", version=f"stackledger {__version__}")
    parser.add_argument("--config", metavar="PATH", help="settings YAML (default: $STACKLEDGER_CONFIG)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS.values():
        importlib.import_module(f"stackledger.cli.{module}").add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose)
    try:
        return int(args.run(args) or 0)
    except StackLedgerError as error:
        print(f"stackledger: error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is at emit time (tests swap it between runs)."""

    @property
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


def _configure_logging(verbosity: int) -> None:
    root = logging.getLogger()
    root.setLevel(logging.WARNING - 10 * min(verbosity + 1, 2))
    if not any(isinstance(handler, _StderrHandler) for handler in root.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    # WeasyPrint and fontTools narrate every step at INFO; keep them to warnings.
    for noisy in ("weasyprint", "fontTools", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


if __name__ == "__main__":
    sys.exit(main())
