"""Servers from Nova: what ran, with which flavor, from when to when — and Nova's own usage.

`NovaCollector(api, …).collect(window, scope)` returns the instance revisions (RESOURCE_COLUMNS,
source "nova") of every server, of every project, whose lifetime overlaps the window:

- **Servers**: `GET /servers/detail?all_tenants=1` (live) and `…&deleted=True&changes-since=<window
  start>` (deleted since then: only admins see them, and `changes-since` keeps years of deleted
  servers out of every run), page by page. Owner `tenant_id`; times `created`/`updated` (`…Z`) and
  `OS-SRV-USG:launched_at`/`terminated_at` (naive, µs, UTC). The listings are fetched once per
  collector and reused for later windows of the same run.
- **Flavor** (`_flavor`): from 2.47 the server embeds a copy of its flavor (`original_name`, vcpus,
  ram MiB, disk GiB) with no id. Below 2.47 it is `{id}`, looked up in `flavors/detail?is_public=None`
  (private flavors too); a flavor missing there is asked for by id (`flavors/{id}`; real Nova
  answers 404 for deleted flavors), then found in `os-simple-tenant-usage/{tenant}` over the
  server's lifetime, which reports Nova's copy of the flavor by name (its `local_gb` is root +
  ephemeral disk). A server never launched with a deleted flavor stays without one (logged).
- **Lifetime**: `started_at` = `launched_at`; `ended_at` = `terminated_at`. A server never launched
  (ERROR at build) has no `started_at`; its revision runs from `created`.

**Revisions (resizes).** Nova shows only the current flavor, and its `finish_resize` sets
`launched_at` to the resize time (rebuild and unshelve do too); instance actions, which would
give the history, are not read. So the collector keeps the history itself
(`collectors.revisions.revisions`): it reads what "nova" stored before for these servers,
and when the flavor (name, vCPUs, RAM) differs from the latest stored revision, that revision ends
and a new one starts at the new `launched_at` (the resize time; else `updated`). A server first
seen with `launched_at` more than `relaunch_grace` after `created` was relaunched before we ever
saw it: its earlier flavor is gone from the API, so it gets a revision [created, launched_at) with
no flavor (usage then takes the flavor from the samples' metadata) and `started_at` = `created`
(the original launch time is lost too; `created` is a few seconds earlier).
Limits: collect at least as often as flavors change — two resizes between runs look like one, at
the later time, and a resize there and back looks like none; a rebuild or unshelve on first sight
gives a flavorless first revision although the flavor did not change.

**Nova's usage** (`tenant_usage`): `GET /os-simple-tenant-usage?detailed=1&start=…&end=…` with
naive times (Nova rejects zones), page by page from 2.40 (pages split by instance: a project may
come back on several pages with partial totals, which are summed). `stackledger reconcile` compares
it with our usage. Nova counts a server only from its latest `launched_at`, at its current flavor.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import pandas as pd

from stackledger.collectors.base import EVERY_PROJECT, Collected, Failure, History, Scope
from stackledger.collectors.openstack_api import Api, connect, iso_naive, iso_z, naive_utc, negotiate, region_of
from stackledger.collectors.revisions import Observed, lifetime_overlaps, resource_frame, revisions
from stackledger.errors import SourceError
from stackledger.settings import Settings
from stackledger.window import Window, utcnow

log = logging.getLogger(__name__)

NAME: Final = "nova"
EMBEDDED_FLAVOR: Final = "2.47"  # servers carry a flavor copy (original_name, sizes), no id
PAGED_USAGE: Final = "2.40"  # os-simple-tenant-usage takes limit/marker
IDENTITY: Final = ("flavor_name", "vcpus", "ram_mib")  # what makes a new revision (disk may differ by source)
USAGE_PROJECT_COLUMNS: Final = ("project_id", "hours", "vcpu_hours", "ram_mib_hours", "local_gib_hours")
USAGE_SERVER_COLUMNS: Final = (
    "resource_id", "project_id", "name", "flavor_name", "vcpus", "hours", "vcpu_hours", "started_at", "ended_at",
    "state",
)  # fmt: skip


@dataclass(frozen=True)
class Flavor:
    name: str | None
    vcpus: float | None
    ram_mib: float | None
    disk_gib: float | None

    def attributes(self) -> dict[str, Any]:
        return {"flavor_name": self.name, "vcpus": self.vcpus, "ram_mib": self.ram_mib, "disk_gib": self.disk_gib}


NO_FLAVOR: Final = Flavor(None, None, None, None)


class NovaCollector:
    """Instance revisions from Nova (module docstring)."""

    name = NAME

    def __init__(
        self,
        api: Api,
        *,
        region: str | None,
        history: History | None = None,
        relaunch_grace: dt.timedelta = dt.timedelta(hours=1),
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.api = api
        self.region = region
        self.history = history
        self.relaunch_grace = relaunch_grace
        self.clock = clock or utcnow
        self.refresh()

    def refresh(self) -> None:
        """Forget the listings fetched so far: the next window lists the servers again."""
        self._live: list[dict[str, Any]] | None = None
        self._deleted: list[dict[str, Any]] = []
        self._deleted_since: dt.datetime | None = None
        self._flavors: dict[str, Flavor] | None = None
        self._looked_up: dict[str, Flavor] = {}  # server id -> flavor found by id or in usage
        self._shown: dict[str, Flavor | None] = {}  # flavor id -> `flavors/{id}` (None: 404)

    def collect(self, window: Window, scope: Scope = EVERY_PROJECT) -> Collected:
        """Every project's resources: the listings cannot be narrowed by project (the pipeline keeps `scope`'s)."""
        before = self.api.requests
        try:
            servers = [s for s in self._servers(window.start) if _may_overlap(s, window)]
            observed = [self.observe(s, self._flavor(s)) for s in servers]
        except SourceError as error:  # the API failed, or answered something we cannot read
            failure = Failure("servers", str(error), transient=error.transient)
            return Collected(failures=[failure], requests=self.api.requests - before)
        stored = self.history([o.resource_id for o in observed]) if self.history and observed else {}
        rows: list[dict[str, Any]] = []
        for server in observed:
            revs = revisions(server, stored.get(server.resource_id, ()))
            if lifetime_overlaps(revs, window.start, window.end):
                rows.extend(revs)
        rows.sort(key=lambda row: (row["resource_id"], row["valid_from"]))
        frame = resource_frame(rows)
        log.info("nova %s: %d servers, %d revisions (compute %s)", window.label, frame["resource_id"].nunique(),
                 len(frame), self.api.microversion)  # fmt: skip
        return Collected(resources=frame, requests=self.api.requests - before)

    def observe(self, server: Mapping[str, Any], flavor: Flavor) -> Observed:
        """One server as the API shows it, in canonical terms (lifetime and relaunch: module docstring)."""
        created = naive_utc(server.get("created"))
        launched = naive_utc(server.get("OS-SRV-USG:launched_at"))
        terminated = naive_utc(server.get("OS-SRV-USG:terminated_at"))
        updated = naive_utc(server.get("updated"))
        born = created or launched or updated
        if born is None:
            raise SourceError(f"server {server.get('id')} has no created, launched_at or updated time", source=NAME)
        relaunched = launched is not None and launched - born > self.relaunch_grace
        return Observed(
            resource_id=str(server["id"]),
            resource_type="instance",
            project_id=server.get("tenant_id"),
            name=server.get("name"),
            region=self.region,
            attributes=flavor.attributes(),
            identity=IDENTITY,
            started_at=born if relaunched else launched,
            ended_at=terminated,
            first_from=born if relaunched or launched is None else launched,
            unknown_before=launched if relaunched else None,
            changed_at=(launched, updated),
        )

    # ------------------------------------------------------------ listings

    def _servers(self, since: dt.datetime) -> list[dict[str, Any]]:
        if self._live is None:
            self._live = self.api.collect("/servers/detail", "servers", {"all_tenants": "1"})
        if self._deleted_since is None or since < self._deleted_since:
            params = {"all_tenants": "1", "deleted": "True", "changes-since": iso_z(since)}
            self._deleted = self.api.collect("/servers/detail", "servers", params)
            self._deleted_since = since
        merged = {str(s["id"]): s for s in self._live}
        merged.update((str(s["id"]), s) for s in self._deleted)  # deleted between the two listings
        return list(merged.values())

    # ------------------------------------------------------------ flavors

    def _flavor(self, server: Mapping[str, Any]) -> Flavor:
        raw = server.get("flavor") or {}
        if "original_name" in raw or "vcpus" in raw:  # 2.47+: the server's own copy
            return Flavor(raw.get("original_name"), _num(raw.get("vcpus")), _num(raw.get("ram")), _num(raw.get("disk")))
        flavor_id = raw.get("id")
        if flavor_id is None:
            return NO_FLAVOR
        if self._flavors is None:
            listed = self.api.collect("/flavors/detail", "flavors", {"is_public": "None"})
            self._flavors = {str(f["id"]): _listed_flavor(f) for f in listed}
        found = self._flavors.get(str(flavor_id))
        if found is not None:
            return found
        server_id = str(server["id"])
        if server_id not in self._looked_up:
            self._looked_up[server_id] = self._lost_flavor(server, str(flavor_id))
        return self._looked_up[server_id]

    def _lost_flavor(self, server: Mapping[str, Any], flavor_id: str) -> Flavor:
        """A flavor /flavors does not list (deleted): by id, else Nova's usage record of the server."""
        if flavor_id not in self._shown:
            body = self.api.get(f"/flavors/{flavor_id}", missing_ok=True)
            shown = body.get("flavor") if isinstance(body, dict) else None
            self._shown[flavor_id] = _listed_flavor(shown) if isinstance(shown, dict) else None
        if self._shown[flavor_id] is not None:
            return self._shown[flavor_id]  # type: ignore[return-value]
        launched = naive_utc(server.get("OS-SRV-USG:launched_at"))
        if launched is not None:
            start = launched.replace(microsecond=0)
            ended = naive_utc(server.get("OS-SRV-USG:terminated_at")) or self.clock()
            params = {"start": iso_naive(start), "end": iso_naive(max(ended, start) + dt.timedelta(seconds=1))}
            path = f"/os-simple-tenant-usage/{server.get('tenant_id')}"
            for summary in _usage_pages(self.api, path, params, "tenant_usage"):
                for usage in summary.get("server_usages") or []:
                    if usage.get("instance_id") == server["id"]:
                        return Flavor(usage.get("flavor"), _num(usage.get("vcpus")), _num(usage.get("memory_mb")),
                                      _num(usage.get("local_gb")))  # fmt: skip
        log.warning("nova: server %s (%s): flavor %s is deleted and Nova reports no usage of it: flavor unknown",
                    server.get("id"), server.get("name"), flavor_id)  # fmt: skip
        return NO_FLAVOR


