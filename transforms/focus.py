"""Cost lines → FinOps FOCUS 1.2 rows: the cloud's bill, with the public comparisons beside it
(pure: frames in, a frame of strings out).

Spec: FOCUS 1.2, https://focus.finops.org/focus-specification/v1-2/ (column definitions in
github.com/FinOps-Open-Cost-and-Usage-Spec/FOCUS_Spec, `specification/columns/*.md`,
"Feature level"). The 21 **Mandatory** columns of 1.2, all present in every export:

    BilledCost, BillingAccountId, BillingAccountName, BillingCurrency, BillingPeriodEnd,
    BillingPeriodStart, ChargeCategory, ChargeClass, ChargeDescription, ChargePeriodEnd,
    ChargePeriodStart, ContractedCost, EffectiveCost, InvoiceIssuerName, ListCost,
    PricingQuantity, PricingUnit, ProviderName, PublisherName, ServiceCategory, ServiceName

Also written (Recommended/Conditional): ChargeFrequency, ConsumedQuantity, ConsumedUnit,
ContractedUnitPrice, InvoiceId, ListUnitPrice, RegionId, RegionName, ResourceId, ResourceName,
ResourceType, ServiceSubcategory, SkuId, SubAccountId, SubAccountName, SubAccountType, Tags; and
custom `x_` columns (the spec's extension rule), listed in CUSTOM_COLUMNS.

**The export is the bill.** One FOCUS row per cost line of the internal price book (the cloud's
own rate card): the organisation is provider, publisher and invoice issuer, BilledCost =
EffectiveCost = the line's cost, so `sum(BilledCost)` is the month's grand total. The AWS and
DigitalOcean prices of the same usage are not charges anyone billed: they ride on the row of the
usage they price, as `x_AwsCost`, `x_AwsCurrency`, `x_AwsSkuId`, `x_AwsListUnitPrice`,
`x_AwsPricingUnit`, `x_AwsPriceAsOf` (and `x_DigitalOcean…`). A comparison line belongs to the
internal row of the same day, project, resource, service and flavor (the same usage row priced by
both books); when a key has several internal rows (a rate card tier boundary inside the day) the
comparison goes on the first. When a provider's tier boundary falls inside the day, the key has
several comparison lines: the cost is their sum, the SKUs are joined with " + " and the list price
is empty (there is no single one). Summing `x_AwsCost` per `x_AwsCurrency` gives the comparison
totals of the reports exactly. A comparison line without an internal row for its usage is a
SchemaError: the books are rated together, so the store is inconsistent.

Mapping of an internal row:

- A project is a sub-account (SubAccountId/Name, SubAccountType "Project"); the whole cloud is
  the billing account (the organisation's name). InvoiceId is the project's statement of the
  month (`2026-10-<project id>`, what its project PDF shows). Usage without a project is the
  sub-account `unallocated` ("Unallocated (no project)", SubAccountType "Unallocated"), so
  summing BilledCost per sub-account covers the whole bill; a project the inventory has no name
  for is named by its id.
- ListUnitPrice is the rate card price, ListCost = ListUnitPrice × PricingQuantity rounded
  half-even to 6 decimals; there are no negotiated prices: ContractedUnitPrice = ListUnitPrice,
  ContractedCost = ListCost.
- ServiceName / ServiceCategory / ServiceSubcategory: one fixed triple per OpenStack service
  (SERVICES); the rating service key (`compute.vcpu`) is kept in `x_Service`.
- Units in the spec's UnitFormat (`focus_unit`): `GiB-month` → `GiB-Months`, `instance-hour` →
  `Instance-Hours`, `hour` → `Hours`.
- ChargeCategory "Usage", ChargeClass null, ChargeFrequency "Usage-Based"; the billing period
  is the calendar month of the charge; times are ISO 8601 UTC (`2026-10-01T00:00:00Z`).
- ChargeDescription: generated text, ASCII only (names in it are folded to ASCII; they keep
  their own spelling in their own columns).
- Tags: a JSON object of the project's Keystone tags; a tag without a value is `true` (the
  spec's rule for valueless keys). The team and cost center StackLedger derives from them are
  provider-defined tags, so they carry the prefix `stackledger:`.
"""

