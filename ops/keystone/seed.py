"""Seed the test Keystone: projects with tags, the catalog entries for Nova, Cinder, Gnocchi and
StackLedger's own API (type `rating`), and the users, groups and role assignments `stackledger
serve` is tested with (access.json).

Runs in Keystone's own venv (keystoneauth1 comes with keystone). Every step looks before it writes,
so re-running after a restart or a port change converges instead of duplicating rows.
Usage: seed.py --auth-url URL --password-file FILE --projects projects.json --region R \
               --catalog TYPE=NAME=URL [--catalog ...] \
               [--access access.json --user-passwords FILE --user-clouds FILE]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
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

    def put(self, path: str) -> None:
        self.sess.put(self.base + path)

    def first(self, path: str, key: str, **params: str) -> dict[str, Any] | None:
        found = self.get(path, **params)[key]
        return dict(found[0]) if found else None


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


def ensure_named(ks: Keystone, kind: str, spec: dict[str, Any], extra: dict[str, Any]) -> str:
    """A project or group named `spec["name"]` in the default domain (created when missing)."""
    plural = f"{kind}s"
    found = ks.first(f"/{plural}", plural, name=spec["name"], domain_id="default")
    if found is not None:
        return str(found["id"])
    body = {"name": spec["name"], "domain_id": "default", "description": spec.get("description", ""), **extra}
    LOG.info("created %s %s", kind, spec["name"])
    return str(ks.post(f"/{plural}", {kind: body})[kind]["id"])


def ensure_user(ks: Keystone, spec: dict[str, Any], password: str, projects: dict[str, str]) -> str:
    """The user with this password (set again on every run: the password file is the truth)."""
    want: dict[str, Any] = {"description": spec.get("description", ""), "enabled": True, "password": password}
    if spec.get("default_project"):
        want["default_project_id"] = projects[spec["default_project"]]
    found = ks.first("/users", "users", name=spec["name"], domain_id="default")
    if found is None:
        LOG.info("created user %s", spec["name"])
        return str(ks.post("/users", {"user": {"name": spec["name"], "domain_id": "default", **want}})["user"]["id"])
    ks.patch(f"/users/{found['id']}", {"user": want})
    return str(found["id"])


def seed_access(ks: Keystone, spec: dict[str, Any], passwords: dict[str, str], projects: dict[str, str]) -> None:
    """Service projects, groups, users with their passwords, group memberships and role assignments."""
    for project in spec.get("service_projects", []):
        projects[project["name"]] = ensure_named(ks, "project", project, {"enabled": True})
    for user in spec["users"]:  # projects seeded elsewhere, e.g. bootstrap's admin
        for name in [*user.get("project_roles", {}), *([user["default_project"]] if "default_project" in user else [])]:
            if name not in projects:
                projects[name] = ensure_named(ks, "project", {"name": name}, {"enabled": True})
    groups = {group["name"]: ensure_named(ks, "group", group, {}) for group in spec.get("groups", [])}
    roles = {role["name"]: role["id"] for role in ks.get("/roles")["roles"]}
    for user in spec["users"]:
        name = user["name"]
        passwords.setdefault(name, secrets.token_urlsafe(18))
        user_id = ensure_user(ks, user, passwords[name], projects)
        for group in user.get("groups", []):
            ks.put(f"/groups/{groups[group]}/users/{user_id}")
        for project, names in user.get("project_roles", {}).items():
            for role in names:
                ks.put(f"/projects/{projects[project]}/users/{user_id}/roles/{roles[role]}")
        for role in user.get("system_roles", []):
            ks.put(f"/system/users/{user_id}/roles/{roles[role]}")


def user_clouds(auth_url: str, region: str, spec: dict[str, Any], passwords: dict[str, str]) -> dict[str, Any]:
    """One clouds.yaml entry per seeded user, `stackledger-<user>`: scoped to its default project,
    to the system for a user with system roles (the service user), else unscoped."""
    clouds: dict[str, Any] = {}
    for user in spec["users"]:
        auth: dict[str, Any] = {
            "auth_url": auth_url,
            "username": user["name"],
            "password": passwords[user["name"]],
            "user_domain_name": "Default",
        }
        if user.get("default_project"):
            auth |= {"project_name": user["default_project"], "project_domain_name": "Default"}
        elif user.get("system_roles"):
            auth["system_scope"] = "all"
        clouds[f"stackledger-{user['name']}"] = {
            "auth": auth,
            "region_name": region,
            "identity_api_version": 3,
            "interface": "public",
        }
    return {"clouds": clouds}


def write_private(path: Path, document: dict[str, Any]) -> None:
    """JSON (valid YAML too) readable by the owner only: it holds passwords."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(document, handle, indent=2, sort_keys=True)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--auth-url", required=True)
    p.add_argument("--password-file", required=True, type=Path)
    p.add_argument("--projects", required=True, type=Path)
    p.add_argument("--region", default="RegionOne")
    p.add_argument("--catalog", action="append", default=[], metavar="TYPE=NAME=URL")
    p.add_argument("--access", type=Path, help="users, groups and role assignments (access.json)")
    p.add_argument("--user-passwords", type=Path, help="the seeded users' passwords (JSON, kept between runs)")
    p.add_argument("--user-clouds", type=Path, help="where to write a clouds.yaml with one entry per seeded user")
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
    if args.access:
        spec = json.loads(args.access.read_text())
        stored = args.user_passwords
        passwords = json.loads(stored.read_text()) if stored and stored.exists() else {}
        seed_access(ks, spec, passwords, ids)
        if stored:
            write_private(stored, passwords)
        if args.user_clouds:
            write_private(args.user_clouds, user_clouds(args.auth_url, args.region, spec, passwords))
        LOG.info("seeded %d users", len(spec["users"]))
    LOG.info("seeded %d projects and %d catalog services", len(ids), len(args.catalog))


if __name__ == "__main__":
    main()