def _listed_flavor(raw: Mapping[str, Any]) -> Flavor:
    return Flavor(raw.get("name"), _num(raw.get("vcpus")), _num(raw.get("ram")), _num(raw.get("disk")))


def _num(value: Any) -> float | None:
    return None if value is None or value == "" else float(value)


def _may_overlap(server: Mapping[str, Any], window: Window) -> bool:
    """Cheap pre-filter: the server existed (created, not yet terminated) during some of the window."""
    created = naive_utc(server.get("created")) or naive_utc(server.get("OS-SRV-USG:launched_at"))
    terminated = naive_utc(server.get("OS-SRV-USG:terminated_at"))
    return (created is None or created < window.end) and (terminated is None or terminated > window.start)


# ---------------------------------------------------------------- os-simple-tenant-usage


@dataclass(frozen=True)
class NovaUsage:
    """Nova's os-simple-tenant-usage for a window: totals per project and one row per server."""

    window: Window
    microversion: str | None
    projects: pd.DataFrame  # USAGE_PROJECT_COLUMNS: hours, vCPU-hours, MiB-hours, GiB-hours
    servers: pd.DataFrame  # USAGE_SERVER_COLUMNS; started_at = the server's latest launched_at
    requests: int


def tenant_usage(api: Api, window: Window) -> NovaUsage:
    """Nova's usage of every project in `window` (naive UTC), partial totals of split projects summed."""
    before = api.requests
    params = {"start": iso_naive(window.start), "end": iso_naive(window.end), "detailed": "1"}
    totals: dict[str, dict[str, float]] = {}
    servers: list[dict[str, Any]] = []
    for summary in _usage_pages(api, "/os-simple-tenant-usage", params, "tenant_usages"):
        project = str(summary.get("tenant_id"))
        total = totals.setdefault(project, dict.fromkeys(USAGE_PROJECT_COLUMNS[1:], 0.0))
        total["hours"] += float(summary.get("total_hours") or 0.0)
        total["vcpu_hours"] += float(summary.get("total_vcpus_usage") or 0.0)
        total["ram_mib_hours"] += float(summary.get("total_memory_mb_usage") or 0.0)
        total["local_gib_hours"] += float(summary.get("total_local_gb_usage") or 0.0)
        servers.extend(_server_usage(project, usage) for usage in summary.get("server_usages") or [])
    projects = pd.DataFrame(
        [{"project_id": project, **values} for project, values in totals.items()], columns=list(USAGE_PROJECT_COLUMNS)
    )
    frame = pd.DataFrame(servers, columns=list(USAGE_SERVER_COLUMNS))
    frame["started_at"] = pd.to_datetime(frame["started_at"]).astype("datetime64[ns]")
    frame["ended_at"] = pd.to_datetime(frame["ended_at"]).astype("datetime64[ns]")
    log.info("nova usage %s: %d projects, %d servers", window.label, len(projects), len(frame))
    return NovaUsage(window, api.microversion, projects, frame, api.requests - before)


