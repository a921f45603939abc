"""Internal rating on tiny inline frames; every expected figure is worked out by hand beside it."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import pandas as pd
import pytest

from stackledger.errors import PricingError, SchemaError
from stackledger.model import RateCard
from stackledger.ratecard import loads, parse_rate_card
from stackledger.schema import COST_COLUMNS, SERVICES, USAGE_COLUMNS
from stackledger.transforms.findings import BASE_PRICE, TYPE_UNRESOLVED
from stackledger.transforms.rating import daily_usage, price, rate

D = Decimal
OCT = dt.date(2026, 10, 1)


def card(text: str) -> RateCard:
    return parse_rate_card(loads("currency: EUR\n" + text, source="test-card"), source="test-card")


def usage(*rows: dict[str, Any]) -> pd.DataFrame:
    """Usage rows; each defaults to one full UTC day (2026-10-01) of one resource in project p1."""
    full = []
    for row in rows:
        service = row["service"]
        start = pd.Timestamp(row.pop("day", OCT))
        hours = row.pop("hours", 24)
        full.append({
            "charge_period_start": start, "charge_period_end": start + pd.Timedelta(hours=hours),
            "project_id": "p1", "resource_id": "r1", "resource_type": SERVICES[service].resource_type,
            "consumed_unit": SERVICES[service].unit, "flavor_name": "", "vcpus": None, "ram_mib": None,
            "volume_type": None, "region": "RegionOne", "source": "test", **row,
        })  # fmt: skip
    types = {name: dtype for name, dtype in USAGE_COLUMNS.items() if dtype != "object"}
    return pd.DataFrame(full, columns=list(USAGE_COLUMNS)).astype(types)


def hourly(service: str, quantity: float, hours: int, **extra: Any) -> pd.DataFrame:
    """`hours` consecutive hourly rows from 2026-10-01 00:00."""
    start = pd.Timestamp(OCT)
    return pd.concat(
        [usage({"service": service, "consumed_quantity": quantity, "day": start + pd.Timedelta(hours=h), "hours": 1,
                **extra}) for h in range(hours)],
        ignore_index=True,
    )  # fmt: skip


def one(lines: pd.DataFrame, **where: Any) -> pd.Series:
    mask = pd.Series(True, index=lines.index)
    for column, value in where.items():
        mask &= lines[column] == value
    assert mask.sum() == 1, f"{mask.sum()} lines match {where}:\n{lines}"
    return lines[mask].iloc[0]


BASE = """valid_from: 2026-01-01
rates:
  compute.instance: 0
  compute.vcpu: 0.021
  compute.ram: 0.0045
  block.volume: {price: 0.08, per: GiB-month}
  network.ingress: 0
