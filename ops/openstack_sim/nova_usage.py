"""os-simple-tenant-usage, computed the way nova/api/openstack/compute/simple_tenant_usage.py does.

Instances count when launched before `end` and not terminated before `start`; hours are the
lifetime clipped to [start, end). Quirks kept on purpose, because a collector reconciling against
a real Nova meets them too:
  * every hour is priced at the *current* flavor, and launched_at moves to the last resize, so a
    resized server's earlier hours are missing from usage;
  * from 2.40, `limit` counts instances ordered by (project_id, uuid), so one project can be split
    across pages, each page carrying partial totals for it;
  * `detailed` is on only for the literal `detailed=1`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .app import Call
from .fleet import Fleet, Server
from .paging import after_marker, next_links, parse_limit
from .timeutil import naive_us, parse_usage_ts, utcnow
from .web import ApiError

COLLECTION = "os-simple-tenant-usage"


def index(call: Call) -> dict[str, Any]:
    if not call.token.is_admin:
        raise ApiError(403, "Policy doesn't allow os_compute_api:os-simple-tenant-usage:list to be performed.")
    detailed = call.req.param("detailed") == "1"
    return _respond(call, None, detailed, "tenant_usages", call.link(COLLECTION))


def show(call: Call, tenant_id: str) -> dict[str, Any]:
    if not (call.token.is_admin or call.token.project_id == tenant_id):
        raise ApiError(403, "Policy doesn't allow os_compute_api:os-simple-tenant-usage:show to be performed.")
    return _respond(call, tenant_id, True, "tenant_usage", call.link(COLLECTION, tenant_id))


def _respond(call: Call, tenant_id: str | None, detailed: bool, key: str, collection: str) -> dict[str, Any]:
    start, stop = _window(call)
    paged = call.at_least("2.40")  # before 2.40 limit/marker are ignored: one answer, all servers
    limit = parse_limit(call.req) if paged else None
    marker = call.req.param("marker") if paged else None
    servers = _instances(call.fleet, start, stop, tenant_id, limit, marker)
    summaries = _summaries(call.fleet, servers, start, stop, detailed)
    body: dict[str, Any] = {key: summaries if tenant_id is None else (summaries[0] if summaries else {})}
    if limit is not None:
        links = next_links(call.req, servers, limit, collection, lambda s: s.id)
        if links:
            body[key + "_links"] = links
    return body


def _window(call: Call) -> tuple[datetime, datetime]:
    start, stop = _when(call, "start"), _when(call, "end")
    if not start < stop:
        raise ApiError(400, "Invalid start time. The start time cannot occur after the end time.")
    return start, stop


def _when(call: Call, name: str) -> datetime:
    raw = call.req.param(name)
    if not raw:
        return utcnow()  # upstream defaults both ends to now (then rejects start == end)
    try:
        return parse_usage_ts(raw)
    except ValueError as err:
        raise ApiError(400, f"Invalid datetime string: {err}") from None


def _instances(
    fleet: Fleet, start: datetime, stop: datetime, tenant_id: str | None, limit: int | None, marker: str | None
) -> list[Server]:
    def key(s: Server) -> tuple[str, str]:
        return (s.project_id, s.id)

    active = sorted(
        (
            s
            for s in fleet.servers
            if s.api_launched_at is not None
            and s.api_launched_at < stop
            and (s.terminated_at is None or s.terminated_at > start)
            and (tenant_id is None or s.project_id == tenant_id)
        ),
        key=key,
    )
    page = after_marker(active, fleet.servers, key, marker, lambda s: s.id, descending=False)
    return page if limit is None else page[:limit]


def hours_for(server: Server, start: datetime, stop: datetime) -> float:
    launched = server.api_launched_at
    if launched is None:
        return 0.0
    end = min(stop, server.terminated_at) if server.terminated_at else stop
    return max((end - max(launched, start)).total_seconds(), 0.0) / 3600.0


def _server_usage(fleet: Fleet, server: Server, start: datetime, stop: datetime) -> dict[str, Any]:
    flavor = fleet.flavors[server.current_flavor_id]
    launched = server.api_launched_at
    assert launched is not None
    ended = server.terminated_at
    return {
        "instance_id": server.id,
        "name": server.name,
        "tenant_id": server.project_id,
        "flavor": flavor.name,
        "vcpus": flavor.vcpus,
        "memory_mb": flavor.ram,
        "local_gb": flavor.disk + flavor.ephemeral,
        "hours": hours_for(server, start, stop),
        "started_at": naive_us(launched),
        "ended_at": naive_us(ended),
        "state": "terminated" if ended else server.vm_state,
        "uptime": int(((ended or utcnow()) - launched).total_seconds()),
    }


def _summaries(
    fleet: Fleet, servers: list[Server], start: datetime, stop: datetime, detailed: bool
) -> list[dict[str, Any]]:
    totals: dict[str, dict[str, Any]] = {}  # insertion order = first appearance, like upstream
    for server in servers:
        info = _server_usage(fleet, server, start, stop)
        summary = totals.setdefault(
            server.project_id,
            {
                "tenant_id": server.project_id,
                "total_local_gb_usage": 0.0,
                "total_vcpus_usage": 0.0,
                "total_memory_mb_usage": 0.0,
                "total_hours": 0.0,
                "start": naive_us(start),
                "stop": naive_us(stop),
                **({"server_usages": []} if detailed else {}),
            },
        )
        summary["total_local_gb_usage"] += info["local_gb"] * info["hours"]
        summary["total_vcpus_usage"] += info["vcpus"] * info["hours"]
        summary["total_memory_mb_usage"] += info["memory_mb"] * info["hours"]
        summary["total_hours"] += info["hours"]
        if detailed:
            summary["server_usages"].append(info)
    return list(totals.values())
