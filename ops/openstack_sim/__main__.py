"""Run the simulator: `python -m openstack_sim --fleet FLEET.json` (with ops/ on sys.path).

Nova and Cinder listen on their own loopback ports from one process, one PID to stop. The Keystone
to validate tokens against comes from --keystone-url or OS_AUTH_URL; project names in the fleet
are resolved with the OS_* admin credentials in the environment (never from argv, keeping the
password out of `ps`).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from .app import SimState
from .cinder import CinderApp
from .keystone import TokenValidator, project_ids
from .nova import NovaApp
from .web import serve

DEFAULT_FLEET = Path(__file__).with_name("default_fleet.json")
LOOPBACK = "127.0.0.1"


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="openstack_sim", description=__doc__)
    p.add_argument("--fleet", type=Path, default=DEFAULT_FLEET, help="fleet JSON/YAML file")
    p.add_argument("--nova-port", type=int, default=int(os.environ.get("STACKLEDGER_NOVA_PORT", 58774)))
    p.add_argument("--cinder-port", type=int, default=int(os.environ.get("STACKLEDGER_CINDER_PORT", 58776)))
    p.add_argument(
        "--keystone-url", default=os.environ.get("OS_AUTH_URL"), help="Keystone v3 URL, e.g. http://127.0.0.1:55000/v3"
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if not args.keystone_url:
        sys.exit("openstack_sim: no Keystone URL (--keystone-url or OS_AUTH_URL)")
    state = SimState(args.fleet, TokenValidator(args.keystone_url), lambda: project_ids(os.environ))
    servers = [
        serve(NovaApp(state, args.keystone_url), "compute", LOOPBACK, args.nova_port),
        serve(CinderApp(state, args.keystone_url), "volume", LOOPBACK, args.cinder_port),
    ]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    logging.info(
        "nova on %s:%d, cinder on %s:%d, fleet %s", LOOPBACK, args.nova_port, LOOPBACK, args.cinder_port, args.fleet
    )
    stop.wait()
    for server in servers:
        server.shutdown()
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
