"""Cost lines → FinOps FOCUS 1.2 rows (pure: a frame in, a frame of strings out).

Spec: FOCUS 1.2, https://focus.finops.org/focus-specification/v1-2/ (column definitions in
github.com/FinOps-Open-Cost-and-Usage-Spec/FOCUS_Spec, `specification/columns/*.md`,
"Feature level"). The 21 **Mandatory** columns of 1.2, all present in every export:

    BilledCost, BillingAccountId, BillingAccountName, BillingCurrency, BillingPeriodEnd,
    BillingPeriodStart, ChargeCategory, ChargeClass, ChargeDescription, ChargePeriodEnd,
    ChargePeriodStart, ContractedCost, EffectiveCost, InvoiceIssuerName, ListCost,
    PricingQuantity, PricingUnit, ProviderName, PublisherName, ServiceCategory, ServiceName

Also written (Recommended/Conditional): ChargeFrequency, ConsumedQuantity, ConsumedUnit,
ContractedUnitPrice, ListUnitPrice, RegionId, RegionName, ResourceId, ResourceName,
ResourceType, SkuId, SubAccountId, SubAccountName, SubAccountType, Tags; and custom
`x_` columns (the spec's extension rule): x_PriceBook, x_FxRate, x_SourceCurrency,
x_SourceUnitPrice, x_PriceAsOf.

Mapping (one FOCUS row per daily cost line):

- A project is a sub-account (SubAccountId/Name, SubAccountType "Project"); the whole cloud is
  the billing account (the organisation's name).
- Price book `internal` — the cloud's own rate card — is what is billed: ProviderName,
  PublisherName and InvoiceIssuerName are the organisation; BilledCost = EffectiveCost = the
  line's cost. The public baselines are **separate rows** with ProviderName "AWS" or
  "DigitalOcean" and BilledCost = EffectiveCost = what that provider would bill for the same
  usage (x_PriceBook says which book a row is). Rows, not columns: a baseline prices the usage
  with its own SKUs, units and quantities (m6i.xlarge hours, GB-months, tiers), which FOCUS
  can only express as rows; filter on ProviderName or x_PriceBook to compare.
- ListUnitPrice is the line's list price (converted into BillingCurrency; x_FxRate and
  x_SourceUnitPrice keep the conversion), ListCost = ListUnitPrice × PricingQuantity rounded
  half-even to 6 decimals. There are no negotiated prices: ContractedUnitPrice = ListUnitPrice
  and ContractedCost = ListCost. BilledCost is below ListCost only where a DigitalOcean
  droplet reached its monthly cap.
- ChargeCategory "Usage", ChargeClass null, ChargeFrequency "Usage-Based"; the billing period
  is the calendar month of the charge; times are ISO 8601 UTC (`2026-10-01T00:00:00Z`).
- ChargeDescription: the baseline mapping ('m1.large 4 vCPU 8 GiB → m6i.xlarge 0.204 USD/h,
  eu-north-1, as of 2022-11-22') or, for internal lines, the service and rate card SKU.
- Tags: a JSON object of the project's team, cost center and Keystone tags (a tag without a
  value maps to null).
"""

from __future__ import annotations

import json
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Final

import numpy as np
import pandas as pd

from stackledger.schema import COST_DECIMALS

FOCUS_VERSION: Final = "1.2"
MANDATORY_COLUMNS: Final = (
    "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency", "BillingPeriodEnd",
    "BillingPeriodStart", "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargePeriodEnd",
    "ChargePeriodStart", "ContractedCost", "EffectiveCost", "InvoiceIssuerName", "ListCost",
    "PricingQuantity", "PricingUnit", "ProviderName", "PublisherName", "ServiceCategory", "ServiceName",
)  # fmt: skip
OPTIONAL_COLUMNS: Final = (
    "ChargeFrequency", "ConsumedQuantity", "ConsumedUnit", "ContractedUnitPrice", "ListUnitPrice", "RegionId",
    "RegionName", "ResourceId", "ResourceName", "ResourceType", "SkuId", "SubAccountId", "SubAccountName",
    "SubAccountType", "Tags",
)  # fmt: skip
CUSTOM_COLUMNS: Final = ("x_PriceBook", "x_FxRate", "x_SourceCurrency", "x_SourceUnitPrice", "x_PriceAsOf")
FOCUS_COLUMNS: Final = (*sorted(MANDATORY_COLUMNS + OPTIONAL_COLUMNS), *CUSTOM_COLUMNS)

