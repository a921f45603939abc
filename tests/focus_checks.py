"""A FOCUS 1.2 validator for tests, written from the spec, not from `transforms.focus`.

Spec: https://focus.finops.org/focus-specification/v1-2/ (FOCUS_Spec `specification/columns/`).
"""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pandas as pd

# The 21 columns whose "Feature level" is Mandatory in FOCUS 1.2, and whether they allow nulls.
MANDATORY = {
    "BilledCost": False, "BillingAccountId": False, "BillingAccountName": True, "BillingCurrency": False,
    "BillingPeriodEnd": False, "BillingPeriodStart": False, "ChargeCategory": False, "ChargeClass": True,
    "ChargeDescription": True, "ChargePeriodEnd": False, "ChargePeriodStart": False, "ContractedCost": False,
    "EffectiveCost": False, "InvoiceIssuerName": False, "ListCost": False, "PricingQuantity": True,
    "PricingUnit": True, "ProviderName": False, "PublisherName": False, "ServiceCategory": False,
    "ServiceName": False,
}  # fmt: skip
REQUESTED = ("ResourceId", "ResourceName", "ResourceType", "RegionId", "SubAccountId", "SubAccountName",
             "ConsumedQuantity", "ConsumedUnit", "SkuId", "ListUnitPrice", "Tags")  # fmt: skip
CHARGE_CATEGORIES = {"Usage", "Purchase", "Tax", "Credit", "Adjustment"}
SERVICE_CATEGORIES = {
    "AI and Machine Learning", "Analytics", "Business Applications", "Compute", "Databases", "Developer Tools",
    "Multicloud", "Identity", "Integration", "Internet of Things", "Management and Governance", "Media",
    "Migration", "Mobile", "Networking", "Security", "Storage", "Web", "Other",
}  # fmt: skip
ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
ROUNDING = Decimal("0.000001")


def check_focus(frame: pd.DataFrame) -> None:
    """Assert the columns and invariants of a FOCUS export read with `dtype=str, keep_default_na=False`."""
    missing = [c for c in (*MANDATORY, *REQUESTED) if c not in frame.columns]
    assert not missing, f"missing FOCUS columns {missing}"
    for column, nullable in MANDATORY.items():
        if not nullable:
            assert (frame[column] != "").all(), f"{column} has nulls"
    custom = [c for c in frame.columns if c not in MANDATORY and c not in REQUESTED]
    assert all(c.startswith("x_") or c[0].isupper() for c in custom)
    assert frame["BillingCurrency"].str.fullmatch(r"[A-Z]{3}").all()
    assert set(frame["ChargeCategory"]) <= CHARGE_CATEGORIES
    assert set(frame["ChargeClass"]) <= {"", "Correction"}
    assert set(frame["ServiceCategory"]) <= SERVICE_CATEGORIES
    for column in ("ChargePeriodStart", "ChargePeriodEnd", "BillingPeriodStart", "BillingPeriodEnd"):
        assert frame[column].str.match(ISO_UTC).all(), column
    start, end = pd.to_datetime(frame["ChargePeriodStart"]), pd.to_datetime(frame["ChargePeriodEnd"])
    assert (end > start).all(), "ChargePeriodEnd must be after ChargePeriodStart"
    assert (pd.to_datetime(frame["BillingPeriodStart"]) <= start).all()
    assert (pd.to_datetime(frame["BillingPeriodEnd"]) >= end).all()
    listed = zip(frame["ListCost"], frame["ListUnitPrice"], frame["PricingQuantity"], strict=True)
    for list_cost, price, quantity in listed:
        assert abs(Decimal(list_cost) - Decimal(price) * Decimal(quantity)) <= ROUNDING, (list_cost, price, quantity)
    costs = zip(frame["BilledCost"], frame["EffectiveCost"], frame["ContractedCost"], frame["ListCost"], strict=True)
    for billed, effective, contracted, list_cost in costs:
        assert Decimal(billed) == Decimal(effective)
        assert Decimal(billed) <= Decimal(contracted) + ROUNDING and Decimal(contracted) == Decimal(list_cost)
    for tags in frame["Tags"]:
        assert tags == "" or isinstance(json.loads(tags), dict)
    assert (frame["SubAccountId"] != "").all()
