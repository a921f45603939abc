"""The usage frame (USAGE_COLUMNS) from the rules' rows, in a fixed order whatever order
the samples came in."""

from __future__ import annotations

import numpy as np
import pandas as pd

from stackledger.schema import USAGE_COLUMNS, validate_frame
from stackledger.transforms.usage.attributes import Described, attributes, take
from stackledger.transforms.usage.codes import HOUR_NS, INSTANCE, SERVICE_NAMES, SERVICE_TYPE, SERVICE_UNIT
from stackledger.transforms.usage.compact import Readings
from stackledger.transforms.usage.inventory import Inventory


def usage_frame(
    rows: pd.DataFrame,
    compact: Readings,
    inventory: Inventory,
    described: Described,
    source: str,
    default_region: str | None,
) -> pd.DataFrame:
    rcode, hour, service, sample_row = (
        rows[c].to_numpy().astype(np.int64) for c in ("rcode", "hour", "service", "row")
    )
    resource_ids = compact.resource_ids
    found, twins_possible = attributes(rows, rcode, hour, service, sample_row, inventory, described, compact.ts)
    project = take(compact.project_ids, compact.project[sample_row])
    unknown = pd.isna(project)
    project[unknown] = found["project_id"][unknown]
    region = found["region"]
    region[found["region_missing"]] = default_region
    flavor = found["flavor_name"]
    flavor[pd.isna(flavor)] = ""

    start = (hour * HOUR_NS).view("datetime64[ns]")
    columns = {
        "charge_period_start": start,
        "charge_period_end": start + np.timedelta64(HOUR_NS, "ns"),
        "project_id": project,
        "resource_id": resource_ids[rcode],
        "resource_type": SERVICE_TYPE[service],
        "service": np.array(SERVICE_NAMES, dtype=object)[service],
        "consumed_quantity": rows["quantity"].to_numpy(dtype=float),
        "consumed_unit": SERVICE_UNIT[service],
        "flavor_name": flavor,
        "vcpus": found["vcpus"],
        "ram_mib": found["ram_mib"],
        "volume_type": found["volume_type"],
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


def _output_order(
    hour: np.ndarray, rcode: np.ndarray, resource_ids: np.ndarray, service: np.ndarray, flavor: np.ndarray
) -> np.ndarray:
    """Rows by hour, resource id, service name, flavor name — whatever order samples came in.
    (Only instance-hours can share the rest of the key, so only they need their flavor ranked.)"""
    resource_rank = np.empty(len(resource_ids), dtype=np.int64)
    resource_rank[np.argsort(resource_ids.astype(str), kind="stable")] = np.arange(len(resource_ids))
    instance = service == INSTANCE
    flavor_rank = np.zeros(len(flavor), dtype=np.int64)
    flavor_rank[instance] = pd.factorize(flavor[instance].astype(str), sort=True)[0]
    return np.lexsort((flavor_rank, service, resource_rank[rcode], hour))
