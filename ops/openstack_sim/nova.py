"""Nova compute API v2.1 (read-only): version discovery, servers, flavors, simple-tenant-usage."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from . import nova_usage
from .app import FALSE, TRUE, Call, Route, ServiceApp
from .fleet import VM_STATES, Fleet, Server
from .microversion import Version, VersionPolicy
from .nova_views import flavor_detail, flavor_summary, server_detail, server_summary
from .paging import after_marker, next_links, parse_limit
from .timeutil import parse_ts
from .web import ApiError, Request, Response

SORT_KEYS = {  # the sort keys a cost collector might use (upstream allows more)
    "created_at": lambda s: s.created,
    "updated_at": lambda s: s.updated,
    "display_name": lambda s: s.name,
    "uuid": lambda s: s.id,
    "launched_at": lambda s: s.api_launched_at or datetime.min,
}


class NovaApp(ServiceApp):
    prefix = "/v2.1"
    collections = frozenset({"servers", "flavors", "os-simple-tenant-usage"})

    def policy(self, fleet: Fleet) -> VersionPolicy:
        return VersionPolicy(
            "compute",
            frozenset({"compute"}),
            "X-OpenStack-Nova-API-Version",
            Version(2, 1),
            Version.parse(fleet.nova_max),
        )

    def routes(self) -> list[Route]:
        return [
            (("servers",), lambda c: self.list_servers(c, detail=False)),
            (("servers", "detail"), lambda c: self.list_servers(c, detail=True)),
            (("servers", "{}"), self.show_server),
            (("flavors",), lambda c: self.list_flavors(c, detail=False)),
            (("flavors", "detail"), lambda c: self.list_flavors(c, detail=True)),
            (("flavors", "{}"), self.show_flavor),
            (("os-simple-tenant-usage",), nova_usage.index),
            (("os-simple-tenant-usage", "{}"), nova_usage.show),
        ]

    def _doc(self, req: Request) -> dict[str, Any]:
        return {
            "id": "v2.1",
            "status": "CURRENT",
            "version": self.state.fleet.nova_max,
            "min_version": "2.1",
            "updated": "2013-07-23T11:33:21Z",
            "links": [
                {"href": f"{req.host_url}/v2.1/", "rel": "self"},
                {"href": "http://docs.openstack.org/", "type": "text/html", "rel": "describedby"},
            ],
            "media-types": [{"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2.1"}],
        }

    def versions(self, req: Request) -> Response:
        legacy = {
            "id": "v2.0",
            "status": "SUPPORTED",
            "version": "",
            "min_version": "",
            "updated": "2011-01-21T11:33:21Z",
            "links": [{"href": f"{req.host_url}/v2/", "rel": "self"}],
        }
        return Response(200, {"versions": [legacy, self._doc(req)]})

    def version(self, req: Request) -> Response:
        return Response(200, {"version": self._doc(req)})

    # -- servers -------------------------------------------------------------------------------
    def list_servers(self, call: Call, detail: bool) -> dict[str, Any]:
        indexed = {s.id: i for i, s in enumerate(call.fleet.servers)}
        key, descending = _sort(call.req)
        ordered = sorted(call.fleet.servers, key=lambda s: (key(s), indexed[s.id]), reverse=descending)
        query = ServerQuery.parse(call)
        chosen = [s for s in ordered if query.wants(s)]
        limit = parse_limit(call.req)
        page = after_marker(
            chosen,
            call.fleet.servers,
            lambda s: (key(s), indexed[s.id]),
            call.req.param("marker"),
            lambda s: s.id,
            descending,
        )[:limit]
        items = [server_detail(call, s, indexed[s.id]) if detail else server_summary(call, s) for s in page]
        body: dict[str, Any] = {"servers": items}
        collection = call.link("servers", "detail") if detail else call.link("servers")
        links = next_links(call.req, page, limit, collection, lambda s: s.id)
        if links:
            body["servers_links"] = links
        return body

    def show_server(self, call: Call, server_id: str) -> dict[str, Any]:
        for index, server in enumerate(call.fleet.servers):
            if server.id == server_id and not server.deleted and _owned(call, server):
                return {"server": server_detail(call, server, index)}
        raise ApiError(404, f"Instance {server_id} could not be found.")

    # -- flavors -------------------------------------------------------------------------------
    def list_flavors(self, call: Call, detail: bool) -> dict[str, Any]:
        # Upstream sorts by flavorid as a string ("10" < "2"), ascending.
        public = _is_public(call)
        live = sorted(
            (f for f in call.fleet.flavors.values() if not f.deleted and (public is None or f.is_public == public)),
            key=lambda f: f.id,
        )
        limit = parse_limit(call.req)
        page = after_marker(
            live,
            list(call.fleet.flavors.values()),
            lambda f: f.id,
            call.req.param("marker"),
            lambda f: f.id,
            descending=False,
        )[:limit]
        view = flavor_detail if detail else flavor_summary
        body: dict[str, Any] = {"flavors": [view(call, f) for f in page]}
        collection = call.link("flavors", "detail") if detail else call.link("flavors")
        links = next_links(call.req, page, limit, collection, lambda f: f.id)
        if links:
            body["flavors_links"] = links
        return body

    def show_flavor(self, call: Call, flavor_id: str) -> dict[str, Any]:
        flavor = call.fleet.flavors.get(flavor_id)
        if flavor is None or flavor.deleted:
            raise ApiError(404, f"Flavor {flavor_id} could not be found.")
        return {"flavor": flavor_detail(call, flavor)}


def _is_public(call: Call) -> bool | None:
    """Nova's _parse_is_public: public only by default; admins may ask for private or, with the
    string "none" (openstacksdk sends is_public=None), for every flavor."""
    raw = call.req.param("is_public")
    if raw is None or not call.token.is_admin:
        return True
    if raw.lower() == "none":
        return None
    if raw.lower() in TRUE | FALSE:
        return raw.lower() in TRUE
    raise ApiError(400, f"Invalid is_public filter [{raw}]")


def _owned(call: Call, server: Server) -> bool:
    return call.token.is_admin or server.project_id == call.token.project_id


def _sort(req: Request) -> tuple[Any, bool]:
    name = req.param("sort_key") or "created_at"
    if name not in SORT_KEYS:
        raise ApiError(400, f"Invalid sort_key {name}; the simulator knows {sorted(SORT_KEYS)}")
    return SORT_KEYS[name], (req.param("sort_dir") or "desc").lower() != "asc"


def all_tenants(req: Request) -> bool:
    """Nova's common.is_all_tenants: present and empty means yes, otherwise a strict boolean."""
    value = req.param("all_tenants")
    if value is None or value == "":
        return value == ""
    if value.lower() in TRUE | FALSE:
        return value.lower() in TRUE
    raise ApiError(400, f"Invalid input received: Unrecognized value '{value}'")


