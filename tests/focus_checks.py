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
# Not mandatory, but what a FinOps tool expects of a cloud's bill (InvoiceId and ServiceSubcategory are
# Recommended in 1.2; the validator reports their absence).
REQUESTED = ("ResourceId", "ResourceName", "ResourceType", "RegionId", "SubAccountId", "SubAccountName",
             "ConsumedQuantity", "ConsumedUnit", "SkuId", "ListUnitPrice", "Tags", "InvoiceId",
             "ServiceSubcategory")  # fmt: skip
CHARGE_CATEGORIES = {"Usage", "Purchase", "Tax", "Credit", "Adjustment"}
# ServiceCategory -> its allowed ServiceSubcategory values (columns/servicesubcategory.md).
SUBCATEGORIES = {
    "AI and Machine Learning": {"AI Platforms", "Bots", "Generative AI", "Machine Learning",
                                "Natural Language Processing", "Other (AI and Machine Learning)"},
    "Analytics": {"Analytics Platforms", "Business Intelligence", "Data Processing", "Search", "Streaming Analytics",
                  "Other (Analytics)"},
    "Business Applications": {"Productivity and Collaboration", "Other (Business Applications)"},
    "Compute": {"Containers", "End User Computing", "Quantum Compute", "Serverless Compute", "Virtual Machines",
                "Other (Compute)"},
    "Databases": {"Caching", "Data Warehouses", "Ledger Databases", "NoSQL Databases", "Relational Databases",
                  "Time Series Databases", "Other (Databases)"},
    "Developer Tools": {"Developer Platforms", "Continuous Integration and Deployment", "Development Environments",
                        "Source Code Management", "Quality Assurance", "Other (Developer Tools)"},
    "Identity": {"Identity and Access Management", "Other (Identity)"},
    "Integration": {"API Management", "Messaging", "Workflow Orchestration", "Other (Integration)"},
    "Internet of Things": {"IoT Analytics", "IoT Platforms", "Other (Internet of Things)"},
    "Management and Governance": {"Architecture", "Compliance", "Cost Management", "Data Governance",
                                  "Disaster Recovery", "Endpoint Management", "Observability", "Support",
                                  "Other (Management and Governance)"},
    "Media": {"Content Creation", "Gaming", "Media Streaming", "Mixed Reality", "Other (Media)"},
    "Migration": {"Data Migration", "Resource Migration", "Other (Migration)"},
    "Mobile": {"Other (Mobile)"},
    "Multicloud": {"Multicloud Integration", "Other (Multicloud)"},
    "Networking": {"Application Networking", "Content Delivery", "Network Connectivity", "Network Infrastructure",
                   "Network Routing", "Network Security", "Other (Networking)"},
    "Security": {"Secret Management", "Security Posture Management", "Threat Detection and Response",
                 "Other (Security)"},
    "Storage": {"Backup Storage", "Block Storage", "File Storage", "Object Storage", "Storage Platforms",
                "Other (Storage)"},
    "Web": {"Application Platforms", "Other (Web)"},
    "Other": {"Other (Other)"},
}  # fmt: skip
SERVICE_CATEGORIES = set(SUBCATEGORIES)
# attributes/unit_format.md: data size abbreviations, time units, and `<unit>-<plural time units>`.
_TIME = "Years|Months|Days|Hours|Minutes|Seconds|Milliseconds|Microseconds"
_TIME_ONE = "Year|Month|Day|Hour|Minute|Second|Millisecond|Microsecond"
_COUNT = r"[A-Za-z][A-Za-z0-9]*(?: [A-Za-z][A-Za-z0-9]*)*"
UNIT_FORMAT = re.compile(rf"^(?:\d+ )?(?:{_COUNT})(?:-(?:{_TIME})|/(?:{_TIME_ONE}))?$")
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
    for column in ("PricingUnit", "ConsumedUnit"):
        bad = sorted({unit for unit in frame[column] if unit and not UNIT_FORMAT.match(unit)})
        assert not bad, f"{column} not in FOCUS unit format: {bad}"
    # ServiceName-C-005/-008: one ServiceCategory and one ServiceSubcategory per ServiceName,
    # ServiceSubcategory-C-004: the subcategory is one of its category's.
    services = frame.groupby("ServiceName")[["ServiceCategory", "ServiceSubcategory"]].nunique()
    assert (services <= 1).all().all(), services[(services > 1).any(axis=1)]
    pairs = set(zip(frame["ServiceCategory"], frame["ServiceSubcategory"], strict=True))
    assert all(sub in SUBCATEGORIES[category] for category, sub in pairs), pairs
    # BilledCost-C-005: what a third party is paid for is not billed here.
    third_party = frame["ProviderName"] != frame["InvoiceIssuerName"]
    assert (frame.loc[third_party, "BilledCost"].map(Decimal) == 0).all()
    # focus-validator 2.2.1 reads StringHandling as "ASCII only" for generated text.
    assert frame["ChargeDescription"].map(str.isascii).all()
    for tags in frame["Tags"]:
        if tags:
            tag_map = json.loads(tags)
            assert isinstance(tag_map, dict)
            # Tags-C-008: a key without a value is true; values are never objects or arrays.
            assert all(isinstance(v, str | int | float | bool) for v in tag_map.values()), tags
    assert (frame["SubAccountId"] != "").all()
    assert (frame["InvoiceId"] != "").all()