"""


def test_base_rates_per_service_unit() -> None:
    lines = rate(usage(
        {"service": "compute.vcpu", "consumed_quantity": 48.0},   # 2 vCPUs × 24 h
        {"service": "compute.ram", "consumed_quantity": 96.0},    # 4 GiB × 24 h
        {"service": "compute.instance", "consumed_quantity": 24.0},
    ), card(BASE))  # fmt: skip
    assert list(lines.columns) == list(COST_COLUMNS)
    vcpu = one(lines, service="compute.vcpu")
    assert vcpu["sku"] == "internal:compute.vcpu"
    assert vcpu["price_book"] == "internal"
    assert vcpu["list_unit_price"] == D("0.021")
    assert vcpu["pricing_quantity"] == D("48")
    assert vcpu["pricing_unit"] == "vCPU-hour"
    assert vcpu["cost"] == D("1.008")  # 48 × 0.021
    assert vcpu["currency"] == "EUR"
    assert vcpu["price_as_of"] == dt.date(2026, 1, 1)
    assert one(lines, service="compute.ram")["cost"] == D("0.432")  # 96 × 0.0045
    assert one(lines, service="compute.instance")["cost"] == D(0)  # explicit 0: a line, costing nothing
    assert lines["cost"].map(lambda c: c.as_tuple().exponent).eq(-6).all()  # 6 decimals, always


def test_per_gib_month_price_is_per_730_hours() -> None:
    lines = rate(usage(
        {"service": "block.volume", "consumed_quantity": 2400.0, "resource_id": "v1"},  # 100 GiB × 24 h
        {"service": "block.volume", "consumed_quantity": 730.0, "resource_id": "v2"},   # 1 GiB-month exactly
    ), card(BASE))  # fmt: skip
    v1 = one(lines, resource_id="v1")
    assert v1["pricing_unit"] == "GiB-month"
    assert v1["list_unit_price"] == D("0.08")  # the card's price, as written
    assert v1["pricing_quantity"] == D("3.287671233")  # 2400 / 730 = 3.28767123287… → 9 decimals
    assert v1["cost"] == D("0.263014")  # 3.287671233 × 0.08 = 0.26301369864 → 0.263014
    assert v1["consumed_quantity"] == 2400.0
    v2 = one(lines, resource_id="v2")
    assert (v2["pricing_quantity"], v2["cost"]) == (D(1), D("0.08"))


OVERRIDES = (
    BASE
    + """overrides:
  - {service: compute.instance, match: {flavor_name: m1.large, region: RegionTwo}, price: 0.5}
  - {service: compute.instance, match: {flavor_name: m1.large}, price: 0.01}
  - {service: block.volume, match: {volume_type: ssd}, price: 0.15, per: GiB-month}
  - {service: block.volume, match: {volume_type: standard}, price: 0.000073}
"""
)


def test_overrides_by_flavor_and_volume_type_win_over_the_base_rate() -> None:
    lines = rate(usage(
        {"service": "compute.instance", "consumed_quantity": 24.0, "resource_id": "big", "flavor_name": "m1.large"},
        {"service": "compute.instance", "consumed_quantity": 24.0, "resource_id": "far", "flavor_name": "m1.large",
         "region": "RegionTwo"},
        {"service": "compute.instance", "consumed_quantity": 24.0, "resource_id": "small", "flavor_name": "m1.small"},
        {"service": "block.volume", "consumed_quantity": 2400.0, "resource_id": "fast", "volume_type": "ssd"},
        {"service": "block.volume", "consumed_quantity": 2400.0, "resource_id": "slow", "volume_type": "standard"},
        {"service": "block.volume", "consumed_quantity": 2400.0, "resource_id": "other", "volume_type": "nfs"},
    ), card(OVERRIDES))  # fmt: skip
    big = one(lines, resource_id="big")
    assert (big["sku"], big["list_unit_price"], big["cost"]) == ("internal:compute.instance:m1.large", D("0.01"),
                                                                 D("0.24"))  # 24 × 0.01  # fmt: skip
    far = one(lines, resource_id="far")  # the first matching override wins: the more specific is listed first
    assert (far["sku"], far["cost"]) == ("internal:compute.instance:m1.large:RegionTwo", D(12))  # 24 × 0.5
    small = one(lines, resource_id="small")
    assert (small["sku"], small["cost"]) == ("internal:compute.instance", D(0))
    fast = one(lines, resource_id="fast")
    assert (fast["sku"], fast["pricing_unit"]) == ("internal:block.volume:ssd", "GiB-month")
    assert fast["cost"] == D("0.493151")  # 3.287671233 × 0.15 = 0.49315068495
    slow = one(lines, resource_id="slow")  # an override may use another unit than the base rate
    assert (slow["sku"], slow["pricing_unit"], slow["pricing_quantity"]) == ("internal:block.volume:standard",
                                                                             "GiB-hour", D(2400))  # fmt: skip
    assert slow["cost"] == D("0.1752")  # 2400 × 0.000073
    assert one(lines, resource_id="other")["sku"] == "internal:block.volume"


TIERS = """valid_from: 2026-01-01
tiers:
  network.egress:
    - {up_to: 10, price: 0.05}
    - {up_to: 100, price: 0.02}
    - {up_to: null, price: 0.01}
