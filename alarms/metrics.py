"""Where `metric_threshold` points come from: the store's hourly usage, or Gnocchi.

A reader turns one rule and a window [start, stop) into `MetricPoints` (scope key → points).
It never raises for a source that is down or a metric that does not exist: it returns the
reason in `MetricPoints.error`, and the rule's alarms go to insufficient_data, as Aodh does.

Scopes (`group_by`): `resource:<id>`, `project:<id>` or `total`. Per project and in total,
the resources' values at one timestamp are combined by sum (aggregations sum, count, rate:*),
max, min, or mean (any other aggregation).

- `StoreUsageReader`: the usage table's `consumed_quantity` for service == `metric`
  (`stackledger.store.alarms.usage_points`; `hourly_points` is the pure rest), of the
  one usage source rating reads (`usage.source`: the same hours from Gnocchi and from samples
  are two descriptions of the cloud, never added up), summed per scope and hour, then
  aggregated into buckets of `granularity` (a multiple of 3600 s) starting at multiples of it
  since the epoch. Hours with no usage row are not points.
- `GnocchiReader`: one `/v1/aggregates` request per rule through the collector's client
  (`collectors.gnocchi_client`, settings `gnocchi`: basic or Keystone auth, retries), grouped
  by id and project_id, with start, stop, granularity and the rule's JSON search (plus
  `projects` as an `in` filter). A metric no resource has is no points (Aodh: insufficient data).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import pandas as pd

from stackledger.alarms.data import MetricPoints
from stackledger.alarms.rules import MetricThresholdRule
from stackledger.errors import StackLedgerError
from stackledger.store import Store
from stackledger.store.alarms import usage_points

_SUMMED = ("sum", "count")


class MetricReader(Protocol):
    def read(self, rule: MetricThresholdRule, start: dt.datetime, stop: dt.datetime) -> MetricPoints: ...


def combine_function(aggregation: str) -> str:
    """How values of several resources at one timestamp become a project's or the total's."""
    if aggregation in _SUMMED or aggregation.startswith("rate:"):
        return "sum"
    return aggregation if aggregation in ("max", "min") else "mean"


def _scoped(frame: pd.DataFrame, group_by: str, aggregation: str) -> pd.DataFrame:
    """frame: timestamp, project_id, resource_id, value (one row per resource and timestamp) →
    scope, timestamp, value."""
    if group_by == "resource":
        scope = "resource:" + frame["resource_id"].astype(str)
    elif group_by == "project":
        scope = "project:" + frame["project_id"].fillna("").astype(str)
    else:
        scope = pd.Series("total", index=frame.index)
    grouped = frame.assign(scope=scope).groupby(["scope", "timestamp"], sort=True)["value"]
    return grouped.agg(combine_function(aggregation)).reset_index()


def _points(frame: pd.DataFrame) -> dict[str, list[tuple[dt.datetime, float]]]:
    series: dict[str, list[tuple[dt.datetime, float]]] = {}
    for scope, part in frame.groupby("scope", sort=True):
        times = pd.to_datetime(part["timestamp"]).dt.to_pydatetime()
        series[str(scope)] = list(zip(times, part["value"].astype(float), strict=True))
    return series


class StoreUsageReader:
    """Usage rows of `source` (settings `usage.source`), as rating reads them."""

    def __init__(self, store: Store, source: str) -> None:
        self.store = store
        self.source = source

    def read(self, rule: MetricThresholdRule, start: dt.datetime, stop: dt.datetime) -> MetricPoints:
        frame = usage_points(self.store, source=self.source, service=rule.metric, start=start, stop=stop,
                             project_ids=rule.projects)  # fmt: skip
        return hourly_points(frame, rule)


def hourly_points(frame: pd.DataFrame, rule: MetricThresholdRule) -> MetricPoints:
    """Usage rows (timestamp, project_id, resource_id, value; one per resource, hour and flavor)
    → the rule's points: summed per resource and hour, combined per scope, then aggregated into
    buckets of `rule.granularity`."""
    if frame.empty:
        return MetricPoints({})
    # One value per resource and hour (rows differ by flavor), then per scope and hour.
    hourly = frame.groupby(["timestamp", "project_id", "resource_id"], dropna=False)["value"].sum().reset_index()
    per_hour = _scoped(hourly, rule.group_by, "sum")
    seconds = (per_hour["timestamp"] - pd.Timestamp(0)).dt.total_seconds().astype("int64")
    per_hour["timestamp"] = pd.to_datetime((seconds // rule.granularity) * rule.granularity, unit="s")
    buckets = per_hour.groupby(["scope", "timestamp"], sort=True)["value"].agg(rule.aggregation).reset_index()
    return MetricPoints(_points(buckets))


class AggregatesClient(Protocol):
    """The seam to Gnocchi: `collectors.gnocchi_client.GnocchiClient` (the collector's client,
    with its auth, retries and 'no such metric → []'), injected by `stackledger.pipeline.alarms`."""

    def aggregates(
        self, *, resource_type: str, search: dict[str, Any], operations: list[Any], groupby: Sequence[str],
        start: dt.datetime, stop: dt.datetime, granularity: int = 3600,
    ) -> list[dict[str, Any]]: ...  # fmt: skip


class GnocchiReader:
    """`stop_grace`: how far past `stop` to ask. The client always uses use_history, which leaves
    out resources whose first revision began after `stop` — and Ceilometer creates a resource a
    little after its first sample. Points at or after `stop` are dropped (the collector does the same)."""

    def __init__(self, client: AggregatesClient, *, stop_grace: dt.timedelta = dt.timedelta(hours=1)) -> None:
        self.client = client
        self.stop_grace = stop_grace

    def read(self, rule: MetricThresholdRule, start: dt.datetime, stop: dt.datetime) -> MetricPoints:
        try:
            groups = self.client.aggregates(
                resource_type=rule.resource_type, search=_search(rule.search, rule.projects),
                # One metric per group (grouped by id): `aggregate mean` of it is the metric itself.
                operations=["aggregate", "mean", ["metric", rule.metric, rule.aggregation]],
                groupby=["id", "project_id"], start=start, stop=stop + self.stop_grace, granularity=rule.granularity,
            )  # fmt: skip
        except StackLedgerError as error:  # the client's SourceError / TransientSourceError, already retried
            return MetricPoints(error=str(error))
        rows = [
            {"timestamp": _naive(ts), "project_id": g["group"].get("project_id"), "resource_id": g["group"]["id"],
             "value": value}
            for g in groups for ts, granularity, value in g["measures"]["measures"]["aggregated"]
            if int(granularity) == rule.granularity and _naive(ts) < stop
        ]  # fmt: skip
        if not rows:
            return MetricPoints({})
        # With use_history a resource whose attributes changed is one group per revision: its points
        # are merged per timestamp like several resources' are.
        return MetricPoints(_points(_scoped(pd.DataFrame(rows), rule.group_by, rule.aggregation)))


def _search(search: dict[str, Any] | None, projects: Iterable[str]) -> dict[str, Any]:
    parts = [search] if search else []
    projects = list(projects)
    if projects:
        parts.append({"in": {"project_id": projects}})
    if not parts:
        return {}
    return parts[0] if len(parts) == 1 else {"and": parts}


def _naive(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC).replace(tzinfo=None)
