"""FOCUS 1.2 mapping of cost lines (pure): the bill's rows, the comparison columns, units, text."""

from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal

import pandas as pd
import pytest

from stackledger.errors import SchemaError
from stackledger.ratecard import loads, parse_rate_card
from stackledger.transforms.focus import (
    FOCUS_COLUMNS,
    INPUT_COLUMNS,
    MANDATORY_COLUMNS,
    SERVICES,
    focus_unit,
    to_ascii,
    to_focus,
)
from stackledger.transforms.rating import daily_usage, rate
from tests.focus_checks import MANDATORY, SUBCATEGORIES, UNIT_FORMAT, check_focus
from tests.unit.test_baselines import AWS_EU_NORTH, DO, EUR, hourly, m1_large
from tests.unit.test_baselines import rate as rate_baseline

CARD = parse_rate_card(loads("""\
currency: EUR
periods:
  - valid_from: 2026-01-01
    rates:
      compute.instance: 0.01
      compute.vcpu: 0.021
      compute.ram: 0.004
      block.volume: {price: 0.08, per: GiB-month}
      network.egress: 0.05
""", source="test-card"), source="test-card")  # fmt: skip


def with_projects(lines: pd.DataFrame, name: str = "Alpha") -> pd.DataFrame:
    frame = lines.assign(project_name=name, team="web", cost_center="cc-1", tags=[["prod"]] * len(lines),
                         resource_name="vm-1")  # fmt: skip
    for column in INPUT_COLUMNS:
        if column not in frame.columns:
            frame[column] = None
    return frame[list(INPUT_COLUMNS)]


def month_usage() -> pd.DataFrame:
    """An m1.large all October, a 100 GiB volume for ten days and some egress."""
    return pd.concat([
        m1_large(),
        hourly("block.volume", 240, quantity=100.0, volume_type="ssd"),
        hourly("network.egress", 48, quantity=3.5),
    ], ignore_index=True)  # fmt: skip


def all_books(usage: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([
        rate(daily_usage(usage), CARD),
        rate_baseline(usage, AWS_EU_NORTH, currency="EUR", fx=EUR),
        rate_baseline(usage, DO, currency="EUR", fx=EUR),
    ], ignore_index=True)  # fmt: skip


def focus_csv(frame: pd.DataFrame) -> pd.DataFrame:
    """Through CSV text and back, as a consumer reads the export."""
    text = frame.to_csv(index=False, lineterminator="\n")
    return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)


def total(values: pd.Series) -> Decimal:
    return sum((Decimal(v) for v in values if v), Decimal(0))


def test_the_21_mandatory_columns_are_those_of_the_spec() -> None:
    assert set(MANDATORY_COLUMNS) == set(MANDATORY) and len(MANDATORY_COLUMNS) == 21
    focus = [c for c in FOCUS_COLUMNS if not c.startswith("x_")]
    assert focus == sorted(focus) and len(focus) == 38
    assert {"InvoiceId", "ServiceSubcategory"} <= set(focus)


def test_the_export_is_the_bill_and_the_comparisons_ride_on_its_rows() -> None:
    lines = all_books(month_usage())
    books = {book: sum(group["cost"], Decimal(0)) for book, group in lines.groupby("price_book")}
    focus = focus_csv(to_focus(with_projects(lines), organisation="Example Cloud"))
    check_focus(focus)
    assert list(focus.columns) == list(FOCUS_COLUMNS)
    assert len(focus) == (lines["price_book"] == "internal").sum()  # one row per internal line, no more
    assert set(focus["ProviderName"]) == set(focus["InvoiceIssuerName"]) == {"Example Cloud"}
    assert total(focus["BilledCost"]) == books["internal"]
    assert total(focus["x_AwsCost"]) == books["aws"] and set(focus["x_AwsCurrency"]) - {""} == {"EUR"}
    assert total(focus["x_DigitalOceanCost"]) == books["digitalocean"]
    assert set(focus["ServiceName"]) == {"Compute", "Block Storage", "Networking"}


def test_a_row_says_what_it_bills_and_what_the_providers_would_charge() -> None:
    vcpus = hourly("compute.vcpu", 24, quantity=4.0, resource_id="r-compute.instance", flavor_name="m1.large")
    lines = all_books(pd.concat([m1_large(hours=24), vcpus], ignore_index=True))
    rows = to_focus(with_projects(lines), organisation="Example Cloud")
    row = rows[rows["x_Service"] == "compute.instance"].iloc[0]
    assert (row["BilledCost"], row["ListUnitPrice"], row["PricingQuantity"]) == ("0.240000", "0.01", "24")
    assert (row["PricingUnit"], row["ConsumedUnit"]) == ("Instance-Hours", "Instance-Hours")
    assert (row["ServiceName"], row["ServiceCategory"], row["ServiceSubcategory"]) == (
        "Compute", "Compute", "Virtual Machines")  # fmt: skip
    assert row["ChargeDescription"] == (
        "compute.instance at 0.01 EUR per instance-hour, rate card SKU internal:compute.instance"
    )
    assert (row["x_AwsSkuId"], row["x_AwsListUnitPrice"], row["x_AwsPricingUnit"]) == ("m6i.xlarge", "0.18768", "Hours")
    assert (row["x_AwsCost"], row["x_AwsCurrency"], row["x_AwsPriceAsOf"]) == ("4.504320", "EUR", "2022-11-22")
    assert (row["x_DigitalOceanSkuId"], row["x_DigitalOceanPricingUnit"]) == ("s-4vcpu-8gb", "Hours")
    assert (row["InvoiceId"], row["SubAccountId"], row["SubAccountType"]) == ("2026-10-p1", "p1", "Project")
    assert (row["BillingPeriodStart"], row["BillingPeriodEnd"]) == ("2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z")
    assert json.loads(row["Tags"]) == {"prod": True, "stackledger:cost_center": "cc-1", "stackledger:team": "web"}
    # vCPU and RAM are part of the provider's instance price: their rows carry no comparison
    vcpu = rows[rows["x_Service"] == "compute.vcpu"].iloc[0]
    assert (vcpu["x_AwsCost"], vcpu["x_AwsSkuId"], vcpu["x_DigitalOceanCost"]) == ("", "", "")


