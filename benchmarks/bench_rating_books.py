"""Rating a 30-day month of 10,000 instances and 10,000 volumes (14.4 million hourly usage rows)
through all three price books — internal, AWS and DigitalOcean — on the pure transforms path:
`daily_usage`, then `rate` and `rate_baseline` (the same functions `stackledger rate` calls).

Figures: wall time, rows/s and peak RSS of that path, and its ratio to a bare pandas lower bound
measured in the same run over the same frame: ONE vectorised merge of a per-(service, flavor,
volume type) price table and one multiply — although the path prices three books (the ratio to
one merge per book is printed too, as `vs_merge_per_book`). Targets: ≤ 30 s, ≤ 4 GiB, ratio ≤ 5.
"""

from __future__ import annotations

import datetime as dt
import gc
from decimal import Decimal

import numpy as np
import pandas as pd

from benchmarks.common import emit, peak_rss_mib, timed
from stackledger.model import BaselineConfig, FxRate
from stackledger.ratecard import load_rate_card
from stackledger.schema import SERVICES, USAGE_COLUMNS
from stackledger.settings import DEFAULT_RATE_CARD
from stackledger.transforms.baselines import rate_baseline
from stackledger.transforms.pricebooks import packaged_price_book
from stackledger.transforms.rating import daily_usage, rate

BENCH = "rating_books"
INSTANCES = 10_000
VOLUMES = 10_000
PROJECTS = 200
HOURS = 30 * 24
FLAVORS = {"m1.tiny": (1, 512), "m1.small": (1, 2048), "m1.medium": (2, 4096), "m1.large": (4, 8192),
           "m1.xlarge": (8, 16384)}  # fmt: skip
FX = [FxRate("USD", "EUR", Decimal("0.92"), dt.date(2026, 1, 1))]


def hourly_month(seed: int = 7) -> pd.DataFrame:
    """One compute.instance row per instance-hour and one block.volume row per volume-hour."""
    rng = np.random.default_rng(seed)
    hours = pd.date_range("2026-09-01", periods=HOURS, freq="h").to_numpy()
    n = INSTANCES + VOLUMES
    flavor = rng.choice(list(FLAVORS), size=INSTANCES)
    is_instance = np.arange(n) < INSTANCES
    per_resource = pd.DataFrame({
        "project_id": pd.Categorical([f"project-{i % PROJECTS:03d}" for i in range(n)]),
        "resource_id": pd.Categorical([f"instance-{i:05d}" if i < INSTANCES else f"volume-{i:05d}" for i in range(n)]),
        "resource_type": pd.Categorical(np.where(is_instance, "instance", "volume")),
        "service": pd.Categorical(np.where(is_instance, "compute.instance", "block.volume")),
        "consumed_unit": pd.Categorical(np.where(is_instance, SERVICES["compute.instance"].unit,
                                                 SERVICES["block.volume"].unit)),
        "flavor_name": pd.Categorical(np.r_[flavor, np.full(VOLUMES, "")]),
        "vcpus": np.r_[[FLAVORS[f][0] for f in flavor], np.full(VOLUMES, np.nan)].astype(float),
        "ram_mib": np.r_[[FLAVORS[f][1] for f in flavor], np.full(VOLUMES, np.nan)].astype(float),
        "volume_type": pd.Categorical(np.r_[np.full(INSTANCES, None), np.where(np.arange(VOLUMES) % 3 == 0, "ssd",
                                                                                 "standard")]),
        "quantity": np.r_[np.ones(INSTANCES), rng.integers(10, 500, VOLUMES).astype(float)],
    })  # fmt: skip
    frame = per_resource.take(np.repeat(np.arange(n), HOURS)).reset_index(drop=True)
    frame["charge_period_start"] = np.tile(hours, n)
    frame["charge_period_end"] = frame["charge_period_start"] + pd.Timedelta(hours=1)
    frame["consumed_quantity"] = frame.pop("quantity")
    frame["region"] = pd.Categorical(["RegionOne"] * len(frame))
    frame["source"] = pd.Categorical(["ceilometer"] * len(frame))
    return frame[list(USAGE_COLUMNS)]


def lower_bound(hourly: pd.DataFrame, books: int) -> float:
    """Seconds for `books` × (one merge of a price per (service, flavor, volume type) + one multiply)."""
    keys = ["service", "flavor_name", "volume_type"]
    prices = hourly[keys].drop_duplicates().reset_index(drop=True)
    prices["price"] = np.linspace(0.01, 0.2, len(prices))
    with timed() as timer:
        for _ in range(books):
            merged = hourly[[*keys, "consumed_quantity"]].merge(prices, on=keys, how="left")
            cost = merged["consumed_quantity"].to_numpy() * merged["price"].to_numpy()
            del merged, cost
    return timer.seconds


def main() -> None:
    card = load_rate_card(DEFAULT_RATE_CARD)
    book = packaged_price_book()
    aws = BaselineConfig("aws", "eu-north-1", ("m5", "m6i", "m7i"))
    do = BaselineConfig("digitalocean", "all", ("s",))
    hourly = hourly_month()
    rows = len(hourly)
    gc.collect()
    single = lower_bound(hourly, books=1)
    bound = lower_bound(hourly, books=3)
    emit(BENCH, "pandas_lower_bound", single, "s", rows=rows, merges=1, merge_per_book=round(bound, 4))
    with timed() as total:
        with timed() as daily_timer:
            daily = daily_usage(hourly)
        with timed() as internal_timer:
            internal = rate(daily, card)
        with timed() as aws_timer:
            aws_lines = rate_baseline(daily, book, aws, currency=card.currency, fx=FX)
        with timed() as do_timer:
            do_lines = rate_baseline(daily, book, do, currency=card.currency, fx=FX)
    lines = len(internal) + len(aws_lines) + len(do_lines)
    emit(BENCH, "daily_usage", daily_timer.seconds, "s", rows=rows, daily_rows=len(daily))
    emit(BENCH, "rate_internal", internal_timer.seconds, "s", cost_lines=len(internal))
    emit(BENCH, "rate_aws", aws_timer.seconds, "s", cost_lines=len(aws_lines))
    emit(BENCH, "rate_digitalocean", do_timer.seconds, "s", cost_lines=len(do_lines))
    emit(BENCH, "wall_time", total.seconds, "s", rows=rows, cost_lines=lines, target=30)
    emit(BENCH, "rows_per_s", rows / total.seconds, "rows/s", rows=rows)
    emit(BENCH, "ratio_to_pandas_lower_bound", total.seconds / single, "x", target=5,
         bound="one merge and multiply", vs_merge_per_book=round(total.seconds / bound, 2))  # fmt: skip
    emit(BENCH, "peak_rss", peak_rss_mib(), "MiB", target=4096)
    for name, lines_frame in (("internal", internal), ("aws", aws_lines), ("digitalocean", do_lines)):
        emit(BENCH, f"month_total_{name}", float(sum(lines_frame["cost"], Decimal(0))), card.currency)


if __name__ == "__main__":
    main()
