"""The `stackledger` command. Each subcommand lives in its own module, `stackledger.cli.<name>`,
whose `add_parser(subparsers)` declares its arguments and sets `run=callable(args) -> int`;
`COMMANDS` registers it with its one-line summary. Every command calls `stackledger.pipeline`.

Start-up stays fast: the command line is parsed in two stages. The first knows only the global
options and the command's name (its `--help` lists `COMMANDS`); the second imports the one
module named and parses its arguments. Subcommand modules import nothing heavy (pandas,
SQLAlchemy, Alembic, pydantic, WeasyPrint …) at module level, only inside the function that
runs the command (`tests/unit/test_cli.py` checks it, `benchmarks/bench_cli_startup.py` times it).

Logging: StackLedger and the libraries log to stderr at WARNING; `-v` shows INFO, `-vv` DEBUG,
`-q` only errors (and no progress bars). Results go to stdout. Every log record is redacted
(`stackledger.redact`); every error ends as one line `stackledger: error: …`, exit status 2,
with its redacted traceback before it at `-vv` (`stackledger.cli.errors`).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from stackledger import __version__

# subcommand -> one-line summary; the command is the module stackledger.cli.<subcommand>.
COMMANDS = {
    "config": "show the effective settings or an example file",
    "db": "database schema migrations",
    "ingest": "load Ceilometer samples from JSON-lines files (- for stdin)",
    "rate": "compute usage and cost lines for a month, a window, or the days marked for re-rating",
    "report": "render the monthly reports (PDF, CSV, XLSX, FOCUS 1.2 CSV, JSON), optionally by email",
    "demo": "run a generated (synthetic) month through the whole pipeline",
    "prices": "show or update the AWS and DigitalOcean price books",
    "compare": "compare a month's internal cost with AWS and DigitalOcean list prices",
    "alarms": "budget, forecast, anomaly and metric alarms",
    "collect": "collect usage and inventory from the cloud's services, checkpointed per window",
    "consume": "consume Ceilometer samples from Kafka into the store",
    "reconcile": "compare a month's instance-hours and vCPU-hours per project with Nova's os-simple-tenant-usage",
    "serve": "the team leads' API and web page (Keystone-authenticated; --demo without Keystone)",
}

EXIT_ERROR = 2
PROG = "stackledger"
# Libraries that narrate every step at INFO keep to warnings at -v: the PDF stack (every font
# subset, every page laid out) always; kafka-python (connections, rebalances) and Alembic's
# plugin registry (a line per plugin on import) until -vv.
PDF_NARRATORS = ("weasyprint", "fontTools", "matplotlib")
CHATTY = ("kafka", "alembic.runtime.plugins")


def global_parser() -> argparse.ArgumentParser:
    """The first stage: global options, the command's name, and the rest left for the command."""
    width = max(map(len, COMMANDS))
    listing = "\n".join(f"  {name:<{width}}  {summary}" for name, summary in COMMANDS.items())
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Metering, cost and reporting for OpenStack clouds.",
        epilog=f"commands:\n{listing}\n\n`{PROG} COMMAND --help` describes one.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument("--config", metavar="PATH", help="settings YAML (default: $STACKLEDGER_CONFIG)")
    loudness = parser.add_mutually_exclusive_group()
    loudness.add_argument("-v", "--verbose", action="count", default=0, help="log INFO (-vv: DEBUG) on stderr")
    loudness.add_argument("-q", "--quiet", action="store_true", help="log only errors; no progress bars")
    parser.add_argument("command", choices=COMMANDS, metavar="COMMAND", help="one of the commands below")
    rest = parser.add_argument("arguments", nargs=argparse.REMAINDER, metavar="...", help="the command's arguments")
    rest.required = False  # none at all is for the command to judge (`stackledger db` names what is missing)
    return parser


def build_parser(command: str) -> argparse.ArgumentParser:
    """The second stage: a parser of `command` and its arguments (imports only its module)."""
    parser = argparse.ArgumentParser(prog=PROG, add_help=False)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    importlib.import_module(f"stackledger.cli.{command}").add_parser(subparsers)
    own = subparsers.choices[command]
    own.description = own.description or COMMANDS[command].capitalize() + "."
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    args = global_parser().parse_args(argv)
    rest = args.arguments
    del args.arguments
    return build_parser(args.command).parse_args([args.command, *rest], namespace=args)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; every error ends as one line `stackledger: error: …` and exit status 2
    (`stackledger.cli.errors`), its redacted traceback first with `-vv`."""
    args = parse_args(argv)
    configure_logging(args.verbose, quiet=args.quiet)
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # the last resort: anything untranslated still gets one clean line
        from stackledger.cli.errors import report

        return report(error, traceback=args.verbose >= 2)


def configure_logging(verbosity: int, *, quiet: bool = False) -> None:
    """Root level: ERROR with `quiet`, else WARNING, INFO (-v) or DEBUG (-vv); one stderr handler,
    whose filter redacts every record (`stackledger.redact.RedactingFilter`)."""
    import logging  # here, not at the top: `--help` and `--version` never log
    import os

    from stackledger.cli.stderr import StderrHandler
    from stackledger.redact import RedactingFilter, remember_environment

    remember_environment(os.environ)  # OS_PASSWORD, PGPASSWORD …: masked even before settings load
    level = logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbosity, 2)]
    root = logging.getLogger()
    root.setLevel(level)
    if not any(isinstance(handler, StderrHandler) for handler in root.handlers):
        handler = StderrHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.addFilter(RedactingFilter())
        root.addHandler(handler)
    for narrator in PDF_NARRATORS:
        logging.getLogger(narrator).setLevel(max(level, logging.WARNING))
    for chatty in CHATTY:
        logging.getLogger(chatty).setLevel(max(level, logging.WARNING) if verbosity < 2 else logging.NOTSET)


if __name__ == "__main__":
    sys.exit(main())