@pytest.mark.parametrize(("stored", "focus"), [
    ("GiB-month", "GiB-Months"), ("GB-month", "GB-Months"), ("GiB-hour", "GiB-Hours"),
    ("instance-hour", "Instance-Hours"), ("vCPU-hour", "vCPU-Hours"), ("IP-hour", "IP-Hours"),
    ("hour", "Hours"), ("GiB", "GiB"), ("GB", "GB"), ("request", "Request"),
])  # fmt: skip
def test_units_are_written_in_the_focus_unit_format(stored: str, focus: str) -> None:
    assert focus_unit(stored) == focus and UNIT_FORMAT.match(focus)


def test_a_unit_that_cannot_be_expressed_is_an_error_naming_it() -> None:
    with pytest.raises(SchemaError, match="GiB/h!"):
        focus_unit("GiB/h!")


def test_descriptions_are_ascii_and_names_keep_their_spelling() -> None:
    lines = rate(daily_usage(m1_large(hours=24, flavor_name="m1.größe")), parse_rate_card(loads(
        "currency: EUR\nperiods:\n  - valid_from: 2026-01-01\n    rates: {compute.instance: 0.01}\n"
        "    overrides:\n      - {service: compute.instance, match: {flavor_name: m1.größe}, price: 0.02}\n",
        source="c"), source="c"))  # fmt: skip
    row = to_focus(with_projects(lines, name="Müller Ærø"), organisation="Nordlys Ørsted").iloc[0]
    assert row["ChargeDescription"].isascii() and "m1.grosse" in row["ChargeDescription"]
    assert row["SkuId"] == "internal:compute.instance:m1.größe"
    assert (row["SubAccountName"], row["BillingAccountName"]) == ("Müller Ærø", "Nordlys Ørsted")
    assert to_ascii("Ærø → 数据 Müller") == "AEro ->  Muller"


def test_a_provider_tier_boundary_inside_a_day_sums_its_lines_on_one_row() -> None:
    day = dt.datetime(2026, 10, 3)
    base = {"charge_period_start": day, "charge_period_end": day + dt.timedelta(days=1), "project_id": "p1",
            "resource_id": "vm-1", "resource_type": "instance", "service": "network.egress", "flavor_name": "",
            "region": "RegionOne", "consumed_quantity": 10.0, "consumed_unit": "GiB", "currency": "EUR",
            "price_as_of": dt.date(2026, 1, 1)}  # fmt: skip
    lines = pd.DataFrame([
        base | {"price_book": "internal", "sku": "internal:network.egress", "list_unit_price": Decimal("0.05"),
                "pricing_quantity": Decimal(10), "pricing_unit": "GiB", "cost": Decimal("0.5")},
        base | {"price_book": "aws", "sku": "egress-first-10TB", "list_unit_price": Decimal("0.09"),
                "pricing_quantity": Decimal(4), "pricing_unit": "GB", "cost": Decimal("0.36")},
        base | {"price_book": "aws", "sku": "egress-next-40TB", "list_unit_price": Decimal("0.085"),
                "pricing_quantity": Decimal(6), "pricing_unit": "GB", "cost": Decimal("0.51")},
    ])  # fmt: skip
    row = to_focus(with_projects(lines), organisation="Example Cloud").iloc[0]
    assert (row["x_AwsCost"], row["x_AwsSkuId"]) == ("0.870000", "egress-first-10TB + egress-next-40TB")
    assert (row["x_AwsListUnitPrice"], row["x_AwsPricingUnit"]) == ("", "GB")  # no single list price


def test_a_comparison_without_the_internal_line_of_its_usage_is_refused() -> None:
    lines = rate_baseline(m1_large(hours=24), AWS_EU_NORTH)
    with pytest.raises(SchemaError, match=r"1 aws cost line.*compute\.instance of resource r-compute\.instance"):
        to_focus(with_projects(lines), organisation="Example Cloud")


def test_every_service_has_one_category_and_subcategory_from_the_spec() -> None:
    by_name: dict[str, set[tuple[str, str]]] = {}
    for name, category, subcategory in SERVICES.values():
        by_name.setdefault(name, set()).add((category, subcategory))
        assert subcategory in SUBCATEGORIES[category]
    assert all(len(pairs) == 1 for pairs in by_name.values()), by_name


def test_capped_droplet_rows_keep_the_capped_cost_as_the_comparison() -> None:
    lines = pd.concat([rate(daily_usage(m1_large()), CARD), rate_baseline(m1_large(), DO)], ignore_index=True)
    focus = to_focus(with_projects(lines), organisation="Example Cloud")
    assert total(focus["x_DigitalOceanCost"]) == Decimal("48")  # the monthly cap, not 744 h × 0.07143
    assert set(focus["x_DigitalOceanCurrency"]) - {""} == {"USD"}  # no fx: the comparison stays in USD
