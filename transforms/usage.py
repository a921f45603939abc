"""Hourly usage from Ceilometer samples (DESIGN §4 — the rules finance checks).

`hourly_usage(samples, resources, window)` turns raw samples (SAMPLE_COLUMNS) and the
inventory (RESOURCE_COLUMNS, one row per revision, may be empty) into usage rows
(USAGE_COLUMNS): one per resource, service and hour [h, h+1h) inside the window — and, for
instance-hours only, per flavor, so a resize inside an hour gives one row per flavor.
Pure: no I/O, no clock. Quantities are in the service's unit (`schema.SERVICES`), converted
from the meter's declared unit only through `schema.unit_factor`.

Rules
-----
- **Gauge sizes** (vcpus, memory, disk.*.size, volume/snapshot/backup.size, image.size):
  quantity = mean reading in the hour × unit factor × fraction of the hour the resource
  existed (inventory `started_at`/`ended_at`; 1 when the resource is not in the inventory).
  An hour without a reading has no row; nor has an hour the inventory says the resource did
  not exist at all (a trailing sample after deletion).
- **Instance-hours** (compute.instance): an hour with a reading of any
  INSTANCE_PRESENCE_METER is the fraction of the hour the instance existed. With inventory,
  that fraction is split over the revisions in force (a resize at 10:30 gives two half-hour
  rows, one per flavor); each revision holds until the next one's `valid_from`, the first
  one since the beginning of time. Without inventory, the flavor comes from each reading's
  metadata (METADATA_KEYS) and a mixed hour is split by each flavor's share of the readings.
- **Cumulative counters** (network.*.bytes): the difference between consecutive readings of
  one resource, booked to the hour of the later reading. A drop is a counter reset (the
  instance rebooted or moved): the delta is then the new reading itself — the counter
  restarted from zero and counted up to it — the rule of Ceilometer's own
  RateOfChangeTransformer ("the current volume gives a lower bound on growth"). Readings
  before the window (the caller's lookback) only serve as the first predecessor; the first
  reading a resource ever has gives no delta. `cpu` is cumulative but only marks presence.
- **Delta meters** (network.*.bytes.delta): summed per hour. A resource that reports both
  a counter and its `.delta` twin for a service in an hour is booked from the counter
  (a lost counter reading loses nothing; a lost delta reading loses its bytes).
- **ip.floating**: the reading is a status code (1 active, 3 down, 7 error, -1 unknown).
  It is treated as the gauge "is active" (1 or 0), so quantity = share of the hour's
  readings that were active × lifetime fraction: an hour active throughout is exactly one
  IP-hour, and an IP detached at 10:20 is not billed for the rest of the hour. Hours
  without an active reading have no row.
- **One reading per instant**: samples of one resource and meter sharing a timestamp count
  once — the mean of their values for gauges and status codes, the largest for counters.
- **Attributes**: flavor_name, vcpus and ram_mib (instances) and volume_type (volumes,
  snapshots, backups) come from the inventory revision in force at the hour's last reading
  (for instance-hours: the revision of that split), else from sample metadata — for an
  instance, the hour's last presence reading, else the row's own last reading; region from
  inventory, else `default_region`. `flavor_name` is '' when unknown (it is in the usage
  unique key); the other attributes are None/NaN.
"""

from __future__ import annotations

import datetime as dt
from typing import Final, Protocol

import numpy as np
import pandas as pd

from stackledger.errors import ConfigError
from stackledger.schema import (
    FLOATING_IP_ACTIVE,
    INSTANCE_PRESENCE_METERS,
    METERS,
    RESOURCE_COLUMNS,
    SAMPLE_COLUMNS,
    SERVICES,
    USAGE_COLUMNS,
    empty_frame,
    unit_factor,
    validate_frame,
)


class WindowLike(Protocol):
    """Anything with naive-UTC `start` and `end` on whole hours (e.g. `stackledger.window.Window`)."""

    @property
    def start(self) -> dt.datetime: ...

    @property
    def end(self) -> dt.datetime: ...