def _server_usage(project: str, usage: Mapping[str, Any]) -> dict[str, Any]:
    vcpus, hours = _num(usage.get("vcpus")), float(usage.get("hours") or 0.0)
    return {
        "resource_id": str(usage.get("instance_id")),
        "project_id": str(usage.get("tenant_id") or project),
        "name": usage.get("name"),
        "flavor_name": usage.get("flavor"),
        "vcpus": vcpus,
        "hours": hours,
        "vcpu_hours": (vcpus or 0.0) * hours,
        "started_at": naive_utc(usage.get("started_at")),
        "ended_at": naive_utc(usage.get("ended_at")),
        "state": usage.get("state"),
    }


def _usage_pages(api: Api, path: str, params: Mapping[str, str], key: str) -> Iterable[dict[str, Any]]:
    """Every (partial) tenant summary, following `<key>_links` from 2.40 (no paging before)."""
    for page in api.pages(path, key, params, paged=api.at_least(PAGED_USAGE)):
        yield from page


# ---------------------------------------------------------------- factories (the edge)


def api_from_settings(settings: Settings) -> Api:
    """The compute API of `openstack.cloud` at the negotiated microversion."""
    config = settings.openstack
    conn = connect(config)
    version = negotiate(conn.compute, config.nova_microversion, key="openstack.nova_microversion")
    return Api(conn.compute, microversion=version, page_size=config.page_size, retries=config.retries,
               backoff_s=config.backoff_s)  # fmt: skip


def from_settings(settings: Settings, history: History) -> NovaCollector:
    """The registry's factory (`stackledger.pipeline.collect.COLLECTORS`); `history` is what
    "nova" stored before (the pipeline reads it from the store)."""
    config = settings.openstack
    api = api_from_settings(settings)
    return NovaCollector(
        api,
        region=region_of(api.proxy, config, settings.usage.region),
        history=history,
        relaunch_grace=dt.timedelta(minutes=config.relaunch_grace_minutes),
    )


__all__ = [
    "EMBEDDED_FLAVOR", "NAME", "Flavor", "NovaCollector", "NovaUsage", "api_from_settings", "from_settings",
    "tenant_usage",
]  # fmt: skip
