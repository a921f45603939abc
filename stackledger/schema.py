"""The canonical records, their columns, and the meter → service → unit table.

Every stage boundary validates frames with `validate_frame`. Times are UTC and naive
(`datetime64[ns]` without tz) inside frames and the database; periods are [start, end).
Unit conversion happens once, here, from a meter's declared unit to its service's unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

import pandas as pd

from stackledger.errors import SchemaError

HOUR: Final = pd.Timedelta(hours=1)
HOURS_PER_MONTH: Final = 730  # the public clouds' billing month, for per-month prices

# ---------------------------------------------------------------- records (DESIGN §3)

SAMPLE_COLUMNS: Final = {
    "message_id": "object",
    "meter": "object",
    "type": "object",
    "unit": "object",
    "volume": "float64",
    "project_id": "object",
    "user_id": "object",
    "resource_id": "object",
    "timestamp": "datetime64[ns]",
    "metadata": "object",  # dict
    "source": "object",
}

RESOURCE_COLUMNS: Final = {
    "resource_id": "object",
    "resource_type": "object",
    "project_id": "object",
    "name": "object",
    "region": "object",
    "flavor_name": "object",
    "vcpus": "float64",
    "ram_mib": "float64",
    "disk_gib": "float64",
    "volume_type": "object",
    "size_gib": "float64",
    "started_at": "datetime64[ns]",
    "ended_at": "datetime64[ns]",
    "valid_from": "datetime64[ns]",
    "valid_to": "datetime64[ns]",
}

# Attributes a rate card or baseline can price on; carried from usage to cost lines.
RATING_ATTRIBUTES: Final = ("flavor_name", "vcpus", "ram_mib", "volume_type", "region")

USAGE_COLUMNS: Final = {
    "charge_period_start": "datetime64[ns]",
    "charge_period_end": "datetime64[ns]",
    "project_id": "object",
    "resource_id": "object",
    "resource_type": "object",
    "service": "object",
    "consumed_quantity": "float64",
    "consumed_unit": "object",
    "flavor_name": "object",
    "vcpus": "float64",
    "ram_mib": "float64",
    "volume_type": "object",
    "region": "object",
    "source": "object",
}

COST_COLUMNS: Final = {
    "charge_period_start": "datetime64[ns]",
    "charge_period_end": "datetime64[ns]",
    "project_id": "object",
    "resource_id": "object",
    "resource_type": "object",
    "service": "object",
    "flavor_name": "object",
    "volume_type": "object",
    "region": "object",
    "consumed_quantity": "float64",
    "consumed_unit": "object",
    "price_book": "object",
    "sku": "object",
    "list_unit_price": "object",  # Decimal
    "pricing_quantity": "object",  # Decimal
    "pricing_unit": "object",
    "cost": "object",  # Decimal, rounded once to COST_DECIMALS
    "currency": "object",
    "price_as_of": "object",  # datetime.date
}

PROJECT_COLUMNS: Final = {
    "project_id": "object",
    "name": "object",
    "domain_id": "object",
    "parent_id": "object",
    "tags": "object",  # list[str]
    "team": "object",
    "cost_center": "object",
    "budget_amount": "object",  # Decimal or None
    "budget_currency": "object",
    "budget_period": "object",
}

# Usage a price book could not price as usual (transforms.findings): stored beside the cost lines,
# replaced with them per price book and span of days, and shown by every report.
FINDING_COLUMNS: Final = {
    "charge_period_start": "datetime64[ns]",
    "charge_period_end": "datetime64[ns]",
    "price_book": "object",
    "kind": "object",  # transforms.findings.KINDS: what was wrong with the usage
    "effect": "object",  # "unpriced" (no cost line) or "base price" (priced without the attribute)
    "project_id": "object",  # None: unallocated usage
    "resource_id": "object",
    "resource_type": "object",
    "service": "object",
    "subject": "object",  # what could not be priced: a flavor and its size, a volume type id
    "consumed_quantity": "float64",
    "consumed_unit": "object",
    "reason": "object",  # one sentence for people, naming the subject and what to do
}

COST_DECIMALS: Final = 6  # cost lines are rounded once, here, and never again

# Price books: the cloud's own rate card (the one that is billed), then the public comparisons.
INTERNAL_BOOK: Final = "internal"
PRICE_BOOKS: Final = (INTERNAL_BOOK, "aws", "digitalocean")

# Usage without a project (Ceilometer's `project_id: null`) is priced like any other and kept
# under this pseudo-project in every report: its rows carry project_id None (NULL in the store,
# '' in the CSV), UNALLOCATED names them in ids and file names, UNALLOCATED_NAME for people.
UNALLOCATED: Final = "unallocated"
UNALLOCATED_NAME: Final = "Unallocated (no project)"

# ---------------------------------------------------------------- services and units

MeterKind = Literal["gauge", "cumulative", "delta", "status"]


@dataclass(frozen=True)
class Service:
    name: str
    unit: str  # the consumed_unit written on usage lines
    resource_type: str


SERVICES: Final = {
    s.name: s
    for s in (
        Service("compute.instance", "instance-hour", "instance"),
        Service("compute.vcpu", "vCPU-hour", "instance"),
        Service("compute.ram", "GiB-hour", "instance"),
        Service("compute.disk.root", "GiB-hour", "instance"),
        Service("compute.disk.ephemeral", "GiB-hour", "instance"),
        Service("block.volume", "GiB-hour", "volume"),
        Service("block.snapshot", "GiB-hour", "snapshot"),
        Service("block.backup", "GiB-hour", "backup"),
        Service("image.storage", "GiB-hour", "image"),
        Service("network.egress", "GiB", "instance"),
        Service("network.ingress", "GiB", "instance"),
        Service("network.floating_ip", "IP-hour", "floating_ip"),
    )
}


@dataclass(frozen=True)
class Meter:
    name: str
    kind: MeterKind
    unit: str  # Ceilometer's declared unit
    service: str | None  # None: the meter only marks an instance as alive (cpu)


# Ceilometer meters we rate (units from meters.yaml / telemetry-measurements).
METERS: Final = {
    m.name: m
    for m in (
        Meter("cpu", "cumulative", "ns", None),
        Meter("vcpus", "gauge", "vcpu", "compute.vcpu"),
        Meter("memory", "gauge", "MiB", "compute.ram"),
        Meter("disk.root.size", "gauge", "GiB", "compute.disk.root"),
        Meter("disk.ephemeral.size", "gauge", "GiB", "compute.disk.ephemeral"),
        Meter("volume.size", "gauge", "GiB", "block.volume"),
        Meter("snapshot.size", "gauge", "GiB", "block.snapshot"),
        Meter("backup.size", "gauge", "GiB", "block.backup"),
        Meter("image.size", "gauge", "B", "image.storage"),
        Meter("network.outgoing.bytes", "cumulative", "B", "network.egress"),
        Meter("network.incoming.bytes", "cumulative", "B", "network.ingress"),
        Meter("network.outgoing.bytes.delta", "delta", "B", "network.egress"),
        Meter("network.incoming.bytes.delta", "delta", "B", "network.ingress"),
        Meter("ip.floating", "status", "ip", "network.floating_ip"),
    )
}

# Meters whose presence in an hour makes that hour an instance-hour (the `instance`
# meter was dropped from Ceilometer in 2017; CloudKitty counts from `cpu` the same way).
INSTANCE_PRESENCE_METERS: Final = frozenset({"cpu", "vcpus", "memory"})

# Factor from a declared unit to the unit a service is priced in (per hour where it is a gauge).
UNIT_FACTORS: Final = {
    ("vcpu", "vCPU-hour"): 1.0,
    ("MiB", "GiB-hour"): 1 / 1024,
    ("GiB", "GiB-hour"): 1.0,
    ("B", "GiB-hour"): 1 / 1024**3,
    ("B", "GiB"): 1 / 1024**3,
    ("ip", "IP-hour"): 1.0,
}

FLOATING_IP_ACTIVE: Final = 1.0  # ip.floating's volume is a status code; 1 means active


def unit_factor(meter: Meter) -> float:
    """The one place a meter's declared unit turns into its service's unit."""
    if meter.service is None:
        raise SchemaError(f"meter {meter.name} is not priced on its own")
    key = (meter.unit, SERVICES[meter.service].unit)
    try:
        return UNIT_FACTORS[key]
    except KeyError:
        raise SchemaError(f"no conversion from {key[0]} to {key[1]} for meter {meter.name}") from None


# ---------------------------------------------------------------- validation


def empty_frame(columns: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in columns.items()})


def validate_frame(frame: pd.DataFrame, columns: dict[str, str], *, stage: str) -> pd.DataFrame:
    """Check that `frame` has every canonical column with a compatible dtype.

    Returns the frame restricted to the canonical columns, in canonical order.
    """
    missing = [name for name in columns if name not in frame.columns]
    if missing:
        raise SchemaError(f"{stage}: missing columns {missing}")
    wrong = [
        f"{name} is {frame[name].dtype}, expected {dtype}"
        for name, dtype in columns.items()
        if not _dtype_ok(frame[name], dtype)
    ]
    if wrong:
        raise SchemaError(f"{stage}: " + "; ".join(wrong))
    return frame[list(columns)]


def _dtype_ok(series: pd.Series, dtype: str) -> bool:
    if dtype == "float64":
        return pd.api.types.is_numeric_dtype(series)
    if dtype.startswith("datetime64"):
        return pd.api.types.is_datetime64_dtype(series) and getattr(series.dt, "tz", None) is None
    return True  # object / str columns may hold str, None or Python objects