from __future__ import annotations

import json
import re
import unicodedata
from decimal import ROUND_HALF_EVEN, Decimal
from functools import cache
from typing import Any, Final

import numpy as np
import pandas as pd

from stackledger.errors import SchemaError
from stackledger.schema import COST_DECIMALS, INTERNAL_BOOK, UNALLOCATED_NAME

FOCUS_VERSION: Final = "1.2"
MANDATORY_COLUMNS: Final = (
    "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency", "BillingPeriodEnd",
    "BillingPeriodStart", "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargePeriodEnd",
    "ChargePeriodStart", "ContractedCost", "EffectiveCost", "InvoiceIssuerName", "ListCost",
    "PricingQuantity", "PricingUnit", "ProviderName", "PublisherName", "ServiceCategory", "ServiceName",
)  # fmt: skip
OPTIONAL_COLUMNS: Final = (
    "ChargeFrequency", "ConsumedQuantity", "ConsumedUnit", "ContractedUnitPrice", "InvoiceId", "ListUnitPrice",
    "RegionId", "RegionName", "ResourceId", "ResourceName", "ResourceType", "ServiceSubcategory", "SkuId",
    "SubAccountId", "SubAccountName", "SubAccountType", "Tags",
)  # fmt: skip
# Comparison price book -> the prefix of its x_ columns.
COMPARISONS: Final = {"aws": "Aws", "digitalocean": "DigitalOcean"}
COMPARISON_FIELDS: Final = ("Cost", "Currency", "SkuId", "ListUnitPrice", "PricingUnit", "PriceAsOf")
CUSTOM_COLUMNS: Final = (
    "x_Service", "x_PriceAsOf",
    *(f"x_{prefix}{field}" for prefix in COMPARISONS.values() for field in COMPARISON_FIELDS),
)  # fmt: skip
FOCUS_COLUMNS: Final = (*sorted(MANDATORY_COLUMNS + OPTIONAL_COLUMNS), *CUSTOM_COLUMNS)

# Columns `to_focus` reads: the store's cost lines (every price book) plus project and resource attributes.
INPUT_COLUMNS: Final = (
    "charge_period_start", "charge_period_end", "project_id", "project_name", "team", "cost_center", "tags",
    "resource_id", "resource_name", "resource_type", "service", "flavor_name", "region", "consumed_quantity",
    "consumed_unit", "price_book", "sku", "list_unit_price", "pricing_quantity", "pricing_unit", "cost",
    "currency", "price_as_of",
)  # fmt: skip
# The usage a cost line prices: a comparison line joins the internal row with the same key.
USAGE_KEY: Final = ("charge_period_start", "project_id", "resource_id", "service", "flavor_name")

# Rating service -> (ServiceName, ServiceCategory, ServiceSubcategory): one category and one
# subcategory per ServiceName (FOCUS ServiceName-C-005/-008), values from the spec's lists.
SERVICES: Final = {
    "compute.instance": ("Compute", "Compute", "Virtual Machines"),
    "compute.vcpu": ("Compute", "Compute", "Virtual Machines"),
    "compute.ram": ("Compute", "Compute", "Virtual Machines"),
    "compute.disk.root": ("Compute", "Compute", "Virtual Machines"),  # a server's own disk, sold with it
    "compute.disk.ephemeral": ("Compute", "Compute", "Virtual Machines"),
    "block.volume": ("Block Storage", "Storage", "Block Storage"),
    "block.snapshot": ("Block Storage", "Storage", "Block Storage"),
    "block.backup": ("Volume Backups", "Storage", "Backup Storage"),
    "image.storage": ("Images", "Storage", "Other (Storage)"),
    "network.egress": ("Networking", "Networking", "Network Connectivity"),
    "network.ingress": ("Networking", "Networking", "Network Connectivity"),
    "network.floating_ip": ("Networking", "Networking", "Network Connectivity"),
}
# A service not in SERVICES keeps its key as ServiceName, in the category of its prefix.
PREFIX_CATEGORIES: Final = {"compute": "Compute", "block": "Storage", "image": "Storage", "network": "Networking"}
PROVIDER_TAG_PREFIX: Final = "stackledger:"
UNALLOCATED: Final = "unallocated"  # InvoiceId part of usage without a project
EXACT: Final = Decimal(1).scaleb(-COST_DECIMALS)