@dataclass(frozen=True)
class ServerQuery:
    """The server-list filters of one request, parsed once (nova/api/openstack/compute/servers.py)."""

    project: str | None  # None: every project
    deleted: bool | None  # None: live and deleted alike
    since: datetime | None
    before: datetime | None
    status: str | None

    @classmethod
    def parse(cls, call: Call) -> ServerQuery:
        req, admin = call.req, call.token.is_admin
        every = all_tenants(req)
        if every and not admin:
            raise ApiError(403, "Policy doesn't allow os_compute_api:servers:index:get_all_tenants to be performed.")
        since, before = _time_param(req, "changes-since"), _time_param(req, "changes-before")
        if since and before and since > before:
            raise ApiError(400, "The value of changes-since must be less than or equal to changes-before.")
        # Without `deleted`, only live servers -- unless changes-since/before asks for history.
        # A non-admin's `deleted` is ignored upstream.
        raw = req.param("deleted") if admin else None
        deleted = (raw.lower() in TRUE) if raw is not None else (None if since or before else False)
        own = call.token.project_id or ""  # a token without a project sees no servers
        project = (req.param("project_id") or req.param("tenant_id")) if every else own
        status = req.param("status")
        return cls(project, deleted, since, before, status.upper() if status else None)

    def wants(self, server: Server) -> bool:
        return (
            (self.project is None or server.project_id == self.project)
            and (self.deleted is None or server.deleted == self.deleted)
            and (self.since is None or server.updated >= self.since)
            and (self.before is None or server.updated <= self.before)
            and (self.status is None or _status(server) == self.status)
        )


def _time_param(req: Request, name: str) -> datetime | None:
    raw = req.param(name)
    if not raw:
        return None
    try:
        return parse_ts(raw)
    except ValueError:
        raise ApiError(400, f"Invalid filter field: {name}.") from None


def _status(server: Server) -> str:
    return VM_STATES["deleted" if server.deleted else server.vm_state][0]