# Columns `to_focus` reads: the store's cost lines plus project and resource attributes.
INPUT_COLUMNS: Final = (
    "charge_period_start", "charge_period_end", "project_id", "project_name", "team", "cost_center", "tags",
    "resource_id", "resource_name", "resource_type", "service", "region", "consumed_quantity", "consumed_unit",
    "price_book", "sku", "list_unit_price", "pricing_quantity", "pricing_unit", "cost", "currency",
    "price_as_of", "fx_rate", "source_unit_price", "source_currency", "pricing_region", "mapping",
)  # fmt: skip

PROVIDER_NAMES: Final = {"aws": "AWS", "digitalocean": "DigitalOcean"}
INVOICE_ISSUERS: Final = {"aws": "Amazon Web Services", "digitalocean": "DigitalOcean"}
SERVICE_CATEGORIES: Final = {"compute": "Compute", "block": "Storage", "image": "Storage", "network": "Networking"}
# Baseline SKU prefix -> the provider's service name.
BASELINE_SERVICES: Final = {
    "aws": (("ebs-", "Amazon Elastic Block Store"), ("s3-", "Amazon Simple Storage Service"),
            ("egress-", "AWS Data Transfer"), ("data-transfer-", "AWS Data Transfer"),
            ("public-ipv4", "Amazon Virtual Private Cloud"), ("", "Amazon Elastic Compute Cloud")),
    "digitalocean": (("volume-", "Volumes Block Storage"), ("snapshot-", "Snapshots"), ("spaces-", "Spaces"),
                     ("droplet-", "Bandwidth"), ("reserved-ip", "Reserved IPs"), ("", "Droplets")),
}  # fmt: skip
EXACT: Final = Decimal(1).scaleb(-COST_DECIMALS)


def to_focus(lines: pd.DataFrame, *, organisation: str) -> pd.DataFrame:
    """Cost lines (INPUT_COLUMNS) → FOCUS rows (FOCUS_COLUMNS), every cell a string ('' = null)."""
    frame = lines.reset_index(drop=True)
    book = frame["price_book"].astype(str)
    internal = (book == "internal").to_numpy()
    start = pd.to_datetime(frame["charge_period_start"])
    month = start.dt.to_period("M")
    list_price = frame["list_unit_price"].map(_decimal)
    list_cost = [(p * q).quantize(EXACT, rounding=ROUND_HALF_EVEN) for p, q in
                 zip(list_price, frame["pricing_quantity"].map(_decimal), strict=True)]  # fmt: skip
    cost = frame["cost"].map(lambda v: _text(_decimal(v).quantize(EXACT)))
    provider = np.where(internal, organisation, book.map(PROVIDER_NAMES).fillna(book).to_numpy())
    tags = [_tags(*cells) for cells in zip(frame["tags"], frame["team"], frame["cost_center"], strict=True)]
    out = pd.DataFrame({
        "BilledCost": cost,
        "BillingAccountId": organisation,
        "BillingAccountName": organisation,
        "BillingCurrency": frame["currency"].astype(str),
        "BillingPeriodEnd": _iso(month.dt.end_time.dt.floor("D") + pd.Timedelta(days=1)),
        "BillingPeriodStart": _iso(month.dt.start_time),
        "ChargeCategory": "Usage",
        "ChargeClass": "",
        "ChargeDescription": _descriptions(frame, internal),
        "ChargeFrequency": "Usage-Based",
        "ChargePeriodEnd": _iso(pd.to_datetime(frame["charge_period_end"])),
        "ChargePeriodStart": _iso(start),
        "ConsumedQuantity": frame["consumed_quantity"].map(_quantity),
        "ConsumedUnit": frame["consumed_unit"].astype(str),
        "ContractedCost": [_text(c) for c in list_cost],
        "ContractedUnitPrice": list_price.map(_plain),
        "EffectiveCost": cost,
        "InvoiceIssuerName": np.where(internal, organisation, book.map(INVOICE_ISSUERS).fillna(book).to_numpy()),
        "ListCost": [_text(c) for c in list_cost],
        "ListUnitPrice": list_price.map(_plain),
        "PricingQuantity": frame["pricing_quantity"].map(_plain),
        "PricingUnit": frame["pricing_unit"].astype(str),
        "ProviderName": provider,
        "PublisherName": provider,
        "RegionId": _regions(frame, internal),
        "ServiceCategory": frame["service"].map(lambda s: SERVICE_CATEGORIES.get(str(s).split(".")[0], "Other")),
        "ServiceName": _service_names(frame, book, internal),
        "SkuId": frame["sku"].astype(str),
        "SubAccountId": frame["project_id"].fillna("").astype(str),
        "SubAccountName": frame["project_name"].fillna("").astype(str),
        "SubAccountType": np.where(frame["project_id"].fillna("").astype(str) != "", "Project", ""),
        "ResourceId": frame["resource_id"].astype(str),
        "ResourceName": frame["resource_name"].fillna("").astype(str),
        "ResourceType": frame["resource_type"].astype(str),
        "Tags": tags,
        "x_PriceBook": book,
        "x_FxRate": frame["fx_rate"].map(_plain),
        "x_SourceCurrency": frame["source_currency"].map(lambda v: "" if _missing(v) else str(v)),
        "x_SourceUnitPrice": frame["source_unit_price"].map(_plain),
        "x_PriceAsOf": frame["price_as_of"].map(lambda v: "" if _missing(v) else str(v)[:10]),
    })  # fmt: skip
    out["RegionName"] = out["RegionId"]
    return out[list(FOCUS_COLUMNS)]


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA or value is pd.NaT