_TIME_UNITS: Final = {"second": "Seconds", "minute": "Minutes", "hour": "Hours", "day": "Days", "month": "Months",
                      "year": "Years"}  # fmt: skip
# FOCUS UnitFormat, the forms StackLedger writes: `[N ]Unit` or `Unit-Plural-Time-Units`.
_UNIT_FORMAT: Final = re.compile(r"^(\d+ )?[A-Za-z][A-Za-z0-9]*( [A-Za-z][A-Za-z0-9]*)*(-(" +
                                 "|".join(_TIME_UNITS.values()) + "))?$")  # fmt: skip
# Letters NFKD does not take apart, spelled the way their languages write them in ASCII.
_FOLD: Final = str.maketrans({"æ": "ae", "Æ": "AE", "ø": "o", "Ø": "O", "ß": "ss", "œ": "oe", "Œ": "OE",
                              "đ": "d", "Đ": "D", "ł": "l", "Ł": "L", "þ": "th", "Þ": "TH", "→": "->"})  # fmt: skip


def to_focus(lines: pd.DataFrame, *, organisation: str) -> pd.DataFrame:
    """Cost lines of every price book (INPUT_COLUMNS) → one FOCUS row per internal line
    (FOCUS_COLUMNS), every cell a string ('' = null), comparisons in the x_ columns."""
    frame = lines.reset_index(drop=True)
    keys = _usage_keys(frame)
    internal = (frame["price_book"].astype(str) == INTERNAL_BOOK).to_numpy()
    out = _bill(frame[internal].reset_index(drop=True), organisation)
    own_keys = keys[internal].reset_index(drop=True)
    first = ~own_keys.duplicated(keep="first").to_numpy()
    for book, prefix in COMPARISONS.items():
        chosen = (frame["price_book"].astype(str) == book).to_numpy()
        found = _comparisons(frame[chosen].reset_index(drop=True), keys[chosen].reset_index(drop=True))
        placed = own_keys[first].reset_index().merge(found, on=list(USAGE_KEY), how="left")
        _refuse_orphans(found, own_keys, book)
        for name in COMPARISON_FIELDS:
            column = np.full(len(out), "", dtype=object)
            column[placed["index"].to_numpy()] = placed[name].fillna("").to_numpy(dtype=object)
            out[f"x_{prefix}{name}"] = column
    return out[list(FOCUS_COLUMNS)]


def focus_unit(unit: str) -> str:
    """A stored unit in FOCUS UnitFormat: 'GiB-month' → 'GiB-Months', 'instance-hour' →
    'Instance-Hours', 'hour' → 'Hours', 'GB' → 'GB'. SchemaError when it cannot be written so."""
    return _focus_unit(str(unit))


def to_ascii(text: str) -> str:
    """Text with only ASCII characters: accents dropped ('Müller' → 'Muller'), a few letters
    spelled out ('Ærø' → 'AEro', '→' → '->'), anything else left out."""
    if text.isascii():
        return text
    folded = unicodedata.normalize("NFKD", text.translate(_FOLD))
    return folded.encode("ascii", "ignore").decode("ascii")


# ---------------------------------------------------------------- the internal rows


def _sub_account_names(names: pd.Series, project: pd.Series) -> pd.Series:
    """The project's name, else its id; UNALLOCATED_NAME for usage without a project."""
    named = names.fillna("").astype(str)
    named = named.where(named != "", project)
    return named.where(project != "", UNALLOCATED_NAME)


