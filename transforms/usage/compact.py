"""Samples in their compact form: one reading per sample as integer codes and numbers, and what
each sample states about its resource (`revisions.Statements`).

This is the shape the store keeps (small codes for resource, meter and project, the time and
the volume) and the only input `usage_from_readings` needs besides revisions and inventory;
`compact_samples` turns a SAMPLE_COLUMNS frame into it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from stackledger.transforms.usage.codes import METER_NAMES, NAT
from stackledger.transforms.usage.revisions import Statements
from stackledger.transforms.usage.statements import SIZE_METERS, Statement, columns, statement


@dataclass(frozen=True)
class Readings:
    """One reading per sample, as arrays of one length, with the dictionaries their codes index."""

    resource: np.ndarray  # int codes into resource_ids; -1: no resource (ignored)
    meter: np.ndarray  # int codes into codes.METER_NAMES; -1: a meter usage does not rate (ignored)
    ts: np.ndarray  # int64 ns since the epoch, naive UTC; codes.NAT: no time (ignored)
    volume: np.ndarray  # float64, in the meter's declared unit
    project: np.ndarray  # int codes into project_ids; -1: no project
    resource_ids: np.ndarray  # object: code -> resource_id
    project_ids: np.ndarray  # object: code -> project_id

    def __len__(self) -> int:
        return len(self.resource)


def compact_samples(samples: pd.DataFrame) -> tuple[Readings, Statements]:
    """SAMPLE_COLUMNS → readings, and the statements of the samples usage may read (rated
    meters with a resource and a time), in the same resource codes."""
    rcode, resource_ids = pd.factorize(samples["resource_id"].to_numpy(dtype=object))
    pcode, project_ids = pd.factorize(samples["project_id"].to_numpy(dtype=object))
    meter = (
        pd.Index(METER_NAMES, dtype=object)
        .get_indexer(pd.Index(samples["meter"].to_numpy(dtype=object), dtype=object))
        .astype(np.int16)
    )
    ts = samples["timestamp"].astype("datetime64[ns]").to_numpy().view(np.int64)
    readings = Readings(
        resource=rcode.astype(np.int64),
        meter=meter,
        ts=ts,
        volume=samples["volume"].to_numpy(dtype=float),
        project=pcode.astype(np.int64),
        resource_ids=np.asarray(resource_ids, dtype=object),
        project_ids=np.asarray(project_ids, dtype=object),
    )
    keep = (meter >= 0) & (rcode >= 0) & (ts != NAT)
    said, table = statement_codes(
        samples["metadata"].to_numpy(dtype=object)[keep],
        samples["project_id"].to_numpy(dtype=object)[keep],
        samples["meter"].to_numpy(dtype=object)[keep],
        readings.volume[keep],
    )
    return readings, Statements(readings.resource[keep], ts[keep], said, table)


def statement_codes(
    metadata: np.ndarray, project_ids: np.ndarray, meters: np.ndarray, volumes: np.ndarray
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Each sample's statement as a row of a table of distinct statements. A metadata dict shared
    by several samples (the same object) is read once per project (and size, for SIZE_METERS)."""
    by_object: dict[tuple[int, object, object, float], int] = {}
    by_value: dict[Statement, int] = {}
    table: list[Statement] = []
    said = np.empty(len(metadata), dtype=np.int64)
    rows = zip(metadata.tolist(), project_ids.tolist(), meters.tolist(), volumes.tolist(), strict=True)
    for i, (meta, project, meter, volume) in enumerate(rows):
        sized = meter in SIZE_METERS
        key = (id(meta), project, meter if sized else None, volume if sized else 0.0)
        code = by_object.get(key)
        if code is None:
            found = statement(meta, project, meter, volume)
            code = by_value.setdefault(found, len(table))
            if code == len(table):
                table.append(found)
            by_object[key] = code
        said[i] = code
    return said, columns(table)
