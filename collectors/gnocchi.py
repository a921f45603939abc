"""Usage from Gnocchi: hourly aggregates of Ceilometer's meters, one request per meter per window.

`GnocchiCollector(client).collect(window, scope)` returns hourly readings (sample rows, one per
meter, resource and hour) and the resources' revisions for a window of whole hours, of the
projects `scope` asks for; the pipeline turns them into usage (source "gnocchi"). Per window it sends:

- one `POST /v1/search/resource/<type>?history=true` per resource type of the enabled meters
  (instance, volume, image, network), plus a page per 1,000 revisions beyond the first:
  the revisions in force during the window (flavors, volume types, projects over time) and
  each resource's lifetime (`started_at`/`ended_at`);
- one `POST /v1/aggregates` per meter, never one per resource: `groupby` id, original id,
  project and the meter's rating attribute (flavor_name, volume_type), under a project filter
  `use_history=true` so each point is grouped by the attribute in force at its time (see plain
  groupby below), `granularity=3600`, `start` and `stop` always given (use_history answers 500
  without them). Searches are JSON structures.

Both ask up to `stop_grace` past the window's end: use_history leaves out a resource whose first
revision began after `stop`, and Ceilometer creates a resource only when it publishes its first
sample, a little after that sample's time. Points past the window's end are dropped.

The requests run `concurrency` at a time. Nothing grows with the number of resources except
the search pages (and the size of each answer).

Plain groupby (`use_history=False`) sends the same requests without `use_history`, restricted
to resources alive in the span, and takes the flavor / volume type in force at each hour from
the revisions the search returned — which the collector needs anyway for lifetimes and
instance-hour splits. Gnocchi spends markedly less CPU on it (under use_history it fetches
every revision of every resource separately; `benchmarks/bench_gnocchi_collect.py` measures
both), and Gnocchi's CPU is what a collect waits for. Asking for every project, the usage is
the same (the integration tests check both against the generated truth). With a project filter
(`gnocchi.projects`, or a shard) it is not: plain groupby matches a resource by its *current*
project, so a volume transferred out of the filtered projects would lose the hours it spent in
them. Hence the default,
`use_history="auto"` (setting `gnocchi.use_history`): plain groupby when asking for every
project, use_history under a project filter (`gnocchi.projects`, or a shard's scope); `True` /
`False` force one.

What each hourly reading stands for (the pipeline's `transforms.usage.hourly_usage` applies
DESIGN §4 to them, with the revisions as inventory, exactly as it does for Kafka/file samples):

- **gauges** (vcpus, memory, disk.root.size, disk.ephemeral.size, volume.size, snapshot.size,
  backup.size, image.size): the hour's `mean` = the mean reading of the hour, × the fraction of
  the hour the resource existed; attributes from the revision in force at the end of the hour
  (or at the resource's end). Flavor sizes (vcpus, ram_mib, disk_gib) on the revisions come
  from hours the instance spent wholly in one flavor, else from any instance's whole hour in
  that flavor (unknown, NaN, if none).
- **instance-hours**: an hour with a `vcpus` point is the fraction of the hour the instance
  existed, split between the flavors by the revisions' times (a resize at 10:30 gives half an
  hour of each).
- **network bytes** (cumulative, on `instance_network_interface` resources): the hour's `last`
  value; the bytes of hour h are last(h) − the previous hour's last (within
  `usage.cumulative_lookback_hours`), and a drop is a counter reset, counted as the new value
  (DESIGN §4). Coarser than per-sample deltas: a reset inside an hour counts only what came
  after it, and a counter's first hour gives no delta. (Gnocchi's `rate:*` aggregations are
  differences of raw points with no reset handling: a reset would come out negative.)
- **ip.floating** (a status code, on `network` resources): `min(status) == max(status) == 1`
  in the hour, computed by Gnocchi, → an active hour = one IP-hour × lifetime fraction; an hour
  with any other status (down, error) is not billed.

The archive policy must keep 3600 s points with `mean` (gauges), `last` (counters) and `min`
and `max` (ip.floating) — ops/gnocchi's `stackledger-hourly` does; Ceilometer's own policies
(5-minute `mean` only) do not, and the meter then fails with Gnocchi's reason.

A meter or search that fails (after the client's retries) becomes a `Failure`; the others are
still fetched, so the run reports every failing meter, and the pipeline stores nothing of an
incomplete window (`stackledger.pipeline.collect`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final, Literal

import pandas as pd

from stackledger.collectors.base import EVERY_PROJECT, Collected, Failure, History, Scope
from stackledger.collectors.gnocchi_client import GnocchiClient, client_from_settings, iso
from stackledger.collectors.gnocchi_frames import (
    hourly,
    in_force,
    inventory,
    lifetimes,
    points,
    readings,
    sizes,
    whole_by_groups,
    with_sizes,
)
from stackledger.errors import ConfigError, SourceError
from stackledger.schema import METERS, SAMPLE_COLUMNS, UNIT_FACTORS, empty_frame
from stackledger.settings import Settings
from stackledger.window import Window

log = logging.getLogger(__name__)

NAME: Final = "gnocchi"
GRANULARITY: Final = 3600
GROUP_KEYS: Final = ("id", "original_resource_id", "project_id")


@dataclass(frozen=True)
class GnocchiMeter:
    """A Ceilometer meter as Gnocchi keeps it (ceilometer/publisher/data/gnocchi_resources.yaml)."""

    name: str  # the Ceilometer meter = the Gnocchi metric name
    resource_type: str  # the Gnocchi resource type that holds the metric
    attribute: str | None = None  # the rating attribute grouped on, as in force at each point
    size_column: str | None = None  # the inventory column this meter measures (per flavor / type)

    @property
    def kind(self) -> str:
        return METERS[self.name].kind

    def operations(self) -> list[Any]:
        """The aggregates operation as a JSON tree (no string is built from the metric name)."""
        metric = self.name
        if self.kind == "status":  # 1 when every reading of the hour was 1 (active), else 0
            active = ["*", ["==", ["metric", metric, "min"], 1], ["==", ["metric", metric, "max"], 1]]
            return ["aggregate", "min", active]
        method = "last" if self.kind == "cumulative" else "mean"
        return ["aggregate", "mean", ["metric", metric, method]]


METERS_COLLECTED: Final = {
    m.name: m
    for m in (
        GnocchiMeter("vcpus", "instance", "flavor_name", "vcpus"),
        GnocchiMeter("memory", "instance", "flavor_name", "ram_mib"),
        GnocchiMeter("disk.root.size", "instance", "flavor_name", "disk_gib"),
        GnocchiMeter("disk.ephemeral.size", "instance", "flavor_name"),
        GnocchiMeter("volume.size", "volume", "volume_type", "size_gib"),
        GnocchiMeter("snapshot.size", "volume", "volume_type", "size_gib"),
        GnocchiMeter("backup.size", "volume", "volume_type", "size_gib"),
        GnocchiMeter("image.size", "image", None, "size_gib"),
        GnocchiMeter("network.incoming.bytes", "instance_network_interface"),
        GnocchiMeter("network.outgoing.bytes", "instance_network_interface"),
        GnocchiMeter("ip.floating", "network"),
    )
}
# Resource types whose revisions and lifetimes we read (interfaces are not inventory: their
# counters need neither lifetimes nor attributes).
INVENTORY_TYPES: Final = ("instance", "volume", "image", "network")


class GnocchiCollector:
    """Collects a window of usage from Gnocchi (module docstring)."""

    name = NAME

    def __init__(
        self,
        client: GnocchiClient,
        *,
        meters: Sequence[str] | None = None,
        lookback: dt.timedelta = dt.timedelta(hours=24),
        stop_grace: dt.timedelta = dt.timedelta(hours=1),
        concurrency: int = 4,
        use_history: bool | Literal["auto"] = "auto",
    ) -> None:
        unknown = sorted(set(meters or ()) - set(METERS_COLLECTED))
        if unknown:
            valid = ", ".join(METERS_COLLECTED)
            raise ConfigError(f"unknown Gnocchi meters {unknown}; valid: {valid}", key="gnocchi.meters")
        self.client = client
        self.meters = [METERS_COLLECTED[name] for name in (meters or METERS_COLLECTED)]
        self.lookback = lookback
        self.stop_grace = stop_grace
        self.concurrency = concurrency
        self.use_history = use_history

    # ------------------------------------------------------------ the protocol

    def collect(self, window: Window, scope: Scope = EVERY_PROJECT) -> Collected:
        before = self.client.requests_sent
        ask = _Ask(window, scope, self.history(scope))
        types = [t for t in INVENTORY_TYPES if any(m.resource_type == t for m in self.meters)]
        jobs: dict[str, Callable[[], Any]] = {f"resources {t}": _bind(self._revisions, t, ask) for t in types}
        jobs |= {f"meter {m.name}": _bind(self._points, m, ask) for m in self.meters}
        answers, failures = self._run(jobs)
        requests = self.client.requests_sent - before
        if failures:
            log.warning("gnocchi %s: %d of %d requests failed", window.label, len(failures), len(jobs))
            return Collected(failures=failures, requests=requests, resources_partial=True)
        revisions = inventory([row for t in types for row in answers[f"resources {t}"]])
        per_meter = {m.name: self._attributed(answers[f"meter {m.name}"], m, revisions, ask) for m in self.meters}
        resources = with_sizes(revisions, *self._measured_sizes(per_meter))
        known = lifetimes(resources)
        frames = [
            frame
            for m in self.meters
            if len(frame := readings(hourly(per_meter[m.name]), m.name, lifetimes=known, attribute=m.attribute))
        ]
        hourly_readings = pd.concat(frames, ignore_index=True) if frames else empty_frame(SAMPLE_COLUMNS)
        log.info("gnocchi %s: %d hourly readings, %d revisions in %d requests", window.label, len(hourly_readings),
                 len(resources), requests)  # fmt: skip
        return Collected(readings=hourly_readings, resources=resources, requests=requests, resources_partial=True)

    def history(self, scope: Scope) -> bool:
        """Whether to ask with use_history: "auto" asks only under a project filter (module docstring)."""
        if self.use_history == "auto":
            return scope.narrowed
        return self.use_history

    # ------------------------------------------------------------ requests

    def _span(self, window: Window, *, lookback: bool = False) -> tuple[dt.datetime, dt.datetime]:
        start = window.start - self.lookback if lookback else window.start
        return start, window.end + self.stop_grace

    def _groups(self, meter: GnocchiMeter, ask: _Ask) -> list[dict[str, Any]]:
        start, stop = self._span(ask.window, lookback=meter.kind == "cumulative")
        groupby = [*GROUP_KEYS, meter.attribute] if meter.attribute else list(GROUP_KEYS)
        search = _search(ask.scope)
        if not ask.history:  # use_history keeps to revisions in the span; plain groupby must be told
            alive = _alive(start, stop)
            search = {"and": [search, alive]} if search else alive
        return self.client.aggregates(
            resource_type=meter.resource_type, search=search, operations=meter.operations(), groupby=groupby,
            start=start, stop=stop, granularity=GRANULARITY, use_history=ask.history,
        )  # fmt: skip

    def _attributed(self, frame: pd.DataFrame, meter: GnocchiMeter, revisions: pd.DataFrame, ask: _Ask) -> pd.DataFrame:
        """Points with the attribute in force and whether their hour lies wholly in one value."""
        if meter.attribute is None or ask.history:
            return whole_by_groups(frame)
        return in_force(frame, revisions, meter.attribute)

    def _points(self, meter: GnocchiMeter, ask: _Ask) -> pd.DataFrame:
        """The meter's answer as points, parsed in the worker thread while other requests run."""
        return points(self._groups(meter, ask), meter.attribute)

    def _revisions(self, resource_type: str, ask: _Ask) -> list[dict[str, Any]]:
        """Every revision in force during the span (Gnocchi's own use_history filter), plus the
        current revision of every resource alive in it, which knows of a deletion recorded later."""
        start, stop = self._span(ask.window)
        in_span = {"and": [
            {"<": {"revision_start": iso(stop)}},
            {"or": [{">=": {"revision_end": iso(start)}}, {"=": {"revision_end": None}}]},
        ]}  # fmt: skip
        current_alive = {"and": [{"=": {"revision_end": None}}, _alive(start, stop)]}
        query: dict[str, Any] = {"or": [in_span, current_alive]}
        if ask.scope.narrowed:
            query = {"and": [_search(ask.scope), query]}
        return self.client.search_resources(resource_type, query, history=True)

    def _run(self, jobs: dict[str, Callable[[], Any]]) -> tuple[dict[str, Any], list[Failure]]:
        answers: dict[str, Any] = {}
        failures: list[Failure] = []
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="gnocchi") as pool:
            futures = {scope: pool.submit(job) for scope, job in jobs.items()}
            for scope, future in futures.items():
                try:
                    answers[scope] = future.result()
                except SourceError as error:
                    failures.append(Failure(scope, str(error), transient=error.transient))
        return answers, failures

    # ------------------------------------------------------------ sizes

    def _measured_sizes(self, per_meter: dict[str, pd.DataFrame]) -> tuple[dict[str, pd.Series], dict[str, pd.Series]]:
        """Inventory size columns from the meters that measure them (image.size B → GiB): per
        (resource, flavor / volume type), and per flavor for the instance sizes."""
        measured: dict[str, list[pd.Series]] = {}
        flavors: dict[str, pd.Series] = {}
        for meter in self.meters:
            if meter.size_column is None or per_meter[meter.name].empty:
                continue
            found = sizes(per_meter[meter.name])
            if METERS[meter.name].unit == "B":
                found = found * UNIT_FACTORS[("B", "GiB")]
            measured.setdefault(meter.size_column, []).append(found)
            if meter.attribute == "flavor_name":
                flavors[meter.size_column] = sizes(per_meter[meter.name], per="attribute")
        merged = {column: pd.concat(parts) for column, parts in measured.items()}
        return {column: found[~found.index.duplicated(keep="last")] for column, found in merged.items()}, flavors