def _bill(frame: pd.DataFrame, organisation: str) -> pd.DataFrame:
    start = pd.to_datetime(frame["charge_period_start"])
    month = start.dt.to_period("M")
    list_price = frame["list_unit_price"].map(_decimal)
    list_cost = [_text((p * q).quantize(EXACT, rounding=ROUND_HALF_EVEN)) for p, q in
                 zip(list_price, frame["pricing_quantity"].map(_decimal), strict=True)]  # fmt: skip
    cost = frame["cost"].map(lambda v: _text(_decimal(v).quantize(EXACT)))
    project = frame["project_id"].fillna("").astype(str)
    service = frame["service"].astype(str)
    names = service.map(_service)
    out = pd.DataFrame({
        "BilledCost": cost,
        "BillingAccountId": organisation,
        "BillingAccountName": organisation,
        "BillingCurrency": frame["currency"].astype(str),
        "BillingPeriodEnd": _iso(month.dt.end_time.dt.floor("D") + pd.Timedelta(days=1)),
        "BillingPeriodStart": _iso(month.dt.start_time),
        "ChargeCategory": "Usage",
        "ChargeClass": "",
        "ChargeDescription": _descriptions(frame, list_price),
        "ChargeFrequency": "Usage-Based",
        "ChargePeriodEnd": _iso(pd.to_datetime(frame["charge_period_end"])),
        "ChargePeriodStart": _iso(start),
        "ConsumedQuantity": frame["consumed_quantity"].map(_quantity),
        "ConsumedUnit": frame["consumed_unit"].map(focus_unit),
        "ContractedCost": list_cost,
        "ContractedUnitPrice": list_price.map(_plain),
        "EffectiveCost": cost,
        "InvoiceId": month.astype(str) + "-" + project.where(project != "", UNALLOCATED),
        "InvoiceIssuerName": organisation,
        "ListCost": list_cost,
        "ListUnitPrice": list_price.map(_plain),
        "PricingQuantity": frame["pricing_quantity"].map(_plain),
        "PricingUnit": frame["pricing_unit"].map(focus_unit),
        "ProviderName": organisation,
        "PublisherName": organisation,
        "RegionId": frame["region"].fillna("").astype(str),
        "ServiceCategory": names.map(lambda n: n[1]),
        "ServiceName": names.map(lambda n: n[0]),
        "ServiceSubcategory": names.map(lambda n: n[2]),
        "SkuId": frame["sku"].astype(str),
        "SubAccountId": project.where(project != "", UNALLOCATED),
        "SubAccountName": _sub_account_names(frame["project_name"], project),
        "SubAccountType": np.where(project != "", "Project", "Unallocated"),
        "ResourceId": frame["resource_id"].astype(str),
        "ResourceName": frame["resource_name"].fillna("").astype(str),
        "ResourceType": frame["resource_type"].astype(str),
        "Tags": [_tags(*cells) for cells in zip(frame["tags"], frame["team"], frame["cost_center"], strict=True)],
        "x_Service": service,
        "x_PriceAsOf": frame["price_as_of"].map(_date),
    })  # fmt: skip
    out["RegionName"] = out["RegionId"]
    return out


def _service(service: str) -> tuple[str, str, str]:
    known = SERVICES.get(service)
    if known is not None:
        return known
    category = PREFIX_CATEGORIES.get(service.split(".", 1)[0], "Other")
    return service, category, f"Other ({category})"


def _descriptions(frame: pd.DataFrame, list_price: pd.Series) -> pd.Series:
    """'compute.vcpu at 0.021 EUR per vCPU-hour, rate card SKU internal:compute.vcpu' (ASCII)."""
    text = (frame["service"].astype(str) + " at " + list_price.map(_plain) + " " + frame["currency"].astype(str)
            + " per " + frame["pricing_unit"].astype(str) + ", rate card SKU " + frame["sku"].astype(str))  # fmt: skip
    return text.map(to_ascii)


# ---------------------------------------------------------------- the comparisons


def _usage_keys(frame: pd.DataFrame) -> pd.DataFrame:
    """USAGE_KEY columns, nulls as '' so equal keys compare equal."""
    keys = pd.DataFrame({"charge_period_start": pd.to_datetime(frame["charge_period_start"])})
    for name in USAGE_KEY[1:]:
        keys[name] = frame[name].fillna("").astype(str)
    return keys