# Where a sample's resource_metadata carries a rating attribute; the first key present wins.
# Polled instance metadata has instance_type, vcpus, memory_mb and a flavor dict; notification
# meters carry flavor_name / instance_type. Dotted keys look inside nested dicts.
METADATA_KEYS: Final = {
    "flavor_name": ("flavor_name", "instance_type", "flavor.name"),
    "vcpus": ("vcpus", "flavor.vcpus"),
    "ram_mib": ("memory_mb", "flavor.ram"),
    "volume_type": ("volume_type",),
}
# The resource types each rating attribute describes; it stays empty on the others.
ATTRIBUTE_TYPES: Final = {
    "flavor_name": frozenset({"instance"}),
    "vcpus": frozenset({"instance"}),
    "ram_mib": frozenset({"instance"}),
    "volume_type": frozenset({"volume", "snapshot", "backup"}),
}
INSTANCE_SERVICE: Final = "compute.instance"

# Meters and services as small integer codes, so the hot path never hashes strings.
_METER_NAMES: Final = tuple(METERS)
_SERVICE_NAMES: Final = tuple(sorted(SERVICES))  # sorted: code order is name order
_KIND: Final = np.array([METERS[m].kind for m in _METER_NAMES], dtype=object)
_METER_SERVICE: Final = np.array([_SERVICE_NAMES.index(s) if (s := METERS[m].service) else -1 for m in _METER_NAMES])
_METER_FACTOR: Final = np.array([unit_factor(METERS[m]) if METERS[m].service else np.nan for m in _METER_NAMES])
_GAUGE: Final = np.isin(_KIND, ("gauge", "status")) & (_METER_SERVICE >= 0)
_STATUS: Final = _KIND == "status"
_CUMULATIVE: Final = (_KIND == "cumulative") & (_METER_SERVICE >= 0)
_DELTA: Final = _KIND == "delta"
_COUNTER: Final = np.isin(_KIND, ("cumulative", "delta"))
_PRESENCE: Final = np.isin(np.array(_METER_NAMES, dtype=object), list(INSTANCE_PRESENCE_METERS))
_SERVICE_TYPE: Final = np.array([SERVICES[s].resource_type for s in _SERVICE_NAMES], dtype=object)
_SERVICE_UNIT: Final = np.array([SERVICES[s].unit for s in _SERVICE_NAMES], dtype=object)
_INSTANCE: Final = _SERVICE_NAMES.index(INSTANCE_SERVICE)

_HOUR_NS: Final = 3_600_000_000_000
# Open ends of inventory spans (unknown start, still alive); datetime64[ns] ends in 2262.
_DAWN: Final = pd.Timestamp("1900-01-01").value
_DUSK: Final = pd.Timestamp("2200-01-01").value
_SECOND_BITS: Final = 34  # seconds since _DAWN fit in 34 bits until 2444


def hourly_usage(
    samples: pd.DataFrame,
    resources: pd.DataFrame,
    window: WindowLike,
    *,
    source: str = "ceilometer",
    default_region: str | None = None,
) -> pd.DataFrame:
    """Usage rows for every hour of `window` (the rules are in the module docstring).

    `samples` may reach back before the window (the lookback for cumulative counters);
    everything else outside [window.start, window.end) is ignored, as are unknown meters.
    """
    start, end = _bounds(window)
    samples = validate_frame(samples, SAMPLE_COLUMNS, stage="usage samples")
    resources = validate_frame(resources, RESOURCE_COLUMNS, stage="usage resources")
    readings, resource_ids = _readings(samples, start, end)
    inventory = _Inventory(resources, resource_ids)
    metadata = samples["metadata"].to_numpy(dtype=object)
    in_window = readings[readings["ts"] >= start]
    rows = _stack(
        [
            _gauge_hours(in_window, inventory),
            _counter_hours(readings, start),
            _instance_hours(in_window, inventory, metadata),
        ]
    )
    if rows.empty:
        return empty_frame(USAGE_COLUMNS)
    return _usage_frame(rows, samples, resource_ids, inventory, metadata, source, default_region)


def _bounds(window: WindowLike) -> tuple[int, int]:
    """The window as integer nanoseconds, checked to be naive and on whole hours."""
    start, end = pd.Timestamp(window.start), pd.Timestamp(window.end)
    if start.tzinfo is not None or end.tzinfo is not None:
        raise ConfigError(f"usage window {start}–{end} must be naive UTC")
    if start != start.floor("h") or end != end.floor("h"):
        raise ConfigError(f"usage is hourly: window {start}–{end} must start and end on the hour")
    return start.value, end.value