def from_settings(settings: Settings, history: History | None = None) -> GnocchiCollector:
    """The registry's factory (`stackledger.pipeline.collect.COLLECTORS`). The project filter
    `gnocchi.projects` is the pipeline's to apply (`Scope`); Gnocchi keeps its own history."""
    config = settings.gnocchi
    return GnocchiCollector(
        client_from_settings(config),
        meters=config.meters,
        lookback=dt.timedelta(hours=settings.usage.cumulative_lookback_hours),
        stop_grace=dt.timedelta(minutes=config.stop_grace_minutes),
        concurrency=config.concurrency,
        use_history=config.use_history,
    )


@dataclass(frozen=True)
class _Ask:
    """One collect's question: the window, the projects, and whether Gnocchi applies use_history."""

    window: Window
    scope: Scope
    history: bool


def _search(scope: Scope) -> dict[str, Any]:
    """The scope's projects as a Gnocchi search (a JSON structure); {} for every project."""
    parts: list[dict[str, Any]] = [{"in": {"project_id": list(scope.projects)}}] if scope.projects else []
    if scope.unknown_besides:
        parts.append({"not": {"in": {"project_id": list(scope.unknown_besides)}}})
    return {"or": parts} if len(parts) > 1 else parts[0] if parts else {}


def _alive(start: dt.datetime, stop: dt.datetime) -> dict[str, Any]:
    """Resources whose lifetime overlaps [start, stop)."""
    return {"and": [
        {"<": {"started_at": iso(stop)}},
        {"or": [{"=": {"ended_at": None}}, {">=": {"ended_at": iso(start)}}]},
    ]}  # fmt: skip


def _bind(function: Callable[..., Any], *args: Any) -> Callable[[], Any]:
    return lambda: function(*args)


__all__ = ["GRANULARITY", "METERS_COLLECTED", "NAME", "GnocchiCollector", "GnocchiMeter", "from_settings"]