def _comparisons(lines: pd.DataFrame, keys: pd.DataFrame) -> pd.DataFrame:
    """One book's lines → one row per usage key: USAGE_KEY + COMPARISON_FIELDS, as strings."""
    if lines.empty:
        return pd.DataFrame(columns=[*USAGE_KEY, *COMPARISON_FIELDS])
    single = ~keys.duplicated(keep=False).to_numpy()
    rows = keys[single].assign(
        Cost=lines.loc[single, "cost"].map(lambda v: _text(_decimal(v).quantize(EXACT))),
        Currency=lines.loc[single, "currency"].astype(str),
        SkuId=lines.loc[single, "sku"].astype(str),
        ListUnitPrice=lines.loc[single, "list_unit_price"].map(_plain),
        PricingUnit=lines.loc[single, "pricing_unit"].map(focus_unit),
        PriceAsOf=lines.loc[single, "price_as_of"].map(_date),
    )
    several = [_combined(key, group) for key, group in lines[~single].groupby(
        [keys.loc[~single, name] for name in USAGE_KEY], sort=False)]  # fmt: skip
    if several:
        rows = pd.concat([rows, pd.DataFrame(several, columns=[*USAGE_KEY, *COMPARISON_FIELDS])], ignore_index=True)
    return rows


def _combined(key: tuple[Any, ...], group: pd.DataFrame) -> tuple[Any, ...]:
    """Several lines of one usage key (a provider's tier boundary inside the day)."""
    cost = sum((_decimal(v) for v in group["cost"]), Decimal(0)).quantize(EXACT)
    prices = list(dict.fromkeys(group["list_unit_price"].map(_plain)))
    return (
        *key, _text(cost), _joined(group["currency"].astype(str)), _joined(group["sku"].astype(str)),
        prices[0] if len(prices) == 1 else "", _joined(group["pricing_unit"].map(focus_unit)),
        _joined(group["price_as_of"].map(_date)),
    )  # fmt: skip


def _joined(values: pd.Series) -> str:
    return " + ".join(v for v in dict.fromkeys(values) if v)


def _refuse_orphans(found: pd.DataFrame, own_keys: pd.DataFrame, book: str) -> None:
    if found.empty:
        return
    matched = found[list(USAGE_KEY)].merge(own_keys.drop_duplicates(), on=list(USAGE_KEY), how="left", indicator=True)
    orphans = matched[matched["_merge"] == "left_only"]
    if not orphans.empty:
        first = orphans.iloc[0]
        raise SchemaError(
            f"FOCUS export: {len(orphans)} {book} cost line(s) price usage that has no internal cost line, e.g. "
            f"{first['service']} of resource {first['resource_id']} on {first['charge_period_start']:%Y-%m-%d}: "
            "rate the window again (`stackledger rate`) so every book prices the same usage"
        )


# ---------------------------------------------------------------- cells


@cache
def _focus_unit(unit: str) -> str:
    *base, last = unit.split("-")
    time = _TIME_UNITS.get(last.lower().removesuffix("s"))
    if base and time:
        text = f"{_base_unit('-'.join(base))}-{time}"
    elif time:
        text = time
    else:
        text = _base_unit(unit)
    if not _UNIT_FORMAT.match(text):
        raise SchemaError(f"unit {unit!r} cannot be written in FOCUS unit format (e.g. GiB-Hours, Instance-Hours)")
    return text


def _base_unit(name: str) -> str:
    """'instance' → 'Instance' (a capitalised noun); 'vCPU', 'GiB', 'IP' stay as they are."""
    return name.capitalize() if name.islower() else name


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


def _date(value: Any) -> str:
    return "" if _missing(value) else str(value)[:10]


def _quantity(value: Any) -> str:
    text = f"{float(value):.9f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _iso(series: pd.Series) -> pd.Series:
    return series.dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _tags(tags: Any, team: Any, cost_center: Any) -> str:
    """Keystone tags (a list of strings, or a mapping) → the FOCUS Tags JSON object."""
    pairs: dict[str, str | bool] = {}
    if isinstance(tags, str):
        tags = json.loads(tags) if tags.startswith(("[", "{")) else [tags]
    if isinstance(tags, dict):
        pairs.update({str(k): True if v is None else str(v) for k, v in tags.items()})
    elif isinstance(tags, list | tuple):
        pairs.update({str(tag): True for tag in tags})
    if isinstance(team, str) and team:
        pairs[f"{PROVIDER_TAG_PREFIX}team"] = team
    if isinstance(cost_center, str) and cost_center:
        pairs[f"{PROVIDER_TAG_PREFIX}cost_center"] = cost_center
    return json.dumps(pairs, sort_keys=True, ensure_ascii=False) if pairs else ""