"""


def test_tiers_are_graduated_over_the_project_month() -> None:
    day = [dt.date(2026, 10, d) for d in (1, 2, 3)]
    lines = rate(usage(
        {"service": "network.egress", "consumed_quantity": 6.0, "day": day[0]},
        {"service": "network.egress", "consumed_quantity": 6.0, "day": day[1]},
        {"service": "network.egress", "consumed_quantity": 100.0, "day": day[2]},
        {"service": "network.egress", "consumed_quantity": 5.0, "day": day[2], "project_id": "p2", "resource_id": "r2"},
        {"service": "network.egress", "consumed_quantity": 3.0, "day": dt.date(2026, 11, 1)},
    ), card(TIERS))  # fmt: skip
    got = {(str(r.charge_period_start.date()), r.project_id, r.sku): (r.pricing_quantity, r.cost)
           for r in lines.itertuples()}  # fmt: skip
    assert got == {
        # p1: 6 GiB, all in tier 1 (month so far 0 → 6)
        ("2026-10-01", "p1", "internal:network.egress:tier1"): (D(6), D("0.30")),  # 6 × 0.05
        # 6 → 12 crosses 10: 4 GiB at tier 1, 2 at tier 2
        ("2026-10-02", "p1", "internal:network.egress:tier1"): (D(4), D("0.20")),  # 4 × 0.05
        ("2026-10-02", "p1", "internal:network.egress:tier2"): (D(2), D("0.04")),  # 2 × 0.02
        # 12 → 112: 88 GiB at tier 2 (to 100), 12 at tier 3
        ("2026-10-03", "p1", "internal:network.egress:tier2"): (D(88), D("1.76")),  # 88 × 0.02
        ("2026-10-03", "p1", "internal:network.egress:tier3"): (D(12), D("0.12")),  # 12 × 0.01
        # p2 has its own month: 5 GiB at tier 1
        ("2026-10-03", "p2", "internal:network.egress:tier1"): (D(5), D("0.25")),
        # November starts again at tier 1
        ("2026-11-01", "p1", "internal:network.egress:tier1"): (D(3), D("0.15")),
    }
    # the split lines carry their share of the consumed quantity
    assert lines["consumed_quantity"].sum() == 6 + 6 + 100 + 5 + 3


def test_tiers_within_a_day_go_by_resource_id_and_zero_lines_stay_visible() -> None:
    lines = rate(usage(
        {"service": "network.egress", "consumed_quantity": 8.0, "resource_id": "b"},
        {"service": "network.egress", "consumed_quantity": 8.0, "resource_id": "a"},
        {"service": "network.egress", "consumed_quantity": 0.0, "resource_id": "c"},
    ), card(TIERS))  # fmt: skip
    got = sorted((r.resource_id, r.sku, r.pricing_quantity) for r in lines.itertuples())
    # a: 0 → 8 in tier 1; b: 8 → 16, 2 in tier 1 and 6 in tier 2; c: nothing, at the tier reached (2)
    assert got == [
        ("a", "internal:network.egress:tier1", D(8)),
        ("b", "internal:network.egress:tier1", D(2)),
        ("b", "internal:network.egress:tier2", D(6)),
        ("c", "internal:network.egress:tier2", D(0)),
    ]


def test_a_service_without_a_price_is_an_error_naming_it() -> None:
    with pytest.raises(PricingError) as caught:
        rate(usage({"service": "block.snapshot", "consumed_quantity": 24.0}), card(BASE))
    assert caught.value.service == "block.snapshot"
    assert caught.value.sku == "internal:block.snapshot"
    assert "no price for block.snapshot" in str(caught.value)
    assert "test-card" in str(caught.value)


def test_an_override_only_service_names_the_unmatched_flavor() -> None:
    only = "valid_from: 2026-01-01\noverrides: [{service: compute.instance, match: {flavor_name: m1.large}, price: 1}]"
    with pytest.raises(PricingError, match=r"no price for compute\.instance \(flavor m1\.tiny\)") as caught:
        rate(usage({"service": "compute.instance", "consumed_quantity": 24.0, "flavor_name": "m1.tiny"}),
             card(only + "\nrates: {compute.vcpu: 1}\n"))  # fmt: skip
    assert caught.value.service == "compute.instance"


SPLIT = """periods:
  - valid_from: 2026-01-01
    valid_to: 2026-10-15
    rates: {compute.vcpu: 0.02}
  - valid_from: 2026-10-15
    rates: {compute.vcpu: 0.03}
