"""Meters and services as small integer codes, and time as int64 nanoseconds since the epoch.

The hot path works on these codes and integers so it never hashes strings or builds
Timestamps: `mcode` indexes METER_NAMES, `service` indexes SERVICE_NAMES (sorted, so code
order is name order), hours are whole hours since the epoch.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd

from stackledger.schema import INSTANCE_PRESENCE_METERS, METERS, SERVICES, unit_factor

INSTANCE_SERVICE: Final = "compute.instance"

METER_NAMES: Final = tuple(METERS)
SERVICE_NAMES: Final = tuple(sorted(SERVICES))  # sorted: code order is name order
KIND: Final = np.array([METERS[m].kind for m in METER_NAMES], dtype=object)
METER_SERVICE: Final = np.array([SERVICE_NAMES.index(s) if (s := METERS[m].service) else -1 for m in METER_NAMES])
METER_FACTOR: Final = np.array([unit_factor(METERS[m]) if METERS[m].service else np.nan for m in METER_NAMES])
GAUGE: Final = np.isin(KIND, ("gauge", "status")) & (METER_SERVICE >= 0)
STATUS: Final = KIND == "status"
CUMULATIVE: Final = (KIND == "cumulative") & (METER_SERVICE >= 0)
DELTA: Final = KIND == "delta"
COUNTER: Final = np.isin(KIND, ("cumulative", "delta"))
PRESENCE: Final = np.isin(np.array(METER_NAMES, dtype=object), list(INSTANCE_PRESENCE_METERS))
SERVICE_TYPE: Final = np.array([SERVICES[s].resource_type for s in SERVICE_NAMES], dtype=object)
SERVICE_UNIT: Final = np.array([SERVICES[s].unit for s in SERVICE_NAMES], dtype=object)
INSTANCE: Final = SERVICE_NAMES.index(INSTANCE_SERVICE)

HOUR_NS: Final = 3_600_000_000_000
# Open ends of inventory spans (unknown start, still alive); datetime64[ns] ends in 2262.
DAWN: Final = pd.Timestamp("1900-01-01").value
DUSK: Final = pd.Timestamp("2200-01-01").value
NAT: Final = np.iinfo(np.int64).min  # NaT as int64 ns
RESOLUTION: Final = 1_000  # ns: instants are whole microseconds (the store's); an island lasts one


def overlap(hour: np.ndarray, begin: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Fraction of each hour [hour, hour+1h) covered by [begin, end), all in ns."""
    low = np.maximum(hour * HOUR_NS, begin)
    high = np.minimum((hour + 1) * HOUR_NS, end)
    return np.clip(high - low, 0, None) / HOUR_NS
