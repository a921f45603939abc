"""Seed the test Keystone: projects with tags, and the catalog entries for Nova, Cinder and Gnocchi.

Runs in Keystone's own venv (keystoneauth1 comes with keystone). Every step looks before it writes,
so re-running after a restart or a port change converges instead of duplicating rows.
Usage: seed.py --auth-url URL --password-file FILE --projects projects.json --region R \
               --catalog TYPE=NAME=URL [--catalog ...]
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

LOG = logging.getLogger("seed")
INTERFACES = ("public", "internal", "admin")


class Keystone:
    """Thin REST helper: absolute URLs against one identity endpoint, JSON in and out."""

    def __init__(self, auth_url: str, password: str) -> None:
        auth = v3.Password(
            auth_url=auth_url,
            username="admin",
            password=password,
            project_name="admin",
            user_domain_id="default",
            project_domain_id="default",
        )
        self.sess = ks_session.Session(auth=auth)
        self.base = auth_url.rstrip("/")

    def get(self, path: str, **params: str) -> dict[str, Any]:
        return dict(self.sess.get(self.base + path, params=params).json())

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return dict(self.sess.post(self.base + path, json=body).json())

    def patch(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return dict(self.sess.patch(self.base + path, json=body).json())


def ensure_project(ks: Keystone, spec: dict[str, Any], ids: dict[str, str]) -> None:
    want = {
        "description": spec.get("description", ""),
        "enabled": spec.get("enabled", True),
        "tags": sorted(spec.get("tags", [])),
    }
    found = ks.get("/projects", name=spec["name"], domain_id="default")["projects"]
    if not found:
        body = {"name": spec["name"], "domain_id": "default", **want}
        if spec.get("parent"):
            body["parent_id"] = ids[spec["parent"]]  # parents are listed before children
        project = ks.post("/projects", {"project": body})["project"]
        LOG.info("created project %s", spec["name"])
    else:
        project = found[0]
        current = {k: project.get(k) for k in want} | {"tags": sorted(project.get("tags", []))}
        if current != want:
            project = ks.patch(f"/projects/{project['id']}", {"project": want})["project"]
            LOG.info("updated project %s", spec["name"])
    ids[spec["name"]] = project["id"]


def ensure_service(ks: Keystone, stype: str, name: str) -> str:
    found = [s for s in ks.get("/services", type=stype)["services"] if s["name"] == name]
    if found:
        return str(found[0]["id"])
    body = {"type": stype, "name": name, "description": f"{name} ({stype})", "enabled": True}
    LOG.info("created service %s/%s", stype, name)
    return str(ks.post("/services", {"service": body})["service"]["id"])


def ensure_endpoint(ks: Keystone, service_id: str, interface: str, region: str, url: str) -> None:
    found = ks.get("/endpoints", service_id=service_id, interface=interface, region_id=region)
    endpoints = found["endpoints"]
    if not endpoints:
        body = {"service_id": service_id, "interface": interface, "region_id": region, "url": url}
        ks.post("/endpoints", {"endpoint": body})
        LOG.info("created %s endpoint %s", interface, url)
    elif endpoints[0]["url"] != url:  # a changed port moves the endpoint instead of adding one
        ks.patch(f"/endpoints/{endpoints[0]['id']}", {"endpoint": {"url": url}})
        LOG.info("moved %s endpoint to %s", interface, url)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--auth-url", required=True)
    p.add_argument("--password-file", required=True, type=Path)
    p.add_argument("--projects", required=True, type=Path)
    p.add_argument("--region", default="RegionOne")
    p.add_argument("--catalog", action="append", default=[], metavar="TYPE=NAME=URL")
    return p.parse_args()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="[keystone-seed] %(message)s")
    args = parse_args()
    ks = Keystone(args.auth_url, args.password_file.read_text().strip())
    ids: dict[str, str] = {}
    for spec in json.loads(args.projects.read_text())["projects"]:
        ensure_project(ks, spec, ids)
    for entry in args.catalog:
        stype, name, url = entry.split("=", 2)
        service_id = ensure_service(ks, stype, name)
        for interface in INTERFACES:
            ensure_endpoint(ks, service_id, interface, args.region, url)
    LOG.info("seeded %d projects and %d catalog services", len(ids), len(args.catalog))


if __name__ == "__main__":
    main()
