"""The internal rate card as rating reads it: prices per service, per period (DESIGN §5).

`stackledger.ratecard` reads the YAML, checks it and builds these; `transforms.rating`
prices usage with them. The invariants below hold for every card the loader builds:

- `RateCard.periods` are sorted by `valid_from` and do not overlap; a period is
  [valid_from, valid_to) in UTC days, `valid_to` None = open-ended.
- Every price is an exact, non-negative `Decimal` in the card's one `currency`, per `per`;
  one `per` is `divisor` units of the service (730 for a month of hours, else 1).
- A service is priced by `rates` or by `tiers` in a period, never both; tiered services take
  no overrides. Overrides are tried in order, the first whose `match` values all equal the
  usage line's attributes (`MATCH_KEYS`) wins over `rates`.
- Tier `up_to` values ascend strictly, in `per` units per project per calendar month; only
  the last tier is open (None).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

# The usage attributes an override may match on, in the order its label joins them.
MATCH_KEYS: Final[tuple[str, ...]] = ("flavor_name", "volume_type", "region")


@dataclass(frozen=True)
class Rate:
    """A price per `per`; one `per` is `divisor` units of the service (730 for a month of hours)."""

    price: Decimal
    per: str
    divisor: int


@dataclass(frozen=True)
class Override(Rate):
    service: str
    match: Mapping[str, str]  # MATCH_KEYS name -> value; all must equal the line's
    label: str  # the matched values joined by ':' — the SKU suffix, unique per service


@dataclass(frozen=True)
class Tier(Rate):
    up_to: Decimal | None  # in `per` units per project per calendar month; None = no limit


@dataclass(frozen=True)
class Period:
    valid_from: dt.date
    valid_to: dt.date | None  # exclusive; None = open-ended
    rates: Mapping[str, Rate]  # service -> base price
    overrides: tuple[Override, ...]  # first match wins
    tiers: Mapping[str, tuple[Tier, ...]]  # service -> graduated steps


@dataclass(frozen=True)
class RateCard:
    currency: str  # ISO 4217
    name: str | None
    source: str  # the file it came from, for error messages
    periods: tuple[Period, ...]  # sorted by valid_from, non-overlapping

    @property
    def has_tiers(self) -> bool:
        return any(period.tiers for period in self.periods)

    @property
    def label(self) -> str:
        """How errors name the card: its name and file, or the file."""
        return f"{self.name!r} ({self.source})" if self.name else self.source