# ---------------------------------------------------------------- readings


def _readings(samples: pd.DataFrame, start: int, end: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Known meters before `end` (and from `start` on unless cumulative) as integer columns,
    one reading per resource, meter and instant, sorted by resource, meter and time.

    rcode indexes the returned resource ids, mcode `_METER_NAMES`; ts and hour are ns and
    hours since the epoch; row points back into `samples` (for metadata and project)."""
    mcode = (
        pd.Index(_METER_NAMES, dtype=object)
        .get_indexer(pd.Index(samples["meter"].to_numpy(dtype=object), dtype=object))
        .astype(np.int64)
    )
    ts = samples["timestamp"].astype("datetime64[ns]").to_numpy()
    stamp = ts.view(np.int64)
    cumulative = np.zeros(len(mcode), dtype=bool)
    cumulative[mcode >= 0] = _KIND[mcode[mcode >= 0]] == "cumulative"
    keep = (mcode >= 0) & ~np.isnat(ts) & samples["resource_id"].notna().to_numpy()
    keep &= (stamp < end) & ((stamp >= start) | cumulative)
    rcode, resource_ids = pd.factorize(samples["resource_id"].to_numpy(dtype=object)[keep])
    row = np.flatnonzero(keep)
    mcode, stamp = mcode[keep], stamp[keep]
    volume = samples["volume"].to_numpy(dtype=float)[keep]
    status = _STATUS[mcode]
    volume[status] = (volume[status] == FLOATING_IP_ACTIVE).astype(float)
    order = np.lexsort((row, stamp, mcode, rcode))
    frame = pd.DataFrame(
        {"rcode": rcode[order], "mcode": mcode[order], "ts": stamp[order], "volume": volume[order], "row": row[order]}
    )
    frame = _one_per_instant(frame)
    frame["hour"] = frame["ts"].to_numpy() // _HOUR_NS
    return frame, np.asarray(resource_ids, dtype=object)


def _one_per_instant(frame: pd.DataFrame) -> pd.DataFrame:
    """Collapse readings of one resource and meter at one instant (sorted, so adjacent)."""
    starts = _run_starts(frame, ("rcode", "mcode", "ts"))
    if len(starts) == len(frame):
        return frame
    lasts = _run_lasts(starts, len(frame))
    volume = frame["volume"].to_numpy()
    mean = np.add.reduceat(volume, starts) / (lasts - starts + 1)
    peak = np.maximum.reduceat(volume, starts)
    out = frame.iloc[lasts].reset_index(drop=True)
    out["volume"] = np.where(_COUNTER[out["mcode"].to_numpy()], peak, mean)
    return out


def _run_starts(frame: pd.DataFrame, keys: tuple[str, ...]) -> np.ndarray:
    """Where each run of equal consecutive `keys` begins (groups are contiguous when sorted)."""
    change = np.ones(len(frame), dtype=bool)
    if len(frame) > 1:
        change[1:] = False
        for key in keys:
            values = frame[key].to_numpy()
            change[1:] |= values[1:] != values[:-1]
    return np.flatnonzero(change)


def _run_lasts(starts: np.ndarray, length: int) -> np.ndarray:
    """Where each run ends, given where each begins."""
    return np.append(starts[1:], length) - 1 if len(starts) else starts


def _per_hour(frame: pd.DataFrame, how: str) -> pd.DataFrame:
    """One row per (resource, meter, hour) run: the readings' mean or sum, and the time and
    sample row of the last reading."""
    starts = _run_starts(frame, ("rcode", "mcode", "hour"))
    lasts = _run_lasts(starts, len(frame))
    last = frame.iloc[lasts].reset_index(drop=True)
    total = np.add.reduceat(frame["volume"].to_numpy(), starts) if len(frame) else np.zeros(0)
    value = total / (lasts - starts + 1) if how == "mean" else total
    mcode = last["mcode"].to_numpy()
    return pd.DataFrame(
        {
            "rcode": last["rcode"],
            "hour": last["hour"],
            "service": _METER_SERVICE[mcode],
            "quantity": value * _METER_FACTOR[mcode],
            "t": last["ts"],
            "row": last["row"],
            "mcode": mcode,
        }
    )


def _stack(parts: list[pd.DataFrame]) -> pd.DataFrame:
    filled = [part for part in parts if not part.empty]
    return pd.concat(filled, ignore_index=True) if filled else pd.DataFrame()


# ---------------------------------------------------------------- rules


def _gauge_hours(readings: pd.DataFrame, inventory: _Inventory) -> pd.DataFrame:
    hours = _per_hour(readings[_GAUGE[readings["mcode"].to_numpy()]], "mean")
    fraction = inventory.lifetime_fraction(hours["rcode"].to_numpy(), hours["hour"].to_numpy())
    hours["quantity"] *= fraction
    # No row for an hour the resource did not exist, nor for a floating IP never active in it.
    keep = (fraction > 0) & (~_STATUS[hours["mcode"].to_numpy()] | (hours["quantity"] > 0))
    return hours[keep]


def _counter_hours(readings: pd.DataFrame, start: int) -> pd.DataFrame:
    mcode = readings["mcode"].to_numpy()
    counters = readings[_CUMULATIVE[mcode]]
    volume = counters["volume"].to_numpy()
    follows = np.ones(len(counters), dtype=bool)  # has a predecessor of the same resource and meter
    follows[_run_starts(counters, ("rcode", "mcode"))] = False
    step = np.diff(volume, prepend=np.nan)
    # A drop is a reset: the counter restarted at zero and has counted up to the new reading.
    counters = counters.assign(volume=np.where(step >= 0, step, volume))
    counters = counters[follows & (counters["ts"].to_numpy() >= start)]
    deltas = readings[_DELTA[mcode] & (readings["ts"].to_numpy() >= start)]
    hours = _stack([_per_hour(counters, "sum").assign(twin=0), _per_hour(deltas, "sum").assign(twin=1)])
    if hours.empty:
        return hours
    # A counter and its .delta twin measure the same bytes: keep the counter's figure.
    hours = hours.sort_values("twin", kind="stable").drop_duplicates(["rcode", "service", "hour"])
    return hours.drop(columns="twin")


def _instance_hours(readings: pd.DataFrame, inventory: _Inventory, metadata: np.ndarray) -> pd.DataFrame:
    presence = readings[_PRESENCE[readings["mcode"].to_numpy()]]
    order = np.lexsort((presence["ts"].to_numpy(), presence["rcode"].to_numpy()))
    presence = presence.iloc[order]
    presence = presence.iloc[_run_starts(presence, ("rcode", "ts"))]  # one per instant across meters
    known = inventory.known[presence["rcode"].to_numpy()]
    rows = _stack(
        [_instance_from_inventory(presence[known], inventory), _instance_from_metadata(presence[~known], metadata)]
    )
    if not rows.empty:
        rows["service"] = _INSTANCE
    return rows


def _instance_from_inventory(presence: pd.DataFrame, inventory: _Inventory) -> pd.DataFrame:
    """The hour's lifetime fraction, split over the revisions (flavors) in force during it."""
    if presence.empty:
        return presence
    lasts = _run_lasts(_run_starts(presence, ("rcode", "hour")), len(presence))
    hours = presence.iloc[lasts][["rcode", "hour", "ts", "row"]].rename(columns={"ts": "t"})
    spans = hours.merge(inventory.spans, on="rcode")
    rcode, hour = spans["rcode"].to_numpy(), spans["hour"].to_numpy()
    begin = np.maximum(spans["span_from"].to_numpy(), inventory.started[rcode])
    finish = np.minimum(spans["span_to"].to_numpy(), inventory.ended[rcode])
    spans["quantity"] = _overlap(hour, begin, finish)
    spans = spans[spans["quantity"] > 0]
    # Two revisions of one flavor in one hour (say, a rename) are one row.
    return (
        spans.groupby(["rcode", "hour", "flavor"], sort=False)
        .agg(quantity=("quantity", "sum"), t=("t", "last"), row=("row", "last"), rev=("rev", "last"))
        .reset_index()
        .drop(columns="flavor")
    )


def _instance_from_metadata(presence: pd.DataFrame, metadata: np.ndarray) -> pd.DataFrame:
    """No inventory: each reading's metadata flavor; a mixed hour splits by share of readings."""
    if presence.empty:
        return presence
    flavors = _from_metadata(metadata, presence["row"].to_numpy(), ("flavor_name",))["flavor_name"]
    code, names = pd.factorize(flavors)
    grouped = presence.assign(flavor=code).groupby(["rcode", "hour", "flavor"], sort=False)
    hours = grouped.agg(count=("row", "size"), t=("ts", "last"), row=("row", "last")).reset_index()
    hours["quantity"] = hours["count"] / hours.groupby(["rcode", "hour"])["count"].transform("sum")
    hours["flavor_name"] = _take(np.asarray(names, dtype=object), hours["flavor"].to_numpy())
    return hours.drop(columns=["count", "flavor"])


def _overlap(hour: np.ndarray, begin: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Fraction of each hour [hour, hour+1h) covered by [begin, end), all in ns."""
    low = np.maximum(hour * _HOUR_NS, begin)
    high = np.minimum((hour + 1) * _HOUR_NS, end)
    return np.clip(high - low, 0, None) / _HOUR_NS


# ---------------------------------------------------------------- inventory


class _Inventory:
    """Lifetimes and revisions of the sampled resources, indexed by their rcode.

    Revisions become spans that tile time with no gaps: each holds until the next one
    starts and the first one since _DAWN, whatever the stored valid_to says."""

    def __init__(self, resources: pd.DataFrame, resource_ids: np.ndarray) -> None:
        count = len(resource_ids)
        rcode = pd.Index(resource_ids, dtype=object).get_indexer(
            pd.Index(resources["resource_id"].to_numpy(dtype=object), dtype=object)
        )
        frame = resources.assign(rcode=rcode)
        frame = frame[frame["rcode"] >= 0].sort_values(["rcode", "valid_from"], kind="stable", na_position="first")
        codes = frame["rcode"].to_numpy()
        self.known = np.zeros(count, dtype=bool)
        self.known[codes] = True
        # Deletion is final, so the latest ended_at any revision carries ends the lifetime.
        lifetimes = frame.groupby("rcode").agg(started=("started_at", "min"), ended=("ended_at", "max"))
        self.started = np.full(count, _DAWN, dtype=np.int64)
        self.started[lifetimes.index] = _ns(lifetimes["started"], _DAWN)
        self.ended = np.full(count, _DUSK, dtype=np.int64)
        self.ended[lifetimes.index] = _ns(lifetimes["ended"], _DUSK)

        first = np.ones(len(codes), dtype=bool)
        first[1:] = codes[1:] != codes[:-1]
        last = np.append(first[1:], True)[: len(codes)]
        valid_from = _ns(frame["valid_from"], _DAWN)
        span_from = np.where(first, _DAWN, valid_from)
        span_to = np.where(last, _DUSK, np.append(valid_from[1:], _DUSK)[: len(codes)])
        self.rcode = codes
        self.key = _time_key(codes, span_from)
        flavor = pd.factorize(frame["flavor_name"].to_numpy(dtype=object))[0]
        self.spans = pd.DataFrame(
            {"rcode": codes, "span_from": span_from, "span_to": span_to, "flavor": flavor, "rev": np.arange(len(codes))}
        )
        self.attributes = {
            name: frame[name].to_numpy(dtype=float if name in ("vcpus", "ram_mib") else object, copy=True)
            for name in (*ATTRIBUTE_TYPES, "region", "project_id")
        }
        self.missing = {name: pd.isna(values) for name, values in self.attributes.items()}
        for name, values in self.attributes.items():
            values[self.missing[name]] = None  # None, not NaN, in object columns

    def lifetime_fraction(self, rcode: np.ndarray, hour: np.ndarray) -> np.ndarray:
        """Fraction of each hour the resource existed; 1 where the inventory does not know it."""
        return _overlap(hour, self.started[rcode], self.ended[rcode])

    def revision_at(self, rcode: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Index of the revision in force for each (resource, time), -1 if none is known."""
        found = np.searchsorted(self.key, _time_key(rcode, t), side="right") - 1
        ok = found >= 0
        ok[ok] = self.rcode[found[ok]] == rcode[ok]
        return np.where(ok, found, -1)


def _ns(column: pd.Series, missing: int) -> np.ndarray:
    """A datetime column as int64 ns since the epoch, `missing` where NaT."""
    values = column.astype("datetime64[ns]").to_numpy()
    return np.where(np.isnat(values), missing, values.view(np.int64))


def _time_key(rcode: np.ndarray, t: np.ndarray) -> np.ndarray:
    """(resource, time to the second) as one sortable int64, for as-of lookups."""
    seconds = (np.clip(t, _DAWN, _DUSK) - _DAWN) // 1_000_000_000
    return (rcode.astype(np.int64) << _SECOND_BITS) | seconds


# ---------------------------------------------------------------- attributes and output


def _usage_frame(
    rows: pd.DataFrame,
    samples: pd.DataFrame,
    resource_ids: np.ndarray,
    inventory: _Inventory,
    metadata: np.ndarray,
    source: str,
    default_region: str | None,
) -> pd.DataFrame:
    rcode, hour, service, sample_row = (
        rows[c].to_numpy().astype(np.int64) for c in ("rcode", "hour", "service", "row")
    )
    attributes, twins_possible = _attributes(rows, rcode, hour, service, sample_row, inventory, metadata)
    project = samples["project_id"].to_numpy(dtype=object)[sample_row]
    unknown = pd.isna(project)
    project[unknown] = attributes["project_id"][unknown]
    region = attributes["region"]
    region[attributes["region_missing"]] = default_region
    flavor = attributes["flavor_name"]
    flavor[pd.isna(flavor)] = ""

    start = (hour * _HOUR_NS).view("datetime64[ns]")
    columns = {
        "charge_period_start": start,
        "charge_period_end": start + np.timedelta64(_HOUR_NS, "ns"),
        "project_id": project,
        "resource_id": resource_ids[rcode],
        "resource_type": _SERVICE_TYPE[service],
        "service": np.array(_SERVICE_NAMES, dtype=object)[service],
        "consumed_quantity": rows["quantity"].to_numpy(dtype=float),
        "consumed_unit": _SERVICE_UNIT[service],
        "flavor_name": flavor,
        "vcpus": attributes["vcpus"],
        "ram_mib": attributes["ram_mib"],
        "volume_type": attributes["volume_type"],
        "region": region,
        "source": np.full(len(rows), source, dtype=object),
    }
    order = _output_order(hour, rcode, resource_ids, service, flavor)
    frame = pd.DataFrame(
        {name: pd.Series(values[order], dtype=USAGE_COLUMNS[name]) for name, values in columns.items()}
    )
    if twins_possible:
        frame = _merge_flavor_twins(frame)
    return validate_frame(frame, USAGE_COLUMNS, stage="usage")


def _attributes(
    rows: pd.DataFrame,
    rcode: np.ndarray,
    hour: np.ndarray,
    service: np.ndarray,
    sample_row: np.ndarray,
    inventory: _Inventory,
    metadata: np.ndarray,
) -> tuple[dict[str, np.ndarray], bool]:
    """Each row's rating attributes, region and project from its inventory revision, the
    gaps filled from sample metadata. Also says whether an inventory split took its flavor
    from metadata (and so may now share its key with a sibling)."""
    split = rows["rev"].fillna(-1).to_numpy().astype(np.int64) if "rev" in rows else np.full(len(rows), -1)
    rev = split.copy()
    asof = rev < 0
    rev[asof] = inventory.revision_at(rcode[asof], rows["t"].to_numpy().astype(np.int64)[asof])
    attributes = {name: _take(values, rev) for name, values in inventory.attributes.items()}
    missing = {name: _take(values, rev, fill=True) for name, values in inventory.missing.items()}
    if "flavor_name" in rows:  # instance-hours split by metadata flavor
        given = rows["flavor_name"].notna().to_numpy()
        attributes["flavor_name"][given] = rows["flavor_name"].to_numpy(dtype=object)[given]
        missing["flavor_name"][given] = False
    resource_type = _SERVICE_TYPE[service]
    relevant = {name: np.isin(resource_type, list(types)) for name, types in ATTRIBUTE_TYPES.items()}
    need = {name: relevant[name] & missing[name] for name in ATTRIBUTE_TYPES}
    if any(mask.any() for mask in need.values()):
        _fill_from_metadata(attributes, need, _metadata_rows(rcode, hour, service, sample_row), metadata)
    for name, mask in relevant.items():
        attributes[name][~mask] = None
    attributes["region_missing"] = missing["region"]
    return attributes, bool((need["flavor_name"] & (split >= 0)).any())


def _merge_flavor_twins(frame: pd.DataFrame) -> pd.DataFrame:
    """An inventory split whose flavor only metadata knew may land on its sibling's flavor."""
    key = ["charge_period_start", "resource_id", "service", "flavor_name"]
    twins = frame.duplicated(key, keep=False)
    if not twins.any():
        return frame
    merged = (
        frame[twins]
        .groupby(key, sort=False, as_index=False)
        .agg({name: "sum" if name == "consumed_quantity" else "last" for name in frame.columns if name not in key})
    )
    return pd.concat([frame[~twins], merged[frame.columns]], ignore_index=True).sort_values(key, kind="stable")


def _metadata_rows(rcode: np.ndarray, hour: np.ndarray, service: np.ndarray, own: np.ndarray) -> np.ndarray:
    """The sample whose metadata describes each row: for instance-type services the hour's
    last presence reading when there is one (one lookup serves all its rows), else the row's own."""
    instance = service == _INSTANCE
    key = (rcode << 32) | (hour - hour.min())
    reference = pd.Series(own[instance], index=key[instance])
    reference = reference[~reference.index.duplicated(keep="last")]
    found = reference.reindex(key).to_numpy(dtype=float)
    use = (_SERVICE_TYPE[service] == "instance") & ~np.isnan(found)
    return np.where(use, np.nan_to_num(found).astype(np.int64), own)


def _fill_from_metadata(
    attributes: dict[str, np.ndarray], need: dict[str, np.ndarray], rows: np.ndarray, metadata: np.ndarray
) -> None:
    """Fill the attributes in `need` from sample metadata, reading each sample once."""
    any_need = np.logical_or.reduce(list(need.values()))
    unique, inverse = np.unique(rows[any_need], return_inverse=True)
    found = _from_metadata(metadata, unique, tuple(name for name, mask in need.items() if mask.any()))
    for name, values in found.items():
        if attributes[name].dtype != object:  # metadata may say "2"; what is not a number stays unknown
            values = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(dtype=float)
        attributes[name][need[name]] = values[inverse[need[name][any_need]]]


def _from_metadata(metadata: np.ndarray, rows: np.ndarray, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The named attributes from each referenced sample's metadata (None where absent)."""
    keys = [(name, METADATA_KEYS[name]) for name in names]
    values = [[_lookup(metadata[i], candidates) for name, candidates in keys] for i in rows]
    table = np.array(values, dtype=object).reshape(len(rows), len(keys))
    return {name: table[:, n] for n, (name, _) in enumerate(keys)}


def _lookup(meta: object, keys: tuple[str, ...]) -> object:
    if not isinstance(meta, dict):  # JSON objects decode to dicts; anything else carries nothing
        return None
    for key in keys:
        node: object = meta.get(key)
        if node is None and "." in key:
            node = meta
            for part in key.split("."):
                node = node.get(part) if isinstance(node, dict) else None
        if node not in (None, ""):
            return node
    return None


def _take(values: np.ndarray, index: np.ndarray, fill: object = None) -> np.ndarray:
    """values[index], `fill` where index is -1 (None for objects, NaN for floats by default)."""
    if fill is None and values.dtype != object:
        fill = np.nan
    out = np.full(len(index), fill, dtype=values.dtype)
    found = index >= 0
    out[found] = values[index[found]]
    return out


def _output_order(
    hour: np.ndarray, rcode: np.ndarray, resource_ids: np.ndarray, service: np.ndarray, flavor: np.ndarray
) -> np.ndarray:
    """Rows by hour, resource id, service name, flavor name — whatever order samples came in.
    (Only instance-hours can share the rest of the key, so only they need their flavor ranked.)"""
    resource_rank = np.empty(len(resource_ids), dtype=np.int64)
    resource_rank[np.argsort(resource_ids.astype(str), kind="stable")] = np.arange(len(resource_ids))
    instance = service == _INSTANCE
    flavor_rank = np.zeros(len(flavor), dtype=np.int64)
    flavor_rank[instance] = pd.factorize(flavor[instance].astype(str), sort=True)[0]
    return np.lexsort((flavor_rank, service, resource_rank[rcode], hour))
