"""Cinder block-storage API v3 (read-only): discovery, volumes, snapshots, backups, types.

Served both as /v3/... (block-storage endpoint) and /v3/{project_id}/... (the legacy volumev3
endpoint form). Deleted resources are never listed: Cinder has no API for deleted volumes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from . import cinder_views as views
from .app import FALSE, TRUE, Call, Route, ServiceApp
from .fleet import Fleet
from .microversion import Version, VersionPolicy
from .paging import after_marker, next_links, parse_limit
from .web import ApiError, Request, Response

SORT_KEYS = ("created_at", "updated_at", "id", "name", "size")


@dataclass(frozen=True)
class Collection:
    """One listable resource: where it lives in the fleet and how it renders."""

    name: str  # URL segment and response key: "volumes"
    items: Callable[[Fleet], Sequence[Any]]
    summary: Callable[[Call, Any], dict[str, Any]]
    detail: Callable[[Call, Any], dict[str, Any]]


COLLECTIONS = {
    c.name: c
    for c in (
        Collection("volumes", lambda f: f.volumes, views.volume_summary, views.volume_detail),
        Collection("snapshots", lambda f: f.snapshots, views.snapshot_summary, views.snapshot_detail),
        Collection("backups", lambda f: f.backups, views.backup_summary, views.backup_detail),
    )
}
SINGULAR = {"volumes": "volume", "snapshots": "snapshot", "backups": "backup"}


class CinderApp(ServiceApp):
    prefix = "/v3"
    collections = frozenset({*COLLECTIONS, "types"})

    def policy(self, fleet: Fleet) -> VersionPolicy:
        return VersionPolicy(
            "volume", frozenset({"volume", "block-storage"}), None, Version(3, 0), Version.parse(fleet.cinder_max)
        )

    def routes(self) -> list[Route]:
        routes: list[Route] = [(("types",), list_types), (("types", "{}"), show_type)]
        for name, coll in COLLECTIONS.items():
            routes += [
                ((name,), lambda c, coll=coll: list_items(c, coll, detail=False)),
                ((name, "detail"), lambda c, coll=coll: list_items(c, coll, detail=True)),
                ((name, "{}"), lambda c, ident, coll=coll: show_item(c, coll, ident)),
            ]
        return routes

    def _doc(self, req: Request) -> dict[str, Any]:
        return {
            "id": "v3.0",
            "status": "CURRENT",
            "version": self.state.fleet.cinder_max,
            "min_version": "3.0",
            "updated": "2023-08-31T00:00:00Z",
            "links": [
                {"href": "https://docs.openstack.org/", "type": "text/html", "rel": "describedby"},
                {"href": f"{req.host_url}/v3/", "rel": "self"},
            ],
            "media-types": [{"base": "application/json", "type": "application/vnd.openstack.volume+json;version=3"}],
        }

    def versions(self, req: Request) -> Response:
        return Response(300, {"versions": [self._doc(req)]})  # Cinder's root is Multiple Choices

    def version(self, req: Request) -> Response:
        return Response(200, {"versions": [self._doc(req)]})


def _visible(call: Call, items: Sequence[Any]) -> list[Any]:
    """Own project only, unless an admin asks for all_tenants (non-admins' flag is ignored)."""
    raw = call.req.param("all_tenants")
    if raw is not None and raw.lower() not in TRUE | FALSE:
        raise ApiError(400, f"Invalid value '{raw}' for all_tenants")
    every = call.token.is_admin and raw is not None and raw.lower() in TRUE
    project = call.req.param("project_id") if every else call.token.project_id
    return [i for i in items if i.deleted_at is None and (not project or i.project_id == project)]


def _sort(req: Request) -> tuple[Callable[[Any], Any], bool]:
    # Accept both the `sort=key:dir` form and the older sort_key/sort_dir pair.
    key, _, direction = (req.param("sort") or "").partition(":")
    key = key or req.param("sort_key") or "created_at"
    direction = direction or req.param("sort_dir") or "desc"
    if key not in SORT_KEYS or direction not in ("asc", "desc"):
        raise ApiError(400, f"Invalid sort {key}:{direction}; the simulator knows {SORT_KEYS}")
    return (lambda item: (getattr(item, key), item.id)), direction == "desc"


def list_items(call: Call, coll: Collection, detail: bool) -> dict[str, Any]:
    key, descending = _sort(call.req)
    universe = coll.items(call.fleet)
    chosen = sorted(_visible(call, universe), key=key, reverse=descending)
    limit = parse_limit(call.req)
    page = after_marker(chosen, universe, key, call.req.param("marker"), lambda i: i.id, descending)[:limit]
    view = coll.detail if detail else coll.summary
    body: dict[str, Any] = {coll.name: [view(call, item) for item in page]}
    url = call.link(coll.name, "detail") if detail else call.link(coll.name)
    links = next_links(call.req, page, limit, url, lambda i: i.id)
    if links:
        body[coll.name + "_links"] = links
    if call.at_least("3.45") and (call.req.param("with_count") or "").lower() in TRUE:
        body["count"] = len(chosen)
    return body


def show_item(call: Call, coll: Collection, ident: str) -> dict[str, Any]:
    for item in coll.items(call.fleet):
        owned = call.token.is_admin or item.project_id == call.token.project_id
        if item.id == ident and item.deleted_at is None and owned:
            return {SINGULAR[coll.name]: coll.detail(call, item)}
    raise ApiError(404, f"{SINGULAR[coll.name].capitalize()} {ident} could not be found.")


def list_types(call: Call) -> dict[str, Any]:
    types = sorted(call.fleet.volume_types.values(), key=lambda t: t.name)
    shown = [t for t in types if t.is_public or call.token.is_admin]
    return {"volume_types": [views.volume_type(call, t) for t in shown]}


def show_type(call: Call, ident: str) -> dict[str, Any]:
    for vtype in call.fleet.volume_types.values():
        if vtype.id == ident and (vtype.is_public or call.token.is_admin):
            return {"volume_type": views.volume_type(call, vtype)}
    raise ApiError(404, f"Volume type {ident} could not be found.")
