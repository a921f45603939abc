"""The price books `stackledger rate` writes, as `Rater`s: daily usage → that book's cost lines.

`RATERS` lists the factories used by default — the internal rate card, then the AWS and
DigitalOcean list-price baselines. Another book is one more factory: every book's lines land
in the same transaction as the usage they price.

What a book prices together decides how rating may cut the work (`pipeline.rate_month`):

- a book that is not `month_to_date` prices each daily row on its own: it is priced with each
  chunk of resources, as the chunk's usage is computed;
- a `month_to_date` book (tiers, DigitalOcean's monthly caps, AWS's month-to-date rounding)
  prices a project's calendar month together — and each resource's month, and, for the services
  in `cloud_wide`, the whole cloud's month (AWS's egress tiers: one consolidated bill). Such a
  book is priced from the month's daily usage, in units that never split what it prices together.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from stackledger.errors import PricingError
from stackledger.model.baselines import ALL_REGIONS
from stackledger.pipeline import prices
from stackledger.ratecard import load_rate_card
from stackledger.schema import INTERNAL_BOOK, SERVICES
from stackledger.settings import Settings
from stackledger.transforms import rating
from stackledger.transforms.equivalents import sku_for
from stackledger.transforms.findings import Priced


@dataclass(frozen=True)
class Rater:
    """One price book: turns daily usage (USAGE_COLUMNS, one UTC day per row) into its cost lines
    and findings (a bare cost frame: a book that records no findings)."""

    price_book: str
    rate: Callable[[pd.DataFrame], Priced | pd.DataFrame]
    month_to_date: bool = False  # prices depend on the month's earlier usage (tiers, monthly caps)
    cloud_wide: frozenset[str] = field(default_factory=frozenset)  # services priced over the whole cloud's month


def internal_rater(settings: Settings) -> Rater:
    """The cloud's own rate card (`settings.rate_card`); volume type ids resolved through the
    Cinder types the store holds."""
    card = load_rate_card(settings.rate_card)
    types = prices.volume_type_resolver(settings)
    return Rater(INTERNAL_BOOK, lambda daily: rating.price(daily, card, types(daily)), month_to_date=card.has_tiers)


def aws_rater(settings: Settings) -> Rater:
    """AWS list prices for the same usage (`settings.baselines`, `stackledger.pipeline.prices`)."""
    return Rater("aws", prices.baseline_pricer(settings, "aws"), month_to_date=True,
                 cloud_wide=tiered_services(settings, "aws"))  # fmt: skip


def digitalocean_rater(settings: Settings) -> Rater:
    """DigitalOcean list prices for the same usage; droplets capped at the monthly price."""
    return Rater("digitalocean", prices.baseline_pricer(settings, "digitalocean"), month_to_date=True,
                 cloud_wide=tiered_services(settings, "digitalocean"))  # fmt: skip


RATERS: list[Callable[[Settings], Rater]] = [internal_rater, aws_rater, digitalocean_rater]


def tiered_services(settings: Settings, provider: str) -> frozenset[str]:
    """The services `provider`'s book prices through a tier group (graduated over the cloud's month)."""
    if provider not in settings.baselines.providers:
        return frozenset()
    book = prices.load_price_book(settings)
    config = settings.baselines.config(provider)
    mine = book[(book["provider"] == provider) & book["region"].isin([config.region, ALL_REGIONS])]
    groups = set(mine["tier_group"]) - {""}
    found = set()
    for service in SERVICES:
        try:
            if sku_for(config, service) in groups:
                found.add(service)
        except PricingError:
            continue  # the book names no equivalent: rating says so when it meets such usage
    if any(sku in groups for sku in config.volume_types.values()):
        found.add("block.volume")
    return frozenset(found)


__all__ = ["RATERS", "Rater", "aws_rater", "digitalocean_rater", "internal_rater", "tiered_services"]
