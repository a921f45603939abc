"""The providers' official price formats → price book rows.

- **AWS Price List** (bulk offer file `…/offers/v1.0/aws/<Offer>/current/<region>/index.json`:
  `products` keyed by SKU, `terms.OnDemand[sku][offerTermCode].priceDimensions`), one
  GetProducts record (`product` + `terms.OnDemand[rateKey]`), or a GetProducts response
  (`PriceList`: records or their JSON text). Kept, on-demand only:

  ======================  ==========================================================================
  Compute Instance        operatingSystem Linux, tenancy Shared, preInstalledSw NA, capacitystatus
                          Used (and licenseModel "No License required", marketoption OnDemand when
                          present); USD per `Hrs` → sku = instanceType, unit hour. Price 0 rows are
                          dropped (never a free "cheapest" instance)
  Storage (EBS)           volumeApiName gp3/gp2/… → `ebs-<name>-storage`, GB-Mo → GB-month
  Storage Snapshot        usagetype `…EBS:SnapshotUsage` → `ebs-snapshot-storage`
  IP Address              usagetype `…PublicIPv4:InUseAddress` → `public-ipv4`, hour
  Data Transfer           transferType "AWS Outbound", toLocation External → tier group
                          `egress-internet`, one row per beginRange/endRange dimension
  Storage (S3)            storageClass "General Purpose", volumeType Standard → tier group
                          `s3-standard-storage`
  ======================  ==========================================================================

  `as_of` is the OnDemand term's `effectiveDate`; `source` names the offer version and origin.
- **DigitalOcean `/v2/sizes`** (`{"sizes": [{slug, memory (MB), vcpus, price_hourly,
  price_monthly, description, …}]}`): two rows per size, `hour` and `month` (the monthly cap),
  region `all`, family = the slug's prefix. The API gives no date: `as_of` is the caller's
  fetch date.

Numbers keep their text: read JSON with `load_json` (floats as `Decimal`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any, Final

import pandas as pd

from stackledger.errors import InputError
from stackledger.transforms.pricebooks import ALL_REGIONS, PRICE_BOOK_COLUMNS, plain, rows_to_frame

# AWS location names for offers without `regionCode` (older files and GetProducts records).
AWS_LOCATIONS: Final = {
    "US East (N. Virginia)": "us-east-1",
    "US East (Ohio)": "us-east-2",
    "US West (N. California)": "us-west-1",
    "US West (Oregon)": "us-west-2",
    "Canada (Central)": "ca-central-1",
    "EU (Frankfurt)": "eu-central-1",
    "EU (Ireland)": "eu-west-1",
    "EU (London)": "eu-west-2",
    "EU (Paris)": "eu-west-3",
    "EU (Stockholm)": "eu-north-1",
    "EU (Milan)": "eu-south-1",
    "Europe (Frankfurt)": "eu-central-1",
    "Europe (Stockholm)": "eu-north-1",
    "Asia Pacific (Tokyo)": "ap-northeast-1",
    "Asia Pacific (Singapore)": "ap-southeast-1",
    "Asia Pacific (Sydney)": "ap-southeast-2",
    "Asia Pacific (Mumbai)": "ap-south-1",
    "South America (Sao Paulo)": "sa-east-1",
}
AWS_UNITS: Final = {"Hrs": "hour", "GB-Mo": "GB-month", "GB": "GB"}
INSTANCE_FILTER: Final = {
    "operatingSystem": "Linux",
    "tenancy": "Shared",
    "preInstalledSw": "NA",
    "capacitystatus": "Used",
}
OPTIONAL_FILTER: Final = {"licenseModel": "No License required", "marketoption": "OnDemand"}
GIB_PER_TIB: Final = 1024


def load_json(text: str | bytes, *, where: str) -> Any:
    """JSON with every fractional number as an exact `Decimal`."""
    try:
        return json.loads(text, parse_float=Decimal)
    except ValueError as exc:
        raise InputError(f"not valid JSON: {exc}", where=where) from None


# ---------------------------------------------------------------- AWS


def parse_aws_offer(offer: Any, *, origin: str) -> pd.DataFrame:
    """An AWS Price List document (see the module docstring) → price book rows."""
    rows: dict[tuple[str, str, str], dict[str, object]] = {}
    for product, terms, version in _aws_records(offer, origin):
        for row in _aws_rows(product, terms, version, origin):
            key = (str(row["region"]), str(row["sku"]), str(row["unit"]))
            previous = rows.setdefault(key, row)
            if previous["price"] != row["price"]:
                raise InputError(
                    f"two on-demand prices for {key[1]} in {key[0]}: {previous['price']} and {row['price']}",
                    where=origin,
                )
    return rows_to_frame(rows.values())


def _aws_records(offer: Any, origin: str) -> Iterator[tuple[Mapping[str, Any], list[Mapping[str, Any]], str]]:
    """(product, its OnDemand terms, offer version) for each product in any accepted shape."""
    if not isinstance(offer, Mapping):
        raise InputError("expected a JSON object (an AWS Price List offer)", where=origin)
    if "PriceList" in offer:  # a GetProducts response: records, or records as JSON text
        for item in offer["PriceList"]:
            record = load_json(item, where=origin) if isinstance(item, str | bytes) else item
            yield from _aws_records(record, origin)
        return
    version = str(offer.get("version", ""))
    if "product" in offer:  # one GetProducts record
        on_demand = offer.get("terms", {}).get("OnDemand", {})
        yield offer["product"], list(on_demand.values()), version
        return
    if "products" not in offer or "terms" not in offer:
        raise InputError("expected an AWS Price List offer with `products` and `terms`", where=origin)
    on_demand = offer["terms"].get("OnDemand", {})
    for sku, product in offer["products"].items():
        yield product, list(on_demand.get(sku, {}).values()), version


def _aws_rows(
    product: Mapping[str, Any], terms: list[Mapping[str, Any]], version: str, origin: str
) -> Iterator[dict[str, object]]:
    attributes = product.get("attributes", {})
    item = _aws_item(str(product.get("productFamily", "")), attributes)
    if item is None:
        return
    sku, kind, tier_group = item
    region = attributes.get("regionCode") or attributes.get("fromRegionCode") or _location(attributes)
    if not region:
        return
    for term in terms:
        as_of = str(term.get("effectiveDate", ""))[:10]
        for dimension in term.get("priceDimensions", {}).values():
            unit = AWS_UNITS.get(str(dimension.get("unit", "")))
            usd = dimension.get("pricePerUnit", {}).get("USD")
            if unit is None or usd is None:
                continue
            price = Decimal(str(usd))
            if kind == "instance" and price == 0:
                continue
            start, end = _range(dimension) if tier_group else (None, None)
            yield {
                **dict.fromkeys(PRICE_BOOK_COLUMNS, ""),
                "provider": "aws", "region": region,
                "sku": _tier_sku(tier_group, start, end) if tier_group else sku,
                "kind": kind, "family": sku.split(".")[0] if kind == "instance" else "",
                "vcpus": _number(attributes.get("vcpu")) if kind == "instance" else float("nan"),
                "memory_gib": _number(attributes.get("memory")) if kind == "instance" else float("nan"),
                "unit": unit, "price": price, "currency": "USD",
                "tier_group": tier_group, "tier_start": start, "tier_end": end,
                "source": f"AWS Price List offer {version or '(no version)'} ({origin})",
                "as_of": dt.date.fromisoformat(as_of) if as_of else None,
                "strength": "good", "note": str(dimension.get("description", "")),
            }  # fmt: skip


def _aws_item(family: str, attributes: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """(sku, kind, tier group) for a product we keep, else None."""
    usagetype = str(attributes.get("usagetype", ""))
    if family == "Compute Instance":
        if any(attributes.get(k) != v for k, v in INSTANCE_FILTER.items()):
            return None
        if any(k in attributes and attributes[k] != v for k, v in OPTIONAL_FILTER.items()):
            return None
        return str(attributes.get("instanceType", "")), "instance", ""
    if family == "Storage" and attributes.get("volumeApiName"):
        return f"ebs-{attributes['volumeApiName']}-storage", "volume", ""
    if family == "Storage" and attributes.get("storageClass") == "General Purpose":
        if attributes.get("volumeType") == "Standard":
            return "s3-standard-storage", "object", "s3-standard-storage"
        return None
    if family == "Storage Snapshot" and usagetype.endswith("EBS:SnapshotUsage"):
        return "ebs-snapshot-storage", "snapshot", ""
    if family == "IP Address" and usagetype.endswith("PublicIPv4:InUseAddress"):
        return "public-ipv4", "ip", ""
    outbound = attributes.get("transferType") == "AWS Outbound" and attributes.get("toLocation") == "External"
    if family == "Data Transfer" and outbound:
        return "egress-internet", "egress", "egress-internet"
    return None


def _location(attributes: Mapping[str, Any]) -> str:
    return AWS_LOCATIONS.get(str(attributes.get("location") or attributes.get("fromLocation") or ""), "")


def _range(dimension: Mapping[str, Any]) -> tuple[Decimal, Decimal | None]:
    start = Decimal(str(dimension.get("beginRange", "0")))
    end_text = str(dimension.get("endRange", "Inf"))
    return start, None if end_text == "Inf" else Decimal(end_text)


def _tier_sku(group: str, start: Decimal | None, end: Decimal | None) -> str:
    """`egress-internet-first-10TB`, `-next-40TB`, `-over-150TB` (GB when not whole TB)."""

    def size(amount: Decimal) -> str:
        tib = amount / GIB_PER_TIB
        return f"{plain(tib)}TB" if tib == tib.to_integral_value() else f"{plain(amount)}GB"

    start = start or Decimal(0)
    if end is None:
        return f"{group}-over-{size(start)}"
    if start == 0:
        return f"{group}-first-{size(end)}"
    return f"{group}-next-{size(end - start)}"


def _number(text: Any) -> float:
    """'8 GiB' → 8.0, '1,024 GiB' → 1024.0, '2' → 2.0; NaN when absent or 'NA'."""
    if text is None:
        return float("nan")
    head = str(text).split()[0].replace(",", "") if str(text).strip() else ""
    try:
        return float(Decimal(head))
    except ArithmeticError:
        return float("nan")


# ---------------------------------------------------------------- DigitalOcean


def parse_do_sizes(document: Any, *, origin: str, fetched: dt.date) -> pd.DataFrame:
    """A DigitalOcean `/v2/sizes` response (or several pages' `sizes` joined) → price book rows."""
    if not isinstance(document, Mapping) or not isinstance(document.get("sizes"), list):
        raise InputError('expected a JSON object with a "sizes" list (DigitalOcean /v2/sizes)', where=origin)
    rows: list[dict[str, object]] = []
    for index, size in enumerate(document["sizes"]):
        where = f"{origin} sizes[{index}]"
        try:
            slug = str(size["slug"])
            memory_gib = Decimal(str(size["memory"])) / 1024
            vcpus = float(size["vcpus"])
            prices = {"hour": Decimal(str(size["price_hourly"])), "month": Decimal(str(size["price_monthly"]))}
        except (KeyError, TypeError, ArithmeticError) as exc:
            lacks = f"size lacks slug, memory, vcpus, price_hourly or price_monthly ({exc})"
            raise InputError(lacks, where=where) from None
        note = str(size.get("description", ""))
        if size.get("available") is False:
            note = f"{note}; not available for new Droplets".lstrip("; ")
        for unit, price in prices.items():
            rows.append({
                **dict.fromkeys(PRICE_BOOK_COLUMNS, ""),
                "provider": "digitalocean", "region": ALL_REGIONS, "sku": slug, "kind": "instance",
                "family": slug.split("-")[0], "vcpus": vcpus, "memory_gib": float(memory_gib), "unit": unit,
                "price": price, "currency": "USD", "tier_start": None, "tier_end": None,
                "source": f"DigitalOcean /v2/sizes ({origin})", "as_of": fetched, "strength": "good", "note": note,
            })  # fmt: skip
    return rows_to_frame(rows)
