"""Where `metric_threshold` points come from: the store's hourly usage, or Gnocchi.

A reader turns one rule and a window [start, stop) into `MetricPoints` (scope key → points).
It never raises for a source that is down or a metric that does not exist: it returns the
reason in `MetricPoints.error`, and the rule's alarms go to insufficient_data, as Aodh does.

Scopes (`group_by`): `resource:<id>`, `project:<id>` or `total`. Per project and in total,
the resources' values at one timestamp are combined by sum (aggregations sum, count, rate:*),
max, min, or mean (any other aggregation).

- `StoreUsageReader`: the usage table's `consumed_quantity` for service == `metric`, summed
  per scope and hour, then aggregated into buckets of `granularity` (a multiple of 3600 s)
  starting at multiples of it since the epoch. Hours with no usage row are not points.
- `GnocchiReader`: one `POST /v1/aggregates` per rule, grouped by id and project_id, with
  start, stop, granularity and the rule's JSON search (plus `projects` as an `in` filter),
  over HTTP with basic auth. Transient failures are retried twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any, Protocol

import pandas as pd
import requests
from sqlalchemy import select
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from alarms.data import MetricPoints
from alarms.rules import MetricThresholdRule
from stackledger.settings import GnocchiSettings
from stackledger.store import Store, tables

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
    def __init__(self, store: Store) -> None:
        self.store = store

    def read(self, rule: MetricThresholdRule, start: dt.datetime, stop: dt.datetime) -> MetricPoints:
        usage = tables.usage.c
        columns = (usage.charge_period_start.label("timestamp"), usage.project_id, usage.resource_id,
                   usage.consumed_quantity.label("value"))  # fmt: skip
        query = select(*columns).where(
            usage.service == rule.metric, usage.charge_period_start >= start, usage.charge_period_start < stop
        )
        if rule.projects:
            query = query.where(usage.project_id.in_(rule.projects))
        frame = self.store.frame(query)
        if frame.empty:
            return MetricPoints({})
        frame["timestamp"] = pd.to_datetime(frame["timestamp"])
        # One value per resource and hour (rows differ by flavor or source), then per scope and hour.
        hourly = frame.groupby(["timestamp", "project_id", "resource_id"], dropna=False)["value"].sum().reset_index()
        per_hour = _scoped(hourly, rule.group_by, "sum")
        seconds = (per_hour["timestamp"] - pd.Timestamp(0)).dt.total_seconds().astype("int64")
        per_hour["timestamp"] = pd.to_datetime((seconds // rule.granularity) * rule.granularity, unit="s")
        buckets = per_hour.groupby(["scope", "timestamp"], sort=True)["value"].agg(rule.aggregation).reset_index()
        return MetricPoints(_points(buckets))


class GnocchiReader:
    def __init__(self, settings: GnocchiSettings, session: requests.Session | None = None) -> None:
        if not settings.url:
            raise ValueError("alarms.gnocchi.url is not set")
        self.settings = settings
        self.session = session or requests.Session()

    def read(self, rule: MetricThresholdRule, start: dt.datetime, stop: dt.datetime) -> MetricPoints:
        try:
            groups = self._fetch(rule, start, stop)
        except _Transient as error:
            return MetricPoints(error=f"gnocchi unavailable: {error}")
        except _Refused as error:
            return MetricPoints(error=f"gnocchi refused the query: {error}")
        rows = [
            {"timestamp": _naive(ts), "project_id": g["group"].get("project_id"), "resource_id": g["group"]["id"],
             "value": value}
            for g in groups for ts, granularity, value in g["measures"]["measures"]["aggregated"]
            if int(granularity) == rule.granularity
        ]  # fmt: skip
        if not rows:
            return MetricPoints({})
        return MetricPoints(_points(_scoped(pd.DataFrame(rows), rule.group_by, rule.aggregation)))

    def _fetch(self, rule: MetricThresholdRule, start: dt.datetime, stop: dt.datetime) -> list[dict[str, Any]]:
        params = [("groupby", "id"), ("groupby", "project_id"), ("granularity", str(rule.granularity)),
                  ("start", _iso(start)), ("stop", _iso(stop))]  # fmt: skip
        body: dict[str, Any] = {
            "resource_type": rule.resource_type,
            # One metric per group (grouped by id): `aggregate mean` of it is the metric itself.
            "operations": ["aggregate", "mean", ["metric", rule.metric, rule.aggregation]],
            "search": _search(rule.search, rule.projects),
        }
        retrying = Retrying(stop=stop_after_attempt(3), wait=wait_exponential(multiplier=0.5, max=5),
                            retry=retry_if_exception_type(_Transient), reraise=True)  # fmt: skip
        for attempt in retrying:
            with attempt:
                return self._post(params, body)
        raise AssertionError("unreachable")  # pragma: no cover

    def _post(self, params: list[tuple[str, str]], body: dict[str, Any]) -> list[dict[str, Any]]:
        settings = self.settings
        password = settings.password.get_secret_value() if settings.password else ""
        try:
            response = self.session.post(
                f"{settings.url}/v1/aggregates", params=params, json=body, auth=(settings.user, password),
                timeout=settings.timeout_s, verify=settings.verify_tls, headers={"Accept": "application/json"},
            )  # fmt: skip
        except requests.RequestException as error:
            raise _Transient(type(error).__name__) from None
        if response.status_code >= 500 or response.status_code in (408, 429):
            raise _Transient(f"HTTP {response.status_code}")
        if response.status_code >= 400:
            raise _Refused(f"HTTP {response.status_code}: {_description(response)}")
        found: list[dict[str, Any]] = response.json()
        return found


class _Transient(Exception):
    pass


class _Refused(Exception):
    pass


def _search(search: dict[str, Any] | None, projects: Iterable[str]) -> dict[str, Any]:
    parts = [search] if search else []
    projects = list(projects)
    if projects:
        parts.append({"in": {"project_id": projects}})
    if not parts:
        return {}
    return parts[0] if len(parts) == 1 else {"and": parts}


def _description(response: requests.Response) -> str:
    try:
        detail = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(detail, dict):
        return str(detail.get("description") or detail.get("title") or detail)[:300]
    return str(detail)[:300]


def _iso(value: dt.datetime) -> str:
    return value.replace(tzinfo=dt.UTC).isoformat()


def _naive(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC).replace(tzinfo=None)
