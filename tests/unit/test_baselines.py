"""Public baselines: equivalents, DigitalOcean caps, tiers, units, currency — tiny inline usage."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pytest

from stackledger.errors import ConfigError, PricingError
from stackledger.model import BaselineConfig, FxRate
from stackledger.schema import SERVICES, USAGE_COLUMNS
from stackledger.transforms.baselines import rate_baseline
from stackledger.transforms.equivalents import Flavor, instance_candidates, match_flavor
from stackledger.transforms.findings import (
    BASE_PRICE,
    NO_EQUIVALENT,
    SIZE_UNKNOWN,
    TYPE_UNRESOLVED,
    UNPRICED,
    Priced,
)
from stackledger.transforms.pricebooks import PRICE_BOOK_COLUMNS, merge_price_books, packaged_price_book, rows_to_frame
from stackledger.transforms.rating import daily_usage

BOOK = packaged_price_book()
AWS_EU_NORTH = BaselineConfig("aws", "eu-north-1", ("m6i",))
DO = BaselineConfig("digitalocean", "all", ("s",))
EUR = [FxRate("USD", "EUR", Decimal("0.92"), dt.date(2026, 1, 1))]


def hourly(service: str, hours: int = 744, start: str = "2026-10-01", quantity: float = 1.0, **attrs: Any
           ) -> pd.DataFrame:  # fmt: skip
    """`hours` consecutive hourly usage rows of one resource."""
    times = pd.date_range(start, periods=hours, freq="h")
    defaults: dict[str, Any] = {
        "project_id": "p1", "resource_id": f"r-{service}", "flavor_name": "", "vcpus": np.nan, "ram_mib": np.nan,
        "volume_type": None, "region": "RegionOne", "source": "test",
    }  # fmt: skip
    defaults.update(attrs)
    frame = pd.DataFrame({
        "charge_period_start": times, "charge_period_end": times + pd.Timedelta(hours=1),
        "resource_type": SERVICES[service].resource_type, "service": service,
        "consumed_quantity": quantity, "consumed_unit": SERVICES[service].unit, **defaults,
    })  # fmt: skip
    return frame[list(USAGE_COLUMNS)]


def m1_large(hours: int = 744, **attrs: Any) -> pd.DataFrame:
    return hourly("compute.instance", hours, **({"flavor_name": "m1.large", "vcpus": 4.0, "ram_mib": 8192.0} | attrs))


def priced(usage: pd.DataFrame, config: BaselineConfig, book: pd.DataFrame = BOOK, **kwargs: Any) -> Priced:
    return rate_baseline(daily_usage(usage), book, config, currency=kwargs.pop("currency", "USD"), **kwargs)


def rate(usage: pd.DataFrame, config: BaselineConfig, book: pd.DataFrame = BOOK, **kwargs: Any) -> pd.DataFrame:
    """The cost lines, when the book finds nothing to report."""
    result = priced(usage, config, book, **kwargs)
    assert result.findings.empty, result.findings
    return result.lines


def total(lines: pd.DataFrame) -> Decimal:
    return sum(lines["cost"], Decimal(0))


# ---------------------------------------------------------------- the done-when month


def test_m1_large_all_october_in_eu_north_1_on_aws() -> None:
    lines = rate(m1_large(), AWS_EU_NORTH)
    assert total(lines).quantize(Decimal("0.01")) == Decimal("151.78")  # 744 h × 0.204
    assert total(lines) == Decimal("151.776")
    assert set(lines["sku"]) == {"m6i.xlarge"} and len(lines) == 31
    assert set(lines["mapping"]) == {"m1.large 4 vCPU 8 GiB → m6i.xlarge 0.204 USD/h, eu-north-1, as of 2022-11-22"}
    assert set(lines["pricing_region"]) == {"eu-north-1"} and set(lines["price_as_of"]) == {dt.date(2022, 11, 22)}


def test_m1_large_all_october_on_digitalocean_is_capped_at_the_monthly_price() -> None:
    lines = rate(m1_large(), DO)
    assert total(lines) == Decimal("48.000000")  # 744 h × 0.07143 = 53.14 > the 48 USD cap
    assert set(lines["sku"]) == {"s-4vcpu-8gb"}
    # Billed hourly until the cap: full days at 24 × 0.07143, then the remainder, then nothing.
    costs = list(lines.sort_values("charge_period_start")["cost"])
    assert costs[0] == Decimal("1.714320") and costs[-1] == Decimal(0)
    assert "capped at 48 USD/month" in lines["mapping"].iat[0]
    # The list price stays visible: list_unit_price × pricing_quantity is the uncapped cost.
    uncapped = sum(p * q for p, q in zip(lines["list_unit_price"], lines["pricing_quantity"], strict=True))
    assert uncapped == Decimal("53.14392")


def test_a_short_droplet_month_is_billed_hourly() -> None:
    lines = rate(m1_large(hours=100), DO)
    assert total(lines) == Decimal("7.143")


def test_the_cap_is_per_droplet_and_per_calendar_month() -> None:
    usage = pd.concat([m1_large(hours=24 * 61, start="2026-10-01"),
                       m1_large(hours=744, resource_id="other")])  # fmt: skip
    lines = rate(usage, DO)
    by_month = lines.groupby([lines["resource_id"], lines["charge_period_start"].dt.month])["cost"].sum()
    assert by_month.to_dict() == {("other", 10): Decimal(48), ("r-compute.instance", 10): Decimal(48),
                                  ("r-compute.instance", 11): Decimal(48)}  # fmt: skip


# ---------------------------------------------------------------- equivalents


def candidates(config: BaselineConfig) -> pd.DataFrame:
    return instance_candidates(BOOK, config)


def test_the_cheapest_type_with_enough_vcpus_and_memory_wins() -> None:
    config = BaselineConfig("aws", "eu-north-1", ("m5", "m6i", "c5", "r5"))
    # 4 vCPU 8 GiB: c5.xlarge (4, 8) 0.182 beats m5/m6i.xlarge (4, 16) 0.204.
    assert match_flavor(Flavor("m1.large", 4, 8192), candidates(config), BOOK, config) == "c5.xlarge"
    # 2 vCPU 16 GiB: r5.large 0.132 (2, 16) beats m5.xlarge (4, 16).
    assert match_flavor(Flavor("mem", 2, 16384), candidates(config), BOOK, config) == "r5.large"


def test_ties_go_to_fewer_vcpus_then_the_name() -> None:
    config = BaselineConfig("aws", "eu-north-1", ("m5", "m6i"))
    # m5.xlarge and m6i.xlarge both cost 0.204 with 4 vCPUs: the name decides.
    assert match_flavor(Flavor("m1.large", 4, 8192), candidates(config), BOOK, config) == "m5.xlarge"
    book = merge_price_books(BOOK, rows_to_frame([{
        **dict.fromkeys(PRICE_BOOK_COLUMNS, ""), "provider": "aws", "region": "eu-north-1", "sku": "m6i.big",
        "kind": "instance", "family": "m6i", "vcpus": 8.0, "memory_gib": 16.0, "unit": "hour",
        "price": Decimal("0.204"), "currency": "USD", "tier_start": None, "tier_end": None, "as_of": None,
    }]))  # fmt: skip
    config = BaselineConfig("aws", "eu-north-1", ("m6i",))
    assert match_flavor(Flavor("m1.large", 4, 8192), instance_candidates(book, config), book, config) == "m6i.xlarge"


def test_families_limit_the_candidates_and_droplets_follow_the_same_rule() -> None:
    assert match_flavor(Flavor("m1.small", 1, 2048), candidates(DO), BOOK, DO) == "s-1vcpu-2gb"
    only_c = BaselineConfig("digitalocean", "all", ("c",))
    assert match_flavor(Flavor("m1.small", 1, 2048), candidates(only_c), BOOK, only_c) == "c-2"


def test_an_explicit_flavor_mapping_wins() -> None:
    config = BaselineConfig("aws", "eu-north-1", ("m6i",), flavors={"m1.large": "m5.2xlarge"})
    lines = rate(m1_large(hours=24), config)
    assert set(lines["sku"]) == {"m5.2xlarge"} and lines["mapping"].iat[0].endswith("(configured)")
    wrong = BaselineConfig("aws", "eu-north-1", ("m6i",), flavors={"m1.large": "m9.huge"})
    with pytest.raises(ConfigError, match=r"flavor m1.large is mapped to m9.huge"):
        rate(m1_large(hours=24), wrong)


def test_a_flavor_without_a_candidate_is_a_finding_and_the_rest_is_priced() -> None:
    # 24 h of a 512 vCPU flavor no m6i type holds, beside 24 h of m1.large: the m1.large is priced,
    # the monster is one unpriced finding per day with its 24 instance-hours.
    monster = hourly("compute.instance", 24, resource_id="r-gpu", flavor_name="gpu.monster", vcpus=512.0,
                     ram_mib=8192.0 * 1024)  # fmt: skip
    result = priced(pd.concat([monster, m1_large(hours=24)]), AWS_EU_NORTH)
    assert list(result.lines["resource_id"]) == ["r-compute.instance"] and set(result.lines["sku"]) == {"m6i.xlarge"}
    found = result.findings.iloc[0]
    assert len(result.findings) == 1
    assert [found[k] for k in ("price_book", "kind", "effect")] == ["aws", NO_EQUIVALENT, UNPRICED]
    assert found["resource_id"] == "r-gpu"
    assert (found["consumed_quantity"], found["consumed_unit"]) == (24.0, "instance-hour")
    assert found["subject"] == "gpu.monster 512 vCPU 8192 GiB"
    assert "no aws instance in eu-north-1 of families m6i" in found["reason"]
    assert priced(monster, DO).lines.empty and priced(monster, DO).findings["kind"].tolist() == [NO_EQUIVALENT]


def test_a_flavor_without_sizes_borrows_them_or_is_a_finding() -> None:
    known = m1_large(hours=24)
    unknown = m1_large(hours=24, resource_id="r2", vcpus=np.nan, ram_mib=np.nan)
    lines = rate(pd.concat([known, unknown]), AWS_EU_NORTH)
    assert set(lines["sku"]) == {"m6i.xlarge"} and len(lines) == 2
    alone = priced(unknown, AWS_EU_NORTH)
    assert alone.lines.empty
    found = alone.findings[["kind", "subject", "consumed_quantity"]].to_numpy().tolist()
    assert found == [[SIZE_UNKNOWN, "m1.large", 24.0]]
    assert "flavor m1.large: usage does not say its vCPUs and RAM" in alone.findings["reason"].iat[0]
    # an explicit mapping needs no size
    mapped = BaselineConfig("aws", "eu-north-1", ("m6i",), flavors={"m1.large": "m6i.large"})
    assert set(rate(unknown, mapped)["sku"]) == {"m6i.large"}


def test_a_volume_type_id_is_resolved_before_the_volume_types_sku_is_chosen() -> None:
    # 24 h of 100 GiB: one volume typed by an id Cinder resolves to `ssd`, one by an id nothing resolves.
    config = BaselineConfig("aws", "us-east-1", ("m6i",), volume_types={"ssd": "ebs-gp2-storage"})
    ssd_id, lost_id = "6a1f5c0e-3b2d-4c1e-9f8a-7b6c5d4e3f21", "0c0ffee0-0000-4000-8000-000000000000"
    usage = pd.concat([
        hourly("block.volume", 24, quantity=100.0, resource_id="v-ssd", volume_type=ssd_id),
        hourly("block.volume", 24, quantity=100.0, resource_id="v-lost", volume_type=lost_id),
    ])  # fmt: skip
    result = priced(usage, config, volume_types={ssd_id: "ssd"})
    skus = dict(zip(result.lines["resource_id"], result.lines["sku"], strict=True))
    assert skus == {"v-ssd": "ebs-gp2-storage", "v-lost": "ebs-gp3-storage"}
    assert result.lines.set_index("resource_id").at["v-ssd", "volume_type"] == "ssd"
    found = result.findings.iloc[0]
    assert len(result.findings) == 1
    assert [found[k] for k in ("kind", "effect", "resource_id")] == [TYPE_UNRESOLVED, BASE_PRICE, "v-lost"]
    assert found["consumed_quantity"] == 2400.0  # 24 h × 100 GiB
    assert found["subject"] == f"volume type id {lost_id}" and "ebs-gp3-storage" in found["reason"]
    # without volume type SKUs the type does not matter: nothing to report
    assert rate(usage, AWS_EU_NORTH, volume_types={ssd_id: "ssd"})["sku"].tolist() == ["ebs-gp3-storage"] * 2


# ---------------------------------------------------------------- other services


def test_vcpu_and_ram_are_included_in_the_instance() -> None:
    usage = pd.concat([m1_large(24), hourly("compute.vcpu", 24, quantity=4.0), hourly("compute.ram", 24, quantity=8.0)])
    lines = rate(usage, AWS_EU_NORTH)
    assert set(lines["service"]) == {"compute.instance"}


def test_volumes_are_priced_per_gib_month_of_730_hours() -> None:
    usage = hourly("block.volume", 730, quantity=100.0, volume_type="ssd")
    aws = rate(usage, AWS_EU_NORTH)
    assert set(aws["sku"]) == {"ebs-gp3-storage"} and set(aws["pricing_unit"]) == {"GB-month"}
    assert total(aws) == Decimal("8.36")  # 100 GiB-month × 0.0836, exactly: rounded on month-to-date sums
    for price, quantity, cost in zip(aws["list_unit_price"], aws["pricing_quantity"], aws["cost"], strict=True):
        assert abs(price * quantity - cost) <= Decimal("0.000001")
    assert aws["mapping"].iat[0].startswith("block.volume ssd → ebs-gp3-storage 0.0836 USD/GB-month, eu-north-1")
    assert aws["mapping"].iat[0].endswith("(weak)")
    do = rate(usage, DO)
    assert total(do) == Decimal("10")  # 0.10 per GiB-month


def test_snapshots_images_ips_ingress_and_root_disks() -> None:
    usage = pd.concat([
        hourly("block.snapshot", 730, quantity=10.0), hourly("image.storage", 730, quantity=10.0),
        hourly("network.floating_ip", 100), hourly("network.ingress", 24, quantity=5.0),
        hourly("compute.disk.root", 730, quantity=20.0),
    ])  # fmt: skip
    aws = rate(usage, BaselineConfig("aws", "us-east-1", ("m6i",))).groupby("service")["cost"].sum()
    assert aws.to_dict() == {
        "block.snapshot": Decimal("0.23"),  # S3 Standard (documented choice) 10 × 0.023
        "compute.disk.root": Decimal("1.6"),  # gp3 20 × 0.08
        "image.storage": Decimal("0.23"),
        "network.floating_ip": Decimal("0.5"),  # 100 IP-hours × 0.005
        "network.ingress": Decimal(0),  # free, explicitly priced 0
    }
    do = rate(usage, DO).groupby("service")["cost"].sum()
    assert do.to_dict() == {
        "block.snapshot": Decimal("0.6"),  # 0.06 per GiB-month
        "image.storage": Decimal("0.2"),  # Spaces additional storage 0.02
        "network.floating_ip": Decimal(0),  # a reserved IP assigned to a droplet is free
        "network.ingress": Decimal(0),
    }  # the root disk comes with the droplet


def test_a_usage_line_without_a_price_names_service_and_sku() -> None:
    with pytest.raises(PricingError, match=r"no aws price for image.storage at SKU s3-standard-storage") as caught:
        rate(hourly("image.storage", 24, quantity=1.0), AWS_EU_NORTH)  # no S3 price for eu-north-1 in the data
    assert (caught.value.service, caught.value.sku) == ("image.storage", "s3-standard-storage")
    nothing = BaselineConfig("aws", "eu-north-1", ("m6i",), skus={"block.volume": "ebs-io9-storage"})
    with pytest.raises(PricingError, match="SKU ebs-io9-storage"):
        rate(hourly("block.volume", 24, quantity=1.0), nothing)


def test_volume_types_choose_the_storage_sku() -> None:
    config = BaselineConfig("aws", "us-east-1", ("m6i",), volume_types={"hdd": "ebs-gp2-storage"})
    usage = pd.concat([hourly("block.volume", 730, quantity=10.0, volume_type="hdd"),
                       hourly("block.volume", 730, quantity=10.0, volume_type="ssd", resource_id="v2")])  # fmt: skip
    lines = rate(usage, config).groupby("sku")["cost"].sum()
    assert lines.to_dict() == {"ebs-gp2-storage": Decimal("1"), "ebs-gp3-storage": Decimal("0.8")}


def test_egress_tiers_cumulate_over_the_whole_cloud_in_the_month() -> None:
    # Two projects, 6 TiB each on Oct 1st and 2nd: the first 10 TB at 0.09, the rest at 0.085.
    day = 6 * 1024.0
    usage = pd.concat([hourly("network.egress", 1, start=f"2026-10-0{d}", quantity=day, project_id=p,
                              resource_id=f"vm-{p}") for d in (1, 2) for p in ("a", "b")])  # fmt: skip
    lines = rate(usage, AWS_EU_NORTH)
    by_tier = lines.groupby("sku")["pricing_quantity"].sum().to_dict()
    assert by_tier == {"egress-internet-first-10TB": Decimal(10240), "egress-internet-next-40TB": Decimal(14336)}
    assert total(lines) == Decimal("10240") * Decimal("0.09") + Decimal("14336") * Decimal("0.085")
    # Day 1, project b crosses 10 TB: its line is split over the two tiers.
    crossing = lines[(lines["project_id"] == "b") & (lines["charge_period_start"] == "2026-10-01")]
    assert sorted(crossing["sku"]) == ["egress-internet-first-10TB", "egress-internet-next-40TB"]


def test_usage_beyond_the_last_tier_is_an_error() -> None:
    with pytest.raises(PricingError, match="exceeds the last tier of s3-standard-storage"):
        rate(hourly("image.storage", 730, quantity=60000.0), BaselineConfig("aws", "us-east-1", ("m6i",)))


def test_a_volume_retyped_mid_day_is_one_line() -> None:
    morning = hourly("block.volume", 12, quantity=10.0, volume_type="ssd")
    afternoon = hourly("block.volume", 12, start="2026-10-01 12:00", quantity=10.0, volume_type="hdd")
    usage = pd.concat([morning, afternoon])
    lines = rate(usage, AWS_EU_NORTH)
    assert len(lines) == 1 and lines["consumed_quantity"].iat[0] == 240.0


# ---------------------------------------------------------------- currency


def test_prices_convert_into_the_report_currency_and_keep_the_rate() -> None:
    lines = rate(m1_large(), AWS_EU_NORTH, currency="EUR", fx=EUR)
    assert set(lines["currency"]) == {"EUR"} and set(lines["fx_rate"]) == {Decimal("0.92")}
    assert set(lines["list_unit_price"]) == {Decimal("0.18768")}
    assert set(lines["source_unit_price"]) == {Decimal("0.204")} and set(lines["source_currency"]) == {"USD"}
    assert total(lines) == Decimal("139.63392")
    do = rate(m1_large(), DO, currency="EUR", fx=EUR)
    assert total(do) == Decimal("44.16")  # the 48 USD cap, converted


def test_the_rate_in_force_on_each_day_is_used() -> None:
    rates = [*EUR, FxRate("USD", "EUR", Decimal("0.95"), dt.date(2026, 10, 16))]
    lines = rate(m1_large(), AWS_EU_NORTH, currency="EUR", fx=rates)
    by_rate = lines.groupby(lines["fx_rate"].astype(str))["charge_period_start"].agg(["min", "count"])
    assert by_rate.to_dict("index") == {
        "0.92": {"min": pd.Timestamp("2026-10-01"), "count": 15},
        "0.95": {"min": pd.Timestamp("2026-10-16"), "count": 16},
    }


def test_a_day_before_the_first_rate_is_a_config_error() -> None:
    late = [FxRate("USD", "EUR", Decimal("0.92"), dt.date(2026, 10, 10))]
    with pytest.raises(ConfigError, match=r"no USD→EUR exchange rate for 2026-10-01"):
        rate(m1_large(), AWS_EU_NORTH, currency="EUR", fx=late)


def test_without_a_rate_the_lines_stay_in_usd() -> None:
    lines = rate(m1_large(hours=24), AWS_EU_NORTH, currency="EUR", fx=[])
    assert set(lines["currency"]) == {"USD"} and lines["fx_rate"].isna().all()


def test_empty_usage_gives_no_lines() -> None:
    assert rate(m1_large(hours=24).iloc[0:0], AWS_EU_NORTH).empty
