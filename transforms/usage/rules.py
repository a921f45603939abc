"""The rules that turn readings into hourly quantities: gauge sizes (and floating-IP status),
cumulative and delta counters, instance-hours. Each returns rows of (rcode, hour, service,
quantity, t, row, …) — t and row being the time and sample of the reading that describes the
row's attributes; `usage_frame` turns them into usage."""

from __future__ import annotations

import numpy as np
import pandas as pd

from stackledger.transforms.usage.attributes import Described, take
from stackledger.transforms.usage.codes import CUMULATIVE, DELTA, GAUGE, INSTANCE, PRESENCE, STATUS, overlap
from stackledger.transforms.usage.inventory import Inventory
from stackledger.transforms.usage.readings import per_hour, run_lasts, run_starts, stack


def gauge_hours(readings: pd.DataFrame, inventory: Inventory) -> pd.DataFrame:
    hours = per_hour(readings[GAUGE[readings["mcode"].to_numpy()]], "mean")
    fraction = inventory.lifetime_fraction(hours["rcode"].to_numpy(), hours["hour"].to_numpy())
    hours["quantity"] *= fraction
    # No row for an hour the resource did not exist, nor for a floating IP never active in it.
    keep = (fraction > 0) & (~STATUS[hours["mcode"].to_numpy()] | (hours["quantity"] > 0))
    return hours[keep]


def counter_hours(readings: pd.DataFrame, start: int) -> pd.DataFrame:
    mcode = readings["mcode"].to_numpy()
    counters = readings[CUMULATIVE[mcode]]
    volume = counters["volume"].to_numpy()
    follows = np.ones(len(counters), dtype=bool)  # has a predecessor of the same resource and meter
    follows[run_starts(counters, ("rcode", "mcode"))] = False
    step = np.diff(volume, prepend=np.nan)
    # A drop is a reset: the counter restarted at zero and has counted up to the new reading.
    counters = counters.assign(volume=np.where(step >= 0, step, volume))
    counters = counters[follows & (counters["ts"].to_numpy() >= start)]
    deltas = readings[DELTA[mcode] & (readings["ts"].to_numpy() >= start)]
    hours = stack([per_hour(counters, "sum").assign(twin=0), per_hour(deltas, "sum").assign(twin=1)])
    if hours.empty:
        return hours
    # A counter and its .delta twin measure the same bytes: keep the counter's figure.
    hours = hours.sort_values("twin", kind="stable").drop_duplicates(["rcode", "service", "hour"])
    return hours.drop(columns="twin")


def instance_hours(readings: pd.DataFrame, inventory: Inventory, described: Described) -> pd.DataFrame:
    presence = readings[PRESENCE[readings["mcode"].to_numpy()]]
    order = np.lexsort((presence["ts"].to_numpy(), presence["rcode"].to_numpy()))
    presence = presence.iloc[order]
    presence = presence.iloc[run_starts(presence, ("rcode", "ts"))]  # one per instant across meters
    known = inventory.known[presence["rcode"].to_numpy()]
    rows = stack(
        [_instance_from_inventory(presence[known], inventory), _instance_from_samples(presence[~known], described)]
    )
    if not rows.empty:
        rows["service"] = INSTANCE
    return rows


def _instance_from_inventory(presence: pd.DataFrame, inventory: Inventory) -> pd.DataFrame:
    """The hour's lifetime fraction, split over the revisions (flavors) in force during it."""
    if presence.empty:
        return presence
    lasts = run_lasts(run_starts(presence, ("rcode", "hour")), len(presence))
    hours = presence.iloc[lasts][["rcode", "hour", "ts", "row"]].rename(columns={"ts": "t"})
    spans = hours.merge(inventory.spans, on="rcode")
    rcode, hour = spans["rcode"].to_numpy(), spans["hour"].to_numpy()
    begin = np.maximum(spans["span_from"].to_numpy(), inventory.started[rcode])
    finish = np.minimum(spans["span_to"].to_numpy(), inventory.ended[rcode])
    spans["quantity"] = overlap(hour, begin, finish)
    spans = spans[spans["quantity"] > 0]
    # Two revisions of one flavor in one hour (say, a rename) are one row.
    return (
        spans.groupby(["rcode", "hour", "flavor"], sort=False)
        .agg(quantity=("quantity", "sum"), t=("t", "last"), row=("row", "last"), rev=("rev", "last"))
        .reset_index()
        .drop(columns="flavor")
    )


def _instance_from_samples(presence: pd.DataFrame, described: Described) -> pd.DataFrame:
    """No inventory: the flavor the samples said at each reading; a mixed hour splits by share
    of readings."""
    if presence.empty:
        return presence
    rcode, ts = presence["rcode"].to_numpy(), presence["ts"].to_numpy()
    flavors = described.at(rcode, ts, ("flavor_name",))["flavor_name"]
    code, names = pd.factorize(flavors)
    grouped = presence.assign(flavor=code).groupby(["rcode", "hour", "flavor"], sort=False)
    hours = grouped.agg(count=("row", "size"), t=("ts", "last"), row=("row", "last")).reset_index()
    hours["quantity"] = hours["count"] / hours.groupby(["rcode", "hour"])["count"].transform("sum")
    hours["flavor_name"] = take(np.asarray(names, dtype=object), hours["flavor"].to_numpy())
    return hours.drop(columns=["count", "flavor"])
