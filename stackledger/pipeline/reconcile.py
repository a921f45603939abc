"""Reconcile step: our instance-hours and vCPU-hours per project against Nova's own count.

`reconcile_month(settings, month)` reads the month's stored usage (`compute.instance` and
`compute.vcpu` rows of one usage source, `usage.source` unless another is named) and Nova's
os-simple-tenant-usage for the same period (`collectors.nova.tenant_usage`, detailed, every page),
and returns one line per project (and per server) with both figures and their difference.
A month still in progress is compared up to the last whole hour before now.

Nova counts differently from metering in one documented way: a server is counted only from its
latest `launched_at`, which a resize, rebuild or unshelve resets, and every hour at its current
flavor. Our hours of a server before that instant are therefore shown apart, as `excluded`, and
left out of the difference: rows of hours ending at or before it, and in the hour it falls in,
rows of another flavor than Nova's (usage splits a resize hour by flavor). What remains should
equal Nova's figures; `difference = ours − excluded − nova`, and its percent is of Nova's figure.
A server only one side knows counts wholly on that side.

Limits: a vCPU-hours row of an hour with a mid-hour resize mixes both flavors (its mean reading)
and counts as comparable, so such an hour differs by the flavors' share of it; a rebuild or
unshelve mid-hour leaves part of that hour in the difference.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import pandas as pd

from stackledger.collectors.nova import NovaUsage, api_from_settings, tenant_usage
from stackledger.collectors.openstack_api import Api
from stackledger.errors import ConfigError
from stackledger.pipeline.base import store_for
from stackledger.settings import Settings
from stackledger.store import inventory
from stackledger.store import usage as usage_store
from stackledger.window import Window, utcnow

log = logging.getLogger(__name__)

HOURS: Final = "compute.instance"
VCPU_HOURS: Final = "compute.vcpu"
_SERVICES: Final = (HOURS, VCPU_HOURS)
_TOLERANCE: Final = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(%?)\s*$")


@dataclass(frozen=True)
class Tolerance:
    """How far a difference may go: `value` in the figure's own unit, or percent of Nova's figure."""

    value: float
    relative: bool = False

    @classmethod
    def parse(cls, text: str) -> Tolerance:
        """`0.5` (hours / vCPU-hours) or `1%` (of Nova's figure)."""
        match = _TOLERANCE.match(text)
        if match is None:
            raise ConfigError(f"tolerance {text!r} is not a number or a percentage such as 0.5 or 1%",
                              key="--tolerance")  # fmt: skip
        return cls(float(match.group(1)), relative=bool(match.group(2)))

    def exceeded(self, difference: float, reference: float) -> bool:
        limit = self.value * abs(reference) / 100 if self.relative else self.value
        return abs(difference) > limit

    @property
    def label(self) -> str:
        return f"{self.value:g}% of Nova's figure" if self.relative else f"{self.value:g} (hours, vCPU-hours)"


DEFAULT_TOLERANCE: Final = Tolerance(0.01)  # 36 s of one instance: float noise, not a finding


@dataclass(frozen=True)
class Figures:
    """One measure (instance-hours or vCPU-hours) of one project or server, from both sides."""

    ours: float = 0.0
    excluded: float = 0.0  # ours before Nova's latest launched_at of the server (not counted by Nova)
    nova: float = 0.0

    @property
    def difference(self) -> float:
        return self.ours - self.excluded - self.nova

    @property
    def percent(self) -> float | None:
        """The difference in percent of Nova's figure; None when Nova counted nothing."""
        return self.difference / self.nova * 100 if self.nova else None

    def __add__(self, other: Figures) -> Figures:
        return Figures(self.ours + other.ours, self.excluded + other.excluded, self.nova + other.nova)


@dataclass(frozen=True)
class Line:
    project_id: str
    name: str | None  # project name (project lines) or server name (server lines)
    hours: Figures
    vcpu_hours: Figures
    resource_id: str | None = None  # server lines only


@dataclass(frozen=True)
class Reconciliation:
    month: Window
    window: Window  # the month, or its part up to the last whole hour while it is in progress
    source: str  # the usage source compared
    microversion: str | None  # the compute microversion Nova answered at
    tolerance: Tolerance
    projects: list[Line]  # by project name
    servers: list[Line]  # by project, then server name
    requests: int

    @property
    def total(self) -> Line:
        hours, vcpus = Figures(), Figures()
        for line in self.projects:
            hours, vcpus = hours + line.hours, vcpus + line.vcpu_hours
        return Line("", "total", hours, vcpus)

    def outside(self, line: Line) -> bool:
        return any(self.tolerance.exceeded(f.difference, f.nova) for f in (line.hours, line.vcpu_hours))

    @property
    def mismatched(self) -> list[Line]:
        return [line for line in self.projects if self.outside(line)]

    def servers_of(self, project_id: str) -> list[Line]:
        return [line for line in self.servers if line.project_id == project_id]


def reconcile_month(
    settings: Settings,
    month: Window,
    *,
    source: str | None = None,
    tolerance: Tolerance = DEFAULT_TOLERANCE,
    now: dt.datetime | None = None,
    api: Api | None = None,
) -> Reconciliation:
    """Compare a month's stored usage with Nova's os-simple-tenant-usage (module docstring)."""
    window = _until_now(month, now)
    used = source or settings.usage.source
    store = store_for(settings)
    # load: Nova's figures and ours
    nova = tenant_usage(api or api_from_settings(settings), window)
    launched = _launched_inside(nova, window)
    totals = usage_store.usage_totals(store, window, used, _SERVICES)
    hours = usage_store.resource_hours(store, window, used, _SERVICES, sorted(launched))
    names = inventory.resource_names(store, totals["resource_id"].astype(str).tolist())
    project_names = inventory.project_names(store)
    # transform
    servers = _server_lines(totals, _excluded(hours, launched), nova, names)
    projects = _project_lines(servers, nova, project_names)
    result = Reconciliation(month, window, used, nova.microversion, tolerance, projects, servers, nova.requests)
    log.info("reconcile %s: %d projects, %d servers, %d outside tolerance (%s)", window.label, len(projects),
             len(servers), len(result.mismatched), tolerance.label)  # fmt: skip
    return result


def _until_now(month: Window, now: dt.datetime | None) -> Window:
    current = now if now is not None else utcnow()
    hour = current.replace(minute=0, second=0, microsecond=0)
    if hour <= month.start:
        raise ConfigError(f"{month.label} has no whole hour before now to reconcile", key="--month")
    return month if month.end <= hour else Window(month.start, hour)


# ---------------------------------------------------------------- our side


def _launched_inside(nova: NovaUsage, window: Window) -> dict[str, tuple[dt.datetime, str | None]]:
    """Servers whose latest launch (Nova's started_at) falls inside the window → (launch, flavor)."""
    servers = nova.servers
    inside = servers[servers["started_at"].notna() & (servers["started_at"] > pd.Timestamp(window.start))]
    return {
        str(row["resource_id"]): (pd.Timestamp(row["started_at"]).to_pydatetime(), row["flavor_name"])
        for row in _records(inside)
    }


def _excluded(hours: pd.DataFrame, launched: Mapping[str, tuple[dt.datetime, str | None]]) -> pd.DataFrame:
    """resource_id, service, excluded: our quantity before each server's latest launch."""
    if hours.empty:
        return pd.DataFrame(columns=["resource_id", "service", "excluded"])
    launch = pd.to_datetime(hours["resource_id"].map(lambda r: launched[r][0])).astype("datetime64[ns]")
    flavor = hours["resource_id"].map(lambda r: launched[r][1])
    start = pd.to_datetime(hours["charge_period_start"]).astype("datetime64[ns]")
    end = pd.to_datetime(hours["charge_period_end"]).astype("datetime64[ns]")
    named = hours["flavor_name"].fillna("").astype(str)
    before = (end <= launch) | ((start < launch) & (launch < end) & (named != "") & (named != flavor.fillna("")))
    excluded = hours.assign(excluded=hours["consumed_quantity"].astype(float).where(before, 0.0))
    return excluded.groupby(["resource_id", "service"], as_index=False).agg(excluded=("excluded", "sum"))


# ---------------------------------------------------------------- lines


def _server_lines(
    totals: pd.DataFrame, excluded: pd.DataFrame, nova: NovaUsage, names: Mapping[str, str]
) -> list[Line]:
    ours = {(str(r["resource_id"]), str(r["service"])): float(r["quantity"]) for r in _records(totals)}
    owner = {str(r["resource_id"]): str(r["project_id"]) for r in _records(totals)}
    cut = {(str(r["resource_id"]), str(r["service"])): float(r["excluded"]) for r in _records(excluded)}
    theirs = {str(r["resource_id"]): r for r in _records(nova.servers)}
    lines = []
    for resource_id in sorted(set(owner) | set(theirs)):
        nova_row = theirs.get(resource_id, {})

        def figures(service: str, nova_value: float, rid: str = resource_id) -> Figures:
            return Figures(ours.get((rid, service), 0.0), cut.get((rid, service), 0.0), nova_value)

        hours = figures(HOURS, float(nova_row.get("hours", 0.0)))
        vcpus = figures(VCPU_HOURS, float(nova_row.get("vcpu_hours", 0.0)))
        project = str(nova_row["project_id"]) if nova_row else owner[resource_id]
        name = str(nova_row["name"]) if nova_row.get("name") else names.get(resource_id)
        lines.append(Line(project, name, hours, vcpus, resource_id=resource_id))
    lines.sort(key=lambda line: (line.project_id, line.name or "", line.resource_id or ""))
    return lines


def _project_lines(servers: Iterable[Line], nova: NovaUsage, names: Mapping[str, str]) -> list[Line]:
    """Per project: our figures summed over its servers, Nova's from its (summed) project totals."""
    ours: dict[str, tuple[Figures, Figures]] = {}
    for line in servers:
        hours, vcpus = ours.get(line.project_id, (Figures(), Figures()))
        mine_h = Figures(line.hours.ours, line.hours.excluded)
        mine_v = Figures(line.vcpu_hours.ours, line.vcpu_hours.excluded)
        ours[line.project_id] = (hours + mine_h, vcpus + mine_v)
    theirs = {str(r["project_id"]): (float(r["hours"]), float(r["vcpu_hours"])) for r in _records(nova.projects)}
    lines = []
    for project in set(ours) | set(theirs):
        hours, vcpus = ours.get(project, (Figures(), Figures()))
        nova_hours, nova_vcpus = theirs.get(project, (0.0, 0.0))
        on_both = Figures(hours.ours, hours.excluded, nova_hours), Figures(vcpus.ours, vcpus.excluded, nova_vcpus)
        lines.append(Line(project, names.get(project), *on_both))
    lines.sort(key=lambda line: (line.name or "~", line.project_id))
    return lines


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(key): value for key, value in row.items()} for row in frame.to_dict("records")]


__all__ = [
    "DEFAULT_TOLERANCE", "Figures", "Line", "Reconciliation", "Tolerance", "reconcile_month",
]  # fmt: skip
