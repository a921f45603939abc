"""Samples as integer readings, and the run-length helpers every rule groups them with.

Readings are sorted by resource, meter and time, so each group (a resource's meter, an hour
of it, an instant) is a contiguous run: grouping is finding where runs start.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stackledger.schema import FLOATING_IP_ACTIVE
from stackledger.transforms.usage.codes import COUNTER, HOUR_NS, KIND, METER_FACTOR, METER_SERVICE, NAT, STATUS
from stackledger.transforms.usage.compact import Readings


def readings(compact: Readings, start: int, end: int) -> pd.DataFrame:
    """Known meters before `end` (and from `start` on unless cumulative) as integer columns,
    one reading per resource, meter and instant, sorted by resource, meter and time.

    rcode is the readings' resource code, mcode indexes `METER_NAMES`; ts and hour are ns and
    hours since the epoch; row points back into `compact` (for its project and time)."""
    mcode = compact.meter.astype(np.int64)
    stamp = compact.ts
    cumulative = np.zeros(len(mcode), dtype=bool)
    cumulative[mcode >= 0] = KIND[mcode[mcode >= 0]] == "cumulative"
    keep = (mcode >= 0) & (compact.resource >= 0) & (stamp != NAT)
    keep &= (stamp < end) & ((stamp >= start) | cumulative)
    row = np.flatnonzero(keep)
    rcode, mcode, stamp = compact.resource[keep].astype(np.int64), mcode[keep], stamp[keep]
    volume = compact.volume[keep].astype(float)
    status = STATUS[mcode]
    volume[status] = (volume[status] == FLOATING_IP_ACTIVE).astype(float)
    order = np.lexsort((row, stamp, mcode, rcode))
    frame = pd.DataFrame(
        {"rcode": rcode[order], "mcode": mcode[order], "ts": stamp[order], "volume": volume[order], "row": row[order]}
    )
    frame = _one_per_instant(frame)
    frame["hour"] = frame["ts"].to_numpy() // HOUR_NS
    return frame


def _one_per_instant(frame: pd.DataFrame) -> pd.DataFrame:
    """Collapse readings of one resource and meter at one instant (sorted, so adjacent)."""
    starts = run_starts(frame, ("rcode", "mcode", "ts"))
    if len(starts) == len(frame):
        return frame
    lasts = run_lasts(starts, len(frame))
    volume = frame["volume"].to_numpy()
    mean = np.add.reduceat(volume, starts) / (lasts - starts + 1)
    peak = np.maximum.reduceat(volume, starts)
    out = frame.iloc[lasts].reset_index(drop=True)
    out["volume"] = np.where(COUNTER[out["mcode"].to_numpy()], peak, mean)
    return out


def run_starts(frame: pd.DataFrame, keys: tuple[str, ...]) -> np.ndarray:
    """Where each run of equal consecutive `keys` begins (groups are contiguous when sorted)."""
    change = np.ones(len(frame), dtype=bool)
    if len(frame) > 1:
        change[1:] = False
        for key in keys:
            values = frame[key].to_numpy()
            change[1:] |= values[1:] != values[:-1]
    return np.flatnonzero(change)


def run_lasts(starts: np.ndarray, length: int) -> np.ndarray:
    """Where each run ends, given where each begins."""
    return np.append(starts[1:], length) - 1 if len(starts) else starts


def per_hour(frame: pd.DataFrame, how: str) -> pd.DataFrame:
    """One row per (resource, meter, hour) run: the readings' mean or sum, and the time and
    sample row of the last reading."""
    starts = run_starts(frame, ("rcode", "mcode", "hour"))
    lasts = run_lasts(starts, len(frame))
    last = frame.iloc[lasts].reset_index(drop=True)
    total = np.add.reduceat(frame["volume"].to_numpy(), starts) if len(frame) else np.zeros(0)
    value = total / (lasts - starts + 1) if how == "mean" else total
    mcode = last["mcode"].to_numpy()
    return pd.DataFrame(
        {
            "rcode": last["rcode"],
            "hour": last["hour"],
            "service": METER_SERVICE[mcode],
            "quantity": value * METER_FACTOR[mcode],
            "t": last["ts"],
            "row": last["row"],
            "mcode": mcode,
        }
    )


def stack(parts: list[pd.DataFrame]) -> pd.DataFrame:
    filled = [part for part in parts if not part.empty]
    return pd.concat(filled, ignore_index=True) if filled else pd.DataFrame()
