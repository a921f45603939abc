"""FOCUS 1.2 mapping of cost lines (pure): columns, invariants, provider rows."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pandas as pd

from stackledger.transforms.focus import FOCUS_COLUMNS, INPUT_COLUMNS, MANDATORY_COLUMNS, to_focus
from stackledger.transforms.rating import PRICE_BOOK
from tests.focus_checks import MANDATORY, check_focus
from tests.unit.test_baselines import AWS_EU_NORTH, DO, EUR, m1_large, rate


def with_projects(lines: pd.DataFrame) -> pd.DataFrame:
    frame = lines.assign(project_name="Alpha", team="web", cost_center="cc-1", tags=[["prod"]] * len(lines),
                         resource_name="vm-1")  # fmt: skip
    for column in INPUT_COLUMNS:
        if column not in frame.columns:
            frame[column] = None
    return frame[list(INPUT_COLUMNS)]


def internal_lines() -> pd.DataFrame:
    days = pd.date_range("2026-10-01", periods=3, freq="D")
    return pd.DataFrame({
        "charge_period_start": days, "charge_period_end": days + pd.Timedelta(days=1), "project_id": "p1",
        "resource_id": "r-compute.instance", "resource_type": "instance", "service": "compute.vcpu",
        "region": "RegionOne", "consumed_quantity": 96.0, "consumed_unit": "vCPU-hour", "price_book": PRICE_BOOK,
        "sku": "internal:compute.vcpu", "list_unit_price": Decimal("0.021"), "pricing_quantity": Decimal("96"),
        "pricing_unit": "vCPU-hour", "cost": Decimal("2.016000"), "currency": "EUR",
        "price_as_of": dt.date(2026, 1, 1),
    })  # fmt: skip


def focus_csv(frame: pd.DataFrame) -> pd.DataFrame:
    """Through CSV text and back, as a consumer reads the export."""
    text = frame.to_csv(index=False, lineterminator="\n")
    return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)


def test_the_21_mandatory_columns_are_those_of_the_spec() -> None:
    assert set(MANDATORY_COLUMNS) == set(MANDATORY) and len(MANDATORY_COLUMNS) == 21
    assert FOCUS_COLUMNS[:36] == tuple(sorted(FOCUS_COLUMNS[:36]))


def test_internal_and_baseline_lines_pass_the_spec_checks() -> None:
    usage = m1_large()
    lines = pd.concat([
        internal_lines(),
        rate(usage, AWS_EU_NORTH, currency="EUR", fx=EUR),
        rate(usage, DO, currency="EUR", fx=EUR),
    ], ignore_index=True)  # fmt: skip
    focus = focus_csv(to_focus(with_projects(lines), organisation="Example Cloud"))
    check_focus(focus)
    assert list(focus.columns) == list(FOCUS_COLUMNS)
    by_provider = focus.groupby("ProviderName")["BilledCost"].apply(lambda s: sum(map(Decimal, s)))
    assert by_provider.to_dict() == {
        "Example Cloud": Decimal("6.048"), "AWS": Decimal("139.63392"), "DigitalOcean": Decimal("44.16"),
    }  # fmt: skip


def test_the_baseline_rows_say_what_was_matched_and_converted() -> None:
    lines = rate(m1_large(hours=24), AWS_EU_NORTH, currency="EUR", fx=EUR)
    row = to_focus(with_projects(lines), organisation="Example Cloud").iloc[0]
    assert row["ChargeDescription"] == "m1.large 4 vCPU 8 GiB → m6i.xlarge 0.204 USD/h, eu-north-1, as of 2022-11-22"
    assert (row["ServiceName"], row["ServiceCategory"]) == ("Amazon Elastic Compute Cloud", "Compute")
    assert (row["SkuId"], row["RegionId"], row["x_PriceBook"]) == ("m6i.xlarge", "eu-north-1", "aws")
    assert row["InvoiceIssuerName"] == "Amazon Web Services"
    assert (row["x_FxRate"], row["x_SourceCurrency"], row["x_SourceUnitPrice"]) == ("0.92", "USD", "0.204")
    assert (row["ListUnitPrice"], row["PricingQuantity"], row["ListCost"]) == ("0.18768", "24", "4.504320")
    assert (row["BillingPeriodStart"], row["BillingPeriodEnd"]) == ("2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z")
    assert (row["SubAccountId"], row["SubAccountName"], row["SubAccountType"]) == ("p1", "Alpha", "Project")
    assert row["Tags"] == '{"cost_center": "cc-1", "prod": null, "team": "web"}'


def test_capped_droplet_rows_bill_less_than_list() -> None:
    focus = to_focus(with_projects(rate(m1_large(), DO)), organisation="Example Cloud")
    billed = sum(map(Decimal, focus["BilledCost"]))
    listed = sum(map(Decimal, focus["ListCost"]))
    assert billed == Decimal("48") and listed == Decimal("53.14392")
    assert set(focus["RegionId"]) == {""}  # DigitalOcean list prices are for all regions
