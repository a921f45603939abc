"""Generators of the providers' official price formats, for round-trip tests.

`aws_offer(book)` writes price book rows as an AWS Price List bulk offer file (the shape of
`…/offers/v1.0/aws/AmazonEC2/current/<region>/index.json`: `products` keyed by SKU and
`terms.OnDemand[sku][sku.offerTermCode].priceDimensions`), with the attribute names and values
of the real GetProducts record in ../shared/pricebooks/aws/. Noise products that a parser must
skip (Windows, dedicated tenancy, unused capacity reservations, reserved terms) are added.
`do_sizes(book)` writes DigitalOcean droplet rows as a `/v2/sizes` response.
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Any

import pandas as pd

from stackledger.transforms.pricebooks.official import AWS_LOCATIONS

REGION_NAMES = {code: name for name, code in AWS_LOCATIONS.items() if not name.startswith("Europe")}
TERM = "JRTCKXETXF"  # the OnDemand offer term code of the real record
RATE = "6YS6EN2CT7"


def _sku(*parts: str) -> str:
    return hashlib.sha1("|".join(parts).encode(), usedforsecurity=False).hexdigest()[:16].upper()


def _price_text(price: Decimal) -> str:
    return f"{price:.10f}"


def _term(sku: str, price: Decimal, unit: str, description: str, begin: str = "0", end: str = "Inf",
          rate: str = RATE) -> dict[str, Any]:  # fmt: skip
    return {
        f"{sku}.{TERM}.{rate}": {
            "unit": unit, "endRange": end, "description": description, "appliesTo": [],
            "rateCode": f"{sku}.{TERM}.{rate}", "beginRange": begin, "pricePerUnit": {"USD": _price_text(price)},
        }
    }  # fmt: skip


def _instance_attributes(row: pd.Series, **changes: str) -> dict[str, str]:
    memory = Decimal(str(row["memory_gib"])).normalize()
    attributes = {
        "memory": f"{format(memory, 'f')} GiB", "vcpu": str(int(row["vcpus"])), "capacitystatus": "Used",
        "locationType": "AWS Region", "instanceFamily": "General purpose", "operatingSystem": "Linux",
        "servicename": "Amazon Elastic Compute Cloud", "instanceType": row["sku"], "tenancy": "Shared",
        "usagetype": f"BoxUsage:{row['sku']}", "servicecode": "AmazonEC2", "licenseModel": "No License required",
        "currentGeneration": "Yes", "preInstalledSw": "NA", "location": REGION_NAMES[row["region"]],
        "regionCode": row["region"], "operation": "RunInstances", "marketoption": "OnDemand",
    }  # fmt: skip
    attributes.update(changes)
    return attributes


def aws_offer(book: pd.DataFrame, *, effective: str = "2026-10-01T00:00:00Z", noise: bool = True) -> dict[str, Any]:
    """Bulk offer JSON for the AWS rows of `book` (instances, EBS, public IPv4, egress tiers, S3)."""
    products: dict[str, Any] = {}
    on_demand: dict[str, Any] = {}

    def add(sku: str, family: str, attributes: dict[str, str], dimensions: dict[str, Any]) -> None:
        products[sku] = {"sku": sku, "productFamily": family, "attributes": attributes}
        on_demand[sku] = {f"{sku}.{TERM}": {"priceDimensions": dimensions, "sku": sku, "effectiveDate": effective,
                                            "offerTermCode": TERM, "termAttributes": {}}}  # fmt: skip

    aws = book[book["provider"] == "aws"]
    for _, row in aws[(aws["kind"] == "instance") & aws["vcpus"].notna()].iterrows():
        sku = _sku(row["region"], row["sku"])
        text = f"${row['price']} per On Demand Linux {row['sku']} Instance Hour"
        add(sku, "Compute Instance", _instance_attributes(row), _term(sku, row["price"], "Hrs", text))
        if noise:
            for field, value in (("operatingSystem", "Windows"), ("tenancy", "Dedicated"),
                                 ("capacitystatus", "UnusedCapacityReservation")):  # fmt: skip
                other = _sku(row["region"], row["sku"], value)
                add(other, "Compute Instance", _instance_attributes(row, **{field: value}),
                    _term(other, row["price"] * 2, "Hrs", "noise"))  # fmt: skip
    for _, row in aws[aws["kind"] == "volume"].iterrows():
        sku = _sku(row["region"], row["sku"])
        name = str(row["sku"]).removeprefix("ebs-").removesuffix("-storage")
        attributes = {"volumeApiName": name, "regionCode": row["region"], "usagetype": f"EBS:VolumeUsage.{name}",
                      "servicecode": "AmazonEC2"}  # fmt: skip
        add(sku, "Storage", attributes, _term(sku, row["price"], "GB-Mo", f"${row['price']} per GB-month"))
    for _, row in aws[aws["kind"] == "ip"].iterrows():
        sku = _sku(row["region"], row["sku"])
        attributes = {"group": "VPCPublicIPv4Address", "regionCode": row["region"],
                      "usagetype": "PublicIPv4:InUseAddress", "servicecode": "AmazonVPC"}  # fmt: skip
        add(sku, "IP Address", attributes, _term(sku, row["price"], "Hrs", "In-use public IPv4 address per hour"))
    for (region, group), tiers in aws[aws["tier_group"] != ""].groupby(["region", "tier_group"]):
        sku = _sku(region, group)
        if group == "egress-internet":
            family = "Data Transfer"
            attributes = {"transferType": "AWS Outbound", "fromRegionCode": region, "toLocation": "External",
                          "usagetype": "DataTransfer-Out-Bytes", "servicecode": "AWSDataTransfer"}  # fmt: skip
        else:
            family = "Storage"
            attributes = {"storageClass": "General Purpose", "volumeType": "Standard", "regionCode": region,
                          "usagetype": "TimedStorage-ByteHrs", "servicecode": "AmazonS3"}  # fmt: skip
        dimensions: dict[str, Any] = {}
        for number, (_, tier) in enumerate(tiers.sort_values("tier_start").iterrows()):
            end = "Inf" if tier["tier_end"] is None else format(tier["tier_end"], "f")
            unit = "GB" if tier["unit"] == "GB" else "GB-Mo"
            dimensions |= _term(sku, tier["price"], unit, str(tier["sku"]), format(tier["tier_start"], "f"), end,
                                rate=f"R{number}")  # fmt: skip
        add(sku, family, attributes, dimensions)
    offer = {
        "formatVersion": "v1.0", "disclaimer": "generated for tests", "offerCode": "AmazonEC2",
        "version": "20261001000000", "publicationDate": effective, "products": products,
        "terms": {"OnDemand": on_demand, "Reserved": {}},
    }  # fmt: skip
    if noise and products:
        first = next(iter(products))
        offer["terms"]["Reserved"][first] = {f"{first}.4NA7Y494T4": {"priceDimensions": _term(first, Decimal("0.001"),
                                                                   "Hrs", "reserved"), "sku": first}}  # fmt: skip
    return offer


def do_sizes(book: pd.DataFrame) -> dict[str, Any]:
    """A /v2/sizes response for the DigitalOcean droplet rows of `book` (hour + month per slug)."""
    droplets = book[(book["provider"] == "digitalocean") & (book["kind"] == "instance")]
    sizes = []
    for slug, rows in droplets.groupby("sku", sort=False):
        prices = dict(zip(rows["unit"], rows["price"], strict=True))
        first = rows.iloc[0]
        sizes.append({
            "slug": slug, "memory": int(Decimal(str(first["memory_gib"])) * 1024), "vcpus": int(first["vcpus"]),
            "disk": 25, "transfer": 1.0, "price_monthly": prices["month"], "price_hourly": prices["hour"],
            "regions": ["ams3", "fra1", "nyc3"], "available": True, "description": first["note"].split("; ")[-1],
            "disk_info": [{"type": "local", "size": {"amount": 25, "unit": "gib"}}],
        })  # fmt: skip
    return {"sizes": sizes, "links": {}, "meta": {"total": len(sizes)}}


def dumps(document: dict[str, Any]) -> str:
    """JSON with Decimals written as numbers, exactly as given."""

    class _Encoder(json.JSONEncoder):
        def default(self, o: Any) -> Any:
            if isinstance(o, Decimal):
                return float(o)
            return super().default(o)

    text = json.dumps(document, cls=_Encoder, indent=1)
    return text