def _decimal(value: Any) -> Decimal:
    """A stored number as an exact Decimal (SQLite may hand back floats; their repr is exact enough)."""
    return value if isinstance(value, Decimal) else Decimal(repr(value) if isinstance(value, float) else str(value))


def _text(value: Decimal) -> str:
    """Positional notation, trailing zeros kept to the value's scale: 1.500000 (costs)."""
    return format(value, "f")


def _plain(value: Any) -> str:
    """A price, rate or quantity without trailing zeros, the same from every database: 0.204, 24."""
    return "" if _missing(value) else format(_decimal(value).normalize(), "f")


def _quantity(value: Any) -> str:
    text = f"{float(value):.9f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _iso(series: pd.Series) -> pd.Series:
    return series.dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _descriptions(frame: pd.DataFrame, internal: np.ndarray) -> pd.Series:
    mapping = frame["mapping"].where(frame["mapping"].notna(), "").astype(str)
    own = frame["service"].astype(str) + " at " + frame["sku"].astype(str)
    return pd.Series(np.where(internal | (mapping == ""), own, mapping), index=frame.index)


def _regions(frame: pd.DataFrame, internal: np.ndarray) -> np.ndarray:
    region = frame["region"].fillna("").astype(str).to_numpy()
    priced = frame["pricing_region"].fillna("").astype(str).replace("all", "").to_numpy()
    return np.where(internal, region, priced)


def _service_names(frame: pd.DataFrame, book: pd.Series, internal: np.ndarray) -> np.ndarray:
    names = frame["service"].astype(str).to_numpy(dtype=object).copy()
    skus = frame["sku"].astype(str)
    for provider, table in BASELINE_SERVICES.items():
        left = (book == provider).to_numpy() & ~internal
        for prefix, name in table:
            hit = left & skus.str.startswith(prefix).to_numpy()
            names[hit] = name
            left &= ~hit
    return names


def _tags(tags: Any, team: Any, cost_center: Any) -> str:
    pairs: dict[str, str | None] = {}
    if isinstance(team, str) and team:
        pairs["team"] = team
    if isinstance(cost_center, str) and cost_center:
        pairs["cost_center"] = cost_center
    if isinstance(tags, str):
        tags = json.loads(tags) if tags.startswith(("[", "{")) else [tags]
    if isinstance(tags, dict):
        pairs.update({str(k): None if v is None else str(v) for k, v in tags.items()})
    elif isinstance(tags, list | tuple):
        pairs.update({str(tag): None for tag in tags})
    return json.dumps(pairs, sort_keys=True, ensure_ascii=False) if pairs else ""
