"""Gnocchi answers → frames. Pure: no I/O, no clock (`collectors.gnocchi` does the fetching).

Three steps, each a function:

- `points(groups, attribute)`: a grouped `/v1/aggregates` answer as one row per group and point.
- `hourly(points)`: one value per resource and hour. With `use_history`, Gnocchi gives an hour
  that straddles a revision to each revision's group *pro rata* (value × the share of the hour
  the revision covers), so the groups' parts add up to the hour's value: we add them up. The
  project and attribute kept are those of the group with the largest share.
- `readings(hourly, meter, ...)`: the hours as Ceilometer-like readings (SAMPLE_COLUMNS), so
  `transforms.usage.hourly_usage` applies DESIGN §4 to Gnocchi data exactly as it does to
  Kafka/file samples — see `collectors.gnocchi` for what each reading stands for.

`inventory(rows, sizes)` turns a resource history search into RESOURCE_COLUMNS rows, one per
Gnocchi revision (valid_from = revision_start), with the resource's lifetime on every row.
Times are naive UTC `datetime64[ns]`, as everywhere in StackLedger.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

import numpy as np
import pandas as pd

from stackledger.schema import FLOATING_IP_ACTIVE, METERS, RESOURCE_COLUMNS, SAMPLE_COLUMNS, empty_frame

HOUR: Final = pd.Timedelta(hours=1)
LAST_SECOND: Final = pd.Timedelta(seconds=1)  # readings sit in an hour's last second (see `readings`)
FLOATING_IP_DOWN: Final = 3.0  # Neutron's "down" status code, for an hour that was not active throughout
POINT_COLUMNS: Final = ("resource_id", "project_id", "attribute", "ts", "value")


def to_naive_utc(values: Iterable[Any]) -> pd.Series:
    """ISO 8601 strings (any offset) or None → naive UTC datetime64[ns] (NaT for None)."""
    parsed = pd.to_datetime(pd.Series(list(values), dtype=object), utc=True, format="ISO8601")
    return parsed.dt.tz_convert(None).astype("datetime64[ns]")


def points(groups: list[dict[str, Any]], attribute: str | None) -> pd.DataFrame:
    """One row per (group, point): resource_id (the original id), project_id, the `attribute`
    in force (None when not grouped on), ts (hour start), value."""
    rids: list[Any] = []
    projects: list[Any] = []
    attrs: list[Any] = []
    stamps: list[Any] = []
    values: list[float] = []
    for group in groups:
        key = group["group"]
        aggregated = group["measures"]["measures"]["aggregated"]
        count = len(aggregated)
        rids += [key.get("original_resource_id") or key["id"]] * count
        projects += [key.get("project_id")] * count
        attrs += [key.get(attribute) if attribute else None] * count
        for stamp, _granularity, value in aggregated:
            stamps.append(stamp)
            values.append(value)
    frame = pd.DataFrame(
        {"resource_id": pd.Series(rids, dtype=object), "project_id": pd.Series(projects, dtype=object),
         "attribute": pd.Series(attrs, dtype=object), "ts": to_naive_utc(stamps),
         "value": pd.Series(values, dtype="float64")}
    )  # fmt: skip
    return frame[frame["value"].notna()].reset_index(drop=True)


def hourly(frame: pd.DataFrame) -> pd.DataFrame:
    """The groups of one resource and hour added up (module docstring). Adds `groups`: how many
    groups shared the hour (1: the hour lies wholly inside one group's revisions)."""
    if frame.empty:
        return frame.assign(groups=pd.Series(dtype="int64"))
    ranked = frame.sort_values(["resource_id", "ts", "value"], ascending=[True, True, False], kind="stable")
    top = ranked.drop_duplicates(["resource_id", "ts"], keep="first").set_index(["resource_id", "ts"])
    totals = ranked.groupby(["resource_id", "ts"], sort=False)["value"].agg(["sum", "size"])
    out = top.assign(value=totals["sum"], groups=totals["size"]).reset_index()
    return out[[*POINT_COLUMNS, "groups"]]


def whole_by_groups(frame: pd.DataFrame) -> pd.DataFrame:
    """With use_history: an hour lies wholly inside one attribute value when it has one group."""
    return frame.assign(whole=frame.groupby(["resource_id", "ts"])["value"].transform("size").to_numpy() == 1)


def in_force(frame: pd.DataFrame, resources: pd.DataFrame, column: str) -> pd.DataFrame:
    """Without use_history (points grouped by the *current* attribute): set each point's
    `attribute` to the value of `column` in force at the end of its hour, from the revisions,
    and `whole` to whether no revision changed that value inside the hour. Points of resources
    the revisions do not know keep their group's attribute."""
    if frame.empty:
        return frame.assign(whole=pd.Series(dtype=bool))
    revisions = resources[["resource_id", "valid_from", column]].sort_values(["resource_id", "valid_from"])
    previous = revisions.groupby("resource_id")[column].shift()
    first = ~revisions["resource_id"].duplicated()
    changed = revisions[~first & (revisions[column].fillna("") != previous.fillna(""))]
    codes = pd.Index(pd.unique(revisions["resource_id"].to_numpy(dtype=object)))
    code = codes.get_indexer(frame["resource_id"].to_numpy(dtype=object))
    known = code >= 0
    start = frame["ts"].to_numpy(dtype="datetime64[ns]").view(np.int64)
    # A change strictly inside (ts, ts + 1h) mixes the hour; one at ts itself does not.
    changes = changed["valid_from"].to_numpy(dtype="datetime64[ns]").view(np.int64)
    keys = _keyed(codes.get_indexer(changed["resource_id"].to_numpy(dtype=object)), changes)
    low = np.searchsorted(keys, _keyed(code, start), side="right")
    high = np.searchsorted(keys, _keyed(code, start + HOUR.value), side="left")
    ends = pd.DataFrame(
        {
            "t": start + HOUR.value - 1,
            "row": np.arange(len(frame)),
            "resource_id": pd.Series(frame["resource_id"].to_numpy(dtype=object), dtype=object),
        }
    )
    starts = revisions.assign(
        t=revisions["valid_from"].to_numpy(dtype="datetime64[ns]").view(np.int64),
        resource_id=revisions["resource_id"].astype(object),
    )
    at_end = pd.merge_asof(ends.sort_values("t"), starts.sort_values("t"), on="t", by="resource_id",
                           direction="backward").sort_values("row")  # fmt: skip
    # Before its first revision a resource has its first revision's value (as transforms.usage reads it).
    firsts = revisions[first].set_index("resource_id")[column]
    value = at_end[column].to_numpy(dtype=object).copy()
    before = pd.isna(at_end["valid_from"]).to_numpy() & known
    value[before] = firsts.reindex(at_end["resource_id"].to_numpy(dtype=object)[before]).to_numpy(dtype=object)
    attribute = np.where(known, value, frame["attribute"].to_numpy(dtype=object))
    return frame.assign(attribute=attribute, whole=~known | (high <= low))


def _keyed(code: np.ndarray, ns: np.ndarray) -> np.ndarray:
    """(resource code, instant in ns since 1970) as one sortable int64: the code above 34 bits
    of seconds (enough until 2514)."""
    return (np.asarray(code, dtype=np.int64) << 34) | (np.asarray(ns, dtype=np.int64) // 1_000_000_000)


def sizes(frame: pd.DataFrame, *, per: str = "resource") -> pd.Series:
    """The latest value among the hours a resource spent wholly in one attribute value (`whole`,
    from `whole_by_groups` or `in_force`) — a flavor's vCPUs or MiB, a volume's GiB — unmixed by a
    resize or retype. Indexed by (resource_id, attribute), or with `per="attribute"` by
    attribute alone (a flavor's size, whichever instance showed it: for a flavor an instance
    never kept for a whole hour)."""
    whole = frame[frame["whole"].to_numpy(dtype=bool)].sort_values("ts", kind="stable")
    if per == "attribute":
        latest = whole.drop_duplicates("attribute", keep="last")
        return pd.Series(latest["value"].to_numpy(dtype=float), index=latest["attribute"].to_numpy(dtype=object))
    latest = whole.drop_duplicates(["resource_id", "attribute"], keep="last")
    index = pd.MultiIndex.from_arrays(
        [latest["resource_id"].to_numpy(dtype=object), latest["attribute"].to_numpy(dtype=object)]
    )
    return pd.Series(latest["value"].to_numpy(dtype=float), index=index, dtype="float64")


def readings(hours: pd.DataFrame, meter: str, *, lifetimes: pd.DataFrame, attribute: str | None) -> pd.DataFrame:
    """Hourly values as SAMPLE_COLUMNS readings of `meter`, one per resource and hour.

    Each reading sits in its hour's last second — or the last second before the resource ended,
    when it ended inside the hour — so the inventory revision in force then gives the row its
    attributes. Counters are rounded to whole units (bytes): the groups' pro-rata parts add up
    to the hourly last value only to within float rounding, and a reading a hair below the one
    before would look like a counter reset. A floating IP's hour is 1 (active) when every
    reading in it was active, else 3 (down). Resources the inventory knows take their project
    from it (the one in force at the reading); the others keep the group's, and carry the
    group's attribute in their metadata so the usage transform can still read it.
    """
    if hours.empty:
        return empty_frame(SAMPLE_COLUMNS)
    known = METERS[meter]
    rids = hours["resource_id"].to_numpy(dtype=object)
    start = hours["ts"].to_numpy(dtype="datetime64[ns]")
    end = start + HOUR.to_timedelta64()
    if known.kind != "cumulative":
        ended = lifetimes["ended_at"].reindex(rids).to_numpy(dtype="datetime64[ns]")
        inside = ~np.isnat(ended) & (ended > start) & (ended < end)
        end = np.where(inside, ended, end)
    value = hours["value"].to_numpy(dtype=float)
    if known.kind == "cumulative":
        value = np.rint(value)
    elif known.kind == "status":
        value = np.where(value > 0.5, FLOATING_IP_ACTIVE, FLOATING_IP_DOWN)
    in_inventory = pd.Index(lifetimes.index).get_indexer(rids) >= 0
    project = hours["project_id"].to_numpy(dtype=object).copy()
    project[in_inventory] = None
    metadata = np.full(len(hours), None, dtype=object)
    if attribute:
        attributes = hours["attribute"].to_numpy(dtype=object)
        for row in np.flatnonzero(~in_inventory):
            metadata[row] = {attribute: attributes[row]}
    return pd.DataFrame(
        {
            "message_id": "",
            "meter": meter,
            "type": "gauge" if known.kind == "status" else known.kind,
            "unit": known.unit,
            "volume": value,
            "project_id": pd.Series(project, dtype=object),
            "user_id": None,
            "resource_id": pd.Series(rids, dtype=object),
            "timestamp": pd.Series(end - LAST_SECOND.to_timedelta64(), dtype="datetime64[ns]"),
            "metadata": pd.Series(metadata, dtype=object),
            "source": "gnocchi",
        }
    )[list(SAMPLE_COLUMNS)]


# ---------------------------------------------------------------- inventory

_VOLUME_KINDS: Final = (("snapshot.size", "snapshot"), ("backup.size", "backup"))


def canonical_type(gnocchi_type: str, metrics: Mapping[str, Any]) -> str | None:
    """Our resource_type for a Gnocchi resource, None for those we do not inventory.

    Ceilometer keeps volumes, snapshots and backups all as Gnocchi `volume` resources and
    floating IPs as `network` resources; the metrics they carry tell them apart."""
    if gnocchi_type == "volume":
        return next((kind for metric, kind in _VOLUME_KINDS if metric in metrics), "volume")
    if gnocchi_type == "network":
        return "floating_ip" if "ip.floating" in metrics else None
    return gnocchi_type if gnocchi_type in ("instance", "image") else None


def inventory(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Resource history search results → RESOURCE_COLUMNS, one row per revision (sizes unknown:
    `with_sizes` fills them)."""
    kept = [(row, kind) for row in rows if (kind := canonical_type(row.get("type", ""), row.get("metrics") or {}))]
    if not kept:
        return empty_frame(RESOURCE_COLUMNS)
    frame = pd.DataFrame(
        {
            "resource_id": [row.get("original_resource_id") or row["id"] for row, _ in kept],
            "resource_type": [kind for _, kind in kept],
            "project_id": [row.get("project_id") for row, _ in kept],
            "name": [row.get("display_name") or row.get("name") for row, _ in kept],
            "region": None,
            "flavor_name": [row.get("flavor_name") if kind == "instance" else None for row, kind in kept],
            "volume_type": [row.get("volume_type") for row, _ in kept],
            "started_at": to_naive_utc(row.get("started_at") for row, _ in kept),
            "ended_at": to_naive_utc(row.get("ended_at") for row, _ in kept),
            "valid_from": to_naive_utc(row.get("revision_start") for row, _ in kept),
            "valid_to": to_naive_utc(row.get("revision_end") for row, _ in kept),
        },
        dtype=object,
    )
    for column in ("started_at", "ended_at", "valid_from", "valid_to"):
        frame[column] = frame[column].astype("datetime64[ns]")
    frame = frame.sort_values(["resource_id", "valid_from"], kind="stable").drop_duplicates(
        ["resource_id", "valid_from"], keep="last"
    )
    # One lifetime per resource: the earliest start; the end the latest revision knows of.
    by_resource = frame.groupby("resource_id", sort=False)
    frame["started_at"] = by_resource["started_at"].transform("min")
    frame["ended_at"] = by_resource["ended_at"].transform("last")
    for column in ("vcpus", "ram_mib", "disk_gib", "size_gib"):
        frame[column] = np.nan
    return frame[list(RESOURCE_COLUMNS)].astype(RESOURCE_COLUMNS).reset_index(drop=True)


def with_sizes(
    resources: pd.DataFrame, measured: Mapping[str, pd.Series], flavors: Mapping[str, pd.Series] | None = None
) -> pd.DataFrame:
    """`measured` maps a size column (vcpus, ram_mib, disk_gib, size_gib) to `sizes()` of the meter
    that measures it; a revision takes the size measured under its flavor / volume type, else
    (instances) its flavor's size as any instance showed it (`flavors`, `sizes(per="attribute")`)."""
    frame = resources.copy()
    attribute = np.where(frame["resource_type"] == "instance", frame["flavor_name"], frame["volume_type"])
    keys = pd.MultiIndex.from_arrays([frame["resource_id"].to_numpy(dtype=object), attribute])
    for column in ("vcpus", "ram_mib", "disk_gib", "size_gib"):
        found = measured.get(column)
        values = np.full(len(keys), np.nan)
        if found is not None and len(found):
            values = found.reindex(keys).to_numpy(dtype=float)
        fallback = (flavors or {}).get(column)
        if fallback is not None and len(fallback):
            by_flavor = fallback.reindex(frame["flavor_name"].to_numpy(dtype=object)).to_numpy(dtype=float)
            values = np.where(np.isnan(values) & (frame["resource_type"] == "instance").to_numpy(), by_flavor, values)
        frame[column] = values
    return frame[list(RESOURCE_COLUMNS)].astype(RESOURCE_COLUMNS).reset_index(drop=True)


def lifetimes(resources: pd.DataFrame) -> pd.DataFrame:
    """started_at / ended_at per resource id (every row of a resource carries the same)."""
    return resources.drop_duplicates("resource_id").set_index("resource_id")[["started_at", "ended_at"]]


__all__ = [
    "canonical_type", "hourly", "in_force", "inventory", "lifetimes", "points", "readings", "sizes", "to_naive_utc",
    "whole_by_groups", "with_sizes",
]  # fmt: skip
