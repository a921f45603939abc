"""What each OpenStack service is on a public cloud: the equivalence rules (DESIGN §5).

Instances: the cheapest instance type of the allowed families, in the configured region,
with vCPUs ≥ and memory ≥ the flavor's; ties go to fewer vCPUs, then the type's name. An
explicit `flavors` entry (flavor name → type) wins. Types whose vCPUs or memory the source
does not state are never candidates (they can still be named explicitly). DigitalOcean
droplets follow the same rule over slugs (family = slug prefix: `s`, `c`, `g`, `m`, `so` …).

Other services map to one SKU or tier group each (`DEFAULT_SKUS`), overridable per service
(`skus`) and, for volumes, per volume type (`volume_types`):

=========================  ==============================  ====================================
service                    AWS                             DigitalOcean
=========================  ==============================  ====================================
compute.instance           instance type (matched)         droplet slug (matched; monthly cap)
compute.vcpu, compute.ram  included in the instance        included in the droplet
compute.disk.root/.ephem.  ebs-gp3-storage (EBS-only)      included (droplets come with disk)
block.volume               ebs-gp3-storage                 volume-block-storage
block.snapshot, .backup    s3-standard-storage (1)         snapshot-storage
image.storage              s3-standard-storage             spaces-additional-storage (2)
network.egress             egress-internet (tiers)         droplet-outbound-transfer-overage (3)
network.ingress            data-transfer-in-internet (0)   droplet-inbound-transfer (0)
network.floating_ip        public-ipv4                     reserved-ip-assigned (0) (4)
=========================  ==============================  ====================================

(1) The collected data has no EBS snapshot price; EBS snapshots are stored in S3, so S3
    Standard is the nearest published price (an under-estimate of EBS snapshot list prices).
    Add an `ebs-snapshot-storage` row (`prices update` reads it from the offer file) and set
    `skus: {block.snapshot: ebs-snapshot-storage}` to use it. There is no S3 price for the EU
    regions in the collected data: rating images or snapshots there needs an override row.
(2) Spaces' 5 USD/month subscription (250 GiB and 1 TiB included) is per account, not per
    project: images are priced at the additional-storage rate.
(3) The pooled per-droplet transfer allowance is not in the collected data: all egress is
    priced at the overage rate (an upper bound).
(4) OpenStack meters active (associated) floating IPs only, and DigitalOcean does not charge
    a reserved IP assigned to a droplet.

`included` services produce no cost line: their price is part of the instance's. An instance
whose size nothing says, or that no type of the families holds, has no equivalent: `match_flavor`
says why (`Unmatched`) and the book records a finding (`transforms.findings`) instead of a line.
The configuration these rules read is `stackledger.model.BaselineConfig`. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Final

import numpy as np
import pandas as pd

from stackledger.errors import ConfigError, PricingError
from stackledger.model.baselines import ALL_REGIONS, BaselineConfig
from stackledger.transforms.findings import NO_EQUIVALENT, SIZE_UNKNOWN
from stackledger.transforms.pricebooks import plain

INCLUDED: Final = "included"  # part of the instance's price: no cost line
MATCHED: Final = "matched"  # the equivalent instance type / droplet

DEFAULT_SKUS: Final[dict[str, dict[str, str]]] = {
    "aws": {
        "compute.instance": MATCHED,
        "compute.vcpu": INCLUDED,
        "compute.ram": INCLUDED,
        "compute.disk.root": "ebs-gp3-storage",
        "compute.disk.ephemeral": "ebs-gp3-storage",
        "block.volume": "ebs-gp3-storage",
        "block.snapshot": "s3-standard-storage",
        "block.backup": "s3-standard-storage",
        "image.storage": "s3-standard-storage",
        "network.egress": "egress-internet",
        "network.ingress": "data-transfer-in-internet",
        "network.floating_ip": "public-ipv4",
    },
    "digitalocean": {
        "compute.instance": MATCHED,
        "compute.vcpu": INCLUDED,
        "compute.ram": INCLUDED,
        "compute.disk.root": INCLUDED,
        "compute.disk.ephemeral": INCLUDED,
        "block.volume": "volume-block-storage",
        "block.snapshot": "snapshot-storage",
        "block.backup": "snapshot-storage",
        "image.storage": "spaces-additional-storage",
        "network.egress": "droplet-outbound-transfer-overage",
        "network.ingress": "droplet-inbound-transfer",
        "network.floating_ip": "reserved-ip-assigned",
    },
}
MIB_PER_GIB: Final = 1024


def sku_for(config: BaselineConfig, service: str) -> str:
    """What prices `service` in `config.provider`'s book: `MATCHED`, `INCLUDED`, a SKU or a tier
    group (`config.skus` first, then `DEFAULT_SKUS`); PricingError for a service neither names."""
    if service in config.skus:
        return config.skus[service]
    try:
        return DEFAULT_SKUS[config.provider][service]
    except KeyError:
        raise PricingError(
            f"{config.provider} has no equivalent for service {service}; set baselines.{config.provider}.skus",
            service=service,
        ) from None


@dataclass(frozen=True)
class Flavor:
    name: str
    vcpus: float
    ram_mib: float

    def describe(self) -> str:
        name = self.name or "(unnamed flavor)"
        if np.isnan(self.vcpus) or np.isnan(self.ram_mib):
            return name
        return f"{name} {plain_number(self.vcpus)} vCPU {plain_number(self.ram_mib / MIB_PER_GIB)} GiB"


def plain_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def instance_candidates(book: pd.DataFrame, config: BaselineConfig) -> pd.DataFrame:
    """Hourly instance rows of the config's region and families with known size, cheapest first
    (then fewer vCPUs, then name): the order in which `match_flavor` tries them."""
    rows = book[
        (book["kind"] == "instance")
        & (book["unit"] == "hour")
        & book["region"].isin([config.region, ALL_REGIONS])
        & book["family"].isin(config.families)
        & book["vcpus"].notna()
        & book["memory_gib"].notna()
    ]
    order = rows.assign(_price=[float(p) for p in rows["price"]])
    return order.sort_values(["_price", "vcpus", "sku"], kind="stable").drop(columns="_price")


@dataclass(frozen=True)
class Unmatched:
    """Why no instance type stands in for a flavor: data the book cannot price (a finding), not a
    configuration error. `kind` is `transforms.findings.SIZE_UNKNOWN` or `NO_EQUIVALENT`."""

    kind: str
    reason: str


def match_flavor(
    flavor: Flavor, candidates: pd.DataFrame, book: pd.DataFrame, config: BaselineConfig
) -> str | Unmatched:
    """The instance type / slug that stands in for `flavor` (see the module docstring), or why
    there is none. A `flavors` entry naming a type the book lacks is a ConfigError; families that
    match no instance type at all stop rating too (PricingError naming them)."""
    explicit = config.flavors.get(flavor.name)
    if explicit is not None:
        known = book[(book["kind"] == "instance") & (book["sku"] == explicit) & (book["unit"] == "hour")
                     & book["region"].isin([config.region, ALL_REGIONS])]  # fmt: skip
        if known.empty:
            raise ConfigError(
                f"flavor {flavor.name} is mapped to {explicit}, which the {config.provider} price book does not "
                f"have in {config.region}",
                key=f"baselines.{config.provider}.flavors.{flavor.name}",
            )
        return explicit
    if np.isnan(flavor.vcpus) or np.isnan(flavor.ram_mib):
        return Unmatched(
            SIZE_UNKNOWN,
            f"flavor {flavor.name or '(unnamed)'}: usage does not say its vCPUs and RAM, so no {config.provider} "
            f"equivalent can be chosen; map it in baselines.{config.provider}.flavors",
        )
    if candidates.empty:  # the families name no type of the book: the configuration, not the data
        raise PricingError(
            f"flavor {flavor.describe()}: no {config.provider} instance in {config.region} of families "
            f"{', '.join(config.families) or '(none)'}: the families match no instance type of the price book; "
            f"correct baselines.{config.provider}.families (stackledger prices show --provider {config.provider} "
            "--kind instance lists them)",
            service="compute.instance",
            sku=flavor.name,
        )
    fits = candidates[
        (candidates["vcpus"] >= flavor.vcpus) & (candidates["memory_gib"] * MIB_PER_GIB >= flavor.ram_mib)
    ]
    if fits.empty:
        return Unmatched(
            NO_EQUIVALENT,
            f"flavor {flavor.describe()}: no {config.provider} instance in {config.region} of families "
            f"{', '.join(config.families) or '(none)'} has at least its vCPUs and memory; widen "
            f"baselines.{config.provider}.families or map it in baselines.{config.provider}.flavors",
        )
    return str(fits.iloc[0]["sku"])


def describe_price(row: pd.Series, *, cap: Decimal | None = None) -> str:
    """'m6i.xlarge 0.204 USD/h, eu-north-1, as of 2022-11-22' for one price book row."""
    unit = "h" if row["unit"] == "hour" else str(row["unit"])
    text = f"{row['sku']} {plain(row['price'])} {row['currency']}/{unit}"
    if cap is not None:
        text += f" capped at {plain(cap)} {row['currency']}/month"
    region = "all regions" if row["region"] == ALL_REGIONS else row["region"]
    as_of = row["as_of"] or "an unknown date"
    strength = f" ({row['strength']})" if row["strength"] in ("weak", "assumption") else ""
    return f"{text}, {region}, as of {as_of}{strength}"