"""


def test_a_price_change_on_the_15th_splits_the_month_by_day() -> None:
    days = [dt.date(2026, 10, d) for d in range(1, 32)]
    lines = rate(usage(*({"service": "compute.vcpu", "consumed_quantity": 24.0, "day": d} for d in days)), card(SPLIT))
    before = lines[lines["charge_period_start"] < pd.Timestamp("2026-10-15")]
    after = lines[lines["charge_period_start"] >= pd.Timestamp("2026-10-15")]
    assert len(before) == 14 and len(after) == 17  # 1–14 old price, 15–31 new
    assert set(before["list_unit_price"]) == {D("0.02")} and set(after["list_unit_price"]) == {D("0.03")}
    assert set(before["price_as_of"]) == {dt.date(2026, 1, 1)} and set(after["price_as_of"]) == {dt.date(2026, 10, 15)}
    assert sum(before["cost"]) == D("6.72")  # 14 × 24 × 0.02
    assert sum(after["cost"]) == D("12.24")  # 17 × 24 × 0.03
    assert sum(lines["cost"]) == D("18.96")


def test_a_day_no_period_covers_is_an_error() -> None:
    with pytest.raises(PricingError, match=r"no price period covering 2025-12-31"):
        rate(usage({"service": "compute.vcpu", "consumed_quantity": 1.0, "day": dt.date(2025, 12, 31)}), card(SPLIT))


def test_decimals_are_exact() -> None:
    exact = card("valid_from: 2026-01-01\nrates: {compute.vcpu: 0.1}\n")
    line = one(rate(usage({"service": "compute.vcpu", "consumed_quantity": 3.0}), exact))
    assert line["list_unit_price"] == D("0.1")
    assert line["cost"] == D("0.3")  # in binary floats 3 × 0.1 is 0.30000000000000004
    many = rate(usage(*({"service": "compute.vcpu", "consumed_quantity": 1.0, "resource_id": f"r{i}"}
                        for i in range(10_000))), exact)  # fmt: skip
    assert sum(many["cost"]) == D(1000)  # 10 000 × 0.1, exactly
    assert sum(float(c) for c in many["cost"]) != 1000.0  # what a float total would have drifted to


def test_cost_is_rounded_once_half_even_from_the_line_s_own_columns() -> None:
    tiny = card("valid_from: 2026-01-01\nrates: {compute.vcpu: 0.0000004}\n")
    # 24 hours of 0.0000004: rounded per hour each would be 0; the day's line is 0.0000096 → 0.00001
    daily = daily_usage(hourly("compute.vcpu", 1.0, 24))
    assert one(rate(daily, tiny))["cost"] == D("0.00001")
    half = card("valid_from: 2026-01-01\nrates: {compute.vcpu: 0.0000005}\n")
    lines = rate(usage({"service": "compute.vcpu", "consumed_quantity": 5.0, "resource_id": "odd"},  # 0.0000025
                       {"service": "compute.vcpu", "consumed_quantity": 7.0, "resource_id": "even"}),  # 0.0000035
                 half)  # fmt: skip
    assert one(lines, resource_id="odd")["cost"] == D("0.000002")  # half to even: down
    assert one(lines, resource_id="even")["cost"] == D("0.000004")  # half to even: up
    for line in rate(usage({"service": "block.volume", "consumed_quantity": 1234.5678}), card(BASE)).itertuples():
        assert line.cost == (line.list_unit_price * line.pricing_quantity).quantize(D("0.000001"), ROUND_HALF_EVEN)


def test_large_quantities_and_fine_prices_do_not_overflow() -> None:
    fine = card("valid_from: 2026-01-01\nrates: {block.volume: {price: 123.4567890123, per: GiB-month}}\n")
    quantity = 4_000_000_000.0  # GiB-hours: price × quantity in integers is past int64
    line = one(rate(usage({"service": "block.volume", "consumed_quantity": quantity}), fine))
    expected_quantity = (D(4_000_000_000) / 730).quantize(D("1E-9"), ROUND_HALF_EVEN)
    assert line["pricing_quantity"] == expected_quantity
    assert line["cost"] == (D("123.4567890123") * expected_quantity).quantize(D("0.000001"), ROUND_HALF_EVEN)


def test_daily_usage_sums_hours_exactly_per_day_and_flavor() -> None:
    hours = pd.concat([
        hourly("compute.vcpu", 0.1, 30, flavor_name="m1.small"),  # 24 h on Oct 1, 6 on Oct 2
        hourly("compute.vcpu", 0.2, 3, flavor_name="m1.large"),   # resized: its own line
    ], ignore_index=True)  # fmt: skip
    daily = daily_usage(hours.sample(frac=1, random_state=7))  # row order does not matter
    assert list(daily.columns) == list(USAGE_COLUMNS)
    got = {(str(r.charge_period_start.date()), r.flavor_name): r.consumed_quantity for r in daily.itertuples()}
    assert got == {("2026-10-01", "m1.large"): 0.6, ("2026-10-01", "m1.small"): 2.4, ("2026-10-02", "m1.small"): 0.6}
    assert (daily["charge_period_end"] - daily["charge_period_start"] == pd.Timedelta(days=1)).all()
    # 2.4 exactly: the float sum of 24 × 0.1 would be 2.4000000000000004
    assert daily["consumed_quantity"].max() == 2.4


def test_rate_refuses_usage_that_is_not_daily() -> None:
    with pytest.raises(SchemaError, match="one UTC day"):
        rate(hourly("compute.vcpu", 1.0, 2), card(BASE))
    with pytest.raises(SchemaError, match="non-negative"):
        rate(usage({"service": "compute.vcpu", "consumed_quantity": -1.0}), card(BASE))


def test_a_volume_retyped_mid_day_at_one_price_is_one_line() -> None:
    # Two daily rows of one volume (two types, both at the base price) would break the store's
    # unique key (day, project, resource, service, flavor, SKU): one line, quantities summed first.
    lines = rate(usage(
        {"service": "block.volume", "consumed_quantity": 100.0, "volume_type": "gold"},
        {"service": "block.volume", "consumed_quantity": 630.0, "volume_type": "silver"},
    ), card(BASE))  # fmt: skip
    line = one(lines, sku="internal:block.volume")
    assert (line["pricing_quantity"], line["cost"]) == (D(1), D("0.08"))  # 730 GiB-hours = 1 GiB-month
    assert line["volume_type"] == "silver"  # the attributes of the greatest row, deterministically


def test_a_resource_with_and_without_a_project_on_one_day_has_a_line_for_each() -> None:
    # Ceilometer's `project_id: null` on some of an instance's samples: usage keeps each hour's own
    # project, so the day has 20 vCPU-hours of p1 and 4 unallocated ones — two lines, both priced.
    lines = rate(usage(
        {"service": "compute.vcpu", "consumed_quantity": 20.0},
        {"service": "compute.vcpu", "consumed_quantity": 4.0, "project_id": None},
    ), card(BASE))  # fmt: skip
    assert len(lines) == 2
    assert one(lines, project_id="p1")["cost"] == D("0.42")  # 20 × 0.021
    unallocated = lines[lines["project_id"].isna()].iloc[0]
    assert (unallocated["sku"], unallocated["cost"]) == ("internal:compute.vcpu", D("0.084"))  # 4 × 0.021
    assert sum(lines["cost"], D(0)) == D("0.504")  # 24 × 0.021: nothing dropped, nothing doubled


SSD_ID = "6a1f5c0e-3b2d-4c1e-9f8a-7b6c5d4e3f21"
LOST_ID = "0c0ffee0-0000-4000-8000-000000000000"


def test_volume_type_ids_resolve_before_overrides_and_an_unknown_id_is_a_finding() -> None:
    volumes = usage(
        {"service": "block.volume", "consumed_quantity": 2400.0, "resource_id": "fast", "volume_type": SSD_ID},
        {"service": "block.volume", "consumed_quantity": 2400.0, "resource_id": "lost", "volume_type": LOST_ID},
        {"service": "block.volume", "consumed_quantity": 2400.0, "resource_id": "named", "volume_type": "ssd"},
    )  # fmt: skip
    result = price(volumes, card(OVERRIDES), {SSD_ID: "ssd"})
    fast = one(result.lines, resource_id="fast")
    assert (fast["sku"], fast["volume_type"], fast["cost"]) == ("internal:block.volume:ssd", "ssd", D("0.493151"))
    lost = one(result.lines, resource_id="lost")  # the base price: 2400 / 730 = 3.287671233 GiB-month × 0.08
    assert (lost["sku"], lost["volume_type"], lost["cost"]) == ("internal:block.volume", LOST_ID, D("0.263014"))
    assert len(result.findings) == 1
    found = result.findings.iloc[0]
    assert (found["kind"], found["effect"], found["resource_id"]) == (TYPE_UNRESOLVED, BASE_PRICE, "lost")
    assert (found["consumed_quantity"], found["consumed_unit"]) == (2400.0, "GiB-hour")
    assert found["subject"] == f"volume type id {LOST_ID}"
    assert "priced at internal:block.volume" in found["reason"]
    # A card that prices volumes by no type: the id changes nothing, there is nothing to report.
    assert price(volumes, card(BASE), {SSD_ID: "ssd"}).findings.empty
    # Without the types collected, both ids are unresolved.
    assert sorted(price(volumes, card(OVERRIDES)).findings["resource_id"]) == ["fast", "lost"]


def test_empty_usage_gives_empty_cost_lines() -> None:
    empty = usage()
    assert list(daily_usage(empty).columns) == list(USAGE_COLUMNS)
    assert rate(empty, card(BASE)).empty


def test_daily_usage_agrees_with_a_pandas_groupby_on_mixed_shuffled_input() -> None:
    import numpy as np

    rng = np.random.default_rng(5)
    hours = pd.concat([hourly("compute.vcpu", 1.0, 50, resource_id=f"vm-{i}") for i in range(6)], ignore_index=True)
    n = len(hours)
    hours["consumed_quantity"] = rng.integers(0, 10**6, n) / 1000
    hours["flavor_name"] = rng.choice(["m1.small", "m1.large", None], n)
    hours["vcpus"] = np.where(rng.random(n) < 0.3, np.nan, rng.integers(1, 9, n))
    hours["source"] = rng.choice(["gnocchi", "ceilometer"], n)
    hours["resource_id"] = pd.Categorical(hours["resource_id"], categories=[f"vm-{i}" for i in reversed(range(6))])
    hours = hours.sample(frac=1, random_state=1).reset_index(drop=True)
    daily = daily_usage(hours)
    keys = ["day", "resource_id", "flavor_name"]

    def keyed(frame: pd.DataFrame, day: pd.Series) -> pd.DataFrame:  # NaN keys do not join: name them
        return frame.assign(day=day, resource_id=frame["resource_id"].astype(str),
                            flavor_name=frame["flavor_name"].fillna("<none>"))  # fmt: skip

    grouped = keyed(hours, hours["charge_period_start"].dt.floor("D")).groupby(keys)
    expected = grouped.agg(q=("consumed_quantity", "sum"), vcpus=("vcpus", "max"), source=("source", "min"))
    got = keyed(daily, daily["charge_period_start"]).set_index(keys)
    assert len(got) == len(expected)
    joined = expected.join(got[["consumed_quantity", "vcpus", "source"]].add_suffix("_got"))
    assert np.allclose(joined["q"], joined["consumed_quantity_got"], rtol=0, atol=1e-9)
    assert joined["vcpus"].equals(joined["vcpus_got"])
    assert (joined["source"] == joined["source_got"]).all()
    assert daily.equals(daily_usage(hours.sample(frac=1, random_state=9)))  # any row order, same frame
