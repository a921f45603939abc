"""Internal rating throughput: a 1,000-instance month (October 2026, the example card's price change
on the 15th and its egress tiers included).

Figures: `daily_usage` over the month's hourly rows, and `rate` over the resulting daily rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmarks.common import emit, peak_rss_mib, timed
from stackledger.ratecard import load_rate_card
from stackledger.schema import SERVICES, USAGE_COLUMNS
from stackledger.settings import DEFAULT_RATE_CARD
from stackledger.transforms.rating import daily_usage, rate

INSTANCES = 1_000
PROJECTS = 50
FLAVORS = {"m1.tiny": (1, 512), "m1.small": (1, 2048), "m1.medium": (2, 4096), "m1.large": (4, 8192),
           "m1.xlarge": (8, 16384)}  # fmt: skip


def hourly_month(instances: int = INSTANCES, seed: int = 42) -> pd.DataFrame:
    """Per instance and hour: instance, vCPU, RAM, root disk, egress, ingress; one volume each
    (a third SSD); a floating IP on every fifth instance."""
    rng = np.random.default_rng(seed)
    hours = pd.date_range("2026-10-01", "2026-10-31 23:00", freq="h").to_numpy()
    flavor = rng.choice(list(FLAVORS), size=instances)
    vcpus = np.array([FLAVORS[f][0] for f in flavor], dtype=float)
    ram = np.array([FLAVORS[f][1] for f in flavor], dtype=float)
    project = np.array([f"project-{i % PROJECTS:03d}" for i in range(instances)], dtype=object)
    ids = np.array([f"instance-{i:05d}" for i in range(instances)], dtype=object)
    parts = []

    def block(service: str, resource: np.ndarray, quantity: np.ndarray, **attrs: np.ndarray) -> None:
        n = len(resource)
        frame = pd.DataFrame({
            "charge_period_start": np.repeat(hours[None, :], n, axis=0).ravel(),
            "resource_id": np.repeat(resource, len(hours)),
            "service": service,
            "consumed_quantity": np.repeat(quantity, len(hours)) if quantity.ndim == 1 else quantity.ravel(),
            **{k: np.repeat(v, len(hours)) for k, v in attrs.items()},
        })  # fmt: skip
        frame["resource_type"] = SERVICES[service].resource_type
        frame["consumed_unit"] = SERVICES[service].unit
        parts.append(frame)

    common = {"project_id": project, "flavor_name": flavor, "vcpus": vcpus, "ram_mib": ram}
    block("compute.instance", ids, np.ones(instances), **common)
    block("compute.vcpu", ids, vcpus, **common)
    block("compute.ram", ids, ram / 1024, **common)
    block("compute.disk.root", ids, np.full(instances, 20.0), **common)
    block("network.egress", ids, rng.exponential(0.05, (instances, len(hours))), **common)
    block("network.ingress", ids, rng.exponential(0.02, (instances, len(hours))), **common)
    volumes = np.array([f"volume-{i:05d}" for i in range(instances)], dtype=object)
    block("block.volume", volumes, rng.integers(10, 500, instances).astype(float), project_id=project,
          volume_type=np.where(np.arange(instances) % 3 == 0, "ssd", "standard").astype(object))  # fmt: skip
    ips = np.arange(0, instances, 5)
    block("network.floating_ip", np.array([f"fip-{i:05d}" for i in ips], dtype=object), np.ones(len(ips)),
          project_id=project[ips])  # fmt: skip
    frame = pd.concat(parts, ignore_index=True)
    frame["charge_period_end"] = frame["charge_period_start"] + pd.Timedelta(hours=1)
    frame["region"] = "RegionOne"
    frame["source"] = "ceilometer"
    for column in ("flavor_name", "volume_type"):
        frame[column] = frame[column].where(frame[column].notna(), "" if column == "flavor_name" else None)
    types = {name: dtype for name, dtype in USAGE_COLUMNS.items() if dtype != "object"}
    return frame.reindex(columns=list(USAGE_COLUMNS)).astype(types)


def main() -> None:
    card = load_rate_card(DEFAULT_RATE_CARD)
    hourly = hourly_month()
    with timed() as daily_timer:
        daily = daily_usage(hourly)
    emit("rating", "daily_usage_rows_per_s", len(hourly) / daily_timer.seconds, "rows/s",
         rows=len(hourly), seconds=round(daily_timer.seconds, 3))  # fmt: skip
    rate(daily.head(1000), card)  # warm-up: imports, first Decimal contexts
    with timed() as rate_timer:
        lines = rate(daily, card)
    emit("rating", "rate_rows_per_s", len(daily) / rate_timer.seconds, "rows/s",
         rows=len(daily), cost_lines=len(lines), seconds=round(rate_timer.seconds, 3))  # fmt: skip
    emit("rating", "month_total", float(sum(lines["cost"])), card.currency, instances=INSTANCES)
    emit("rating", "peak_rss", peak_rss_mib(), "MiB")


if __name__ == "__main__":
    main()
