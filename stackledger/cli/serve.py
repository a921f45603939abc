"""`stackledger serve [--host H] [--port P] [--workers N] [--demo [--out DIR]]`: the API and web page."""

from __future__ import annotations

import argparse
import ipaddress
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from stackledger.cli.common import settings_from
from stackledger.errors import ConfigError

if TYPE_CHECKING:
    from stackledger.settings import Settings

DEMO_DB = "demo.db"  # what `stackledger demo` writes under its --out directory

EPILOG = """\
Serves the JSON API (/v1, CloudKitty's /v2/summary and /v2/dataframes, /metrics, /docs) and
the web page (My budgets, projects, finance) on api.host:api.port (default 127.0.0.1:8080).
Callers authenticate with Keystone tokens (api.keystone: the API's own service user); what
each may see follows the policy (api.policy_file, default stackledger/data/policy.yaml).

--demo serves the database `stackledger demo` wrote (DIR/demo.db, DIR = --out or
report.out_dir) with two built-in users, finance and payments-lead (password demo), no
Keystone; the figures are synthetic and the page says so. Demo mode only binds loopback.

In production run it behind TLS, e.g. with gunicorn and uvicorn workers (gunicorn, uvicorn-worker):
  gunicorn -k uvicorn_worker.UvicornWorker -w 4 -b 127.0.0.1:8080 'stackledger.cli.serve:app()'
with STACKLEDGER_CONFIG naming the settings, and a TLS proxy in front (set api.cookie_secret).
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", help="address to bind (default: api.host, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default: api.port, 8080)")
    parser.add_argument("--workers", type=int, help="uvicorn worker processes (default: api.workers, 1)")
    parser.add_argument("--demo", action="store_true", help="serve the demo database with built-in demo users")
    parser.add_argument("--out", type=Path, metavar="DIR", help="with --demo: where `stackledger demo` wrote")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import logging

    import uvicorn

    # keystoneauth's DEBUG lines carry request bodies; ours pass log=False, this guards the rest.
    logging.getLogger("keystoneauth").setLevel(max(logging.getLogger().level, logging.INFO))
    settings = settings_from(args)
    host = args.host or settings.api.host
    port = args.port or settings.api.port
    workers = args.workers or settings.api.workers
    demo = bool(args.demo or settings.api.demo)
    if demo:
        settings = demo_settings(settings, args.out)
        if not _loopback(host):
            raise ConfigError(f"--demo serves public demo passwords: bind a loopback address, not {host}", key="--host")
        workers = 1  # the demo users' sessions live in the serving process
    if workers > 1:
        if args.config:  # each worker reads its settings again, from the environment
            os.environ["STACKLEDGER_CONFIG"] = str(args.config)
        # Each worker builds its app from the environment; they must share the cookie key.
        os.environ.setdefault(
            "STACKLEDGER__API__COOKIE_SECRET",
            settings.api.cookie_secret.get_secret_value() if settings.api.cookie_secret else secrets.token_urlsafe(32),
        )
        uvicorn.run(
            "stackledger.cli.serve:app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            proxy_headers=True,
            server_header=False,
        )
        return 0
    from stackledger.api import create_app

    users = " (demo: users finance and payments-lead, password demo)" if demo else ""
    print(f"stackledger serve: http://{host}:{port}/{users}")
    uvicorn.run(create_app(settings, demo=demo), host=host, port=port, proxy_headers=True, server_header=False)
    return 0


def app() -> object:
    """An app factory for uvicorn's and gunicorn's workers: settings from STACKLEDGER_CONFIG and
    the environment (STACKLEDGER__SECTION__KEY)."""
    from stackledger.api import create_app
    from stackledger.settings import load_settings

    settings = load_settings()
    return create_app(settings, demo=settings.api.demo)


def demo_settings(settings: Settings, out: Path | None) -> Settings:
    """The settings pointed at the demo's SQLite file (which must exist: run `stackledger demo`)."""
    folder = out if out is not None else settings.report.out_dir
    path = (folder / DEMO_DB).resolve()
    if not path.is_file():
        raise ConfigError(f"no demo database at {path}: run `stackledger demo --out {folder}` first", key="--demo")
    return settings.model_copy(update={"database": settings.database.model_copy(update={"url": f"sqlite:///{path}"})})


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
