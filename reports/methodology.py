"""The methodology appendix: which prices priced the window, from where and as of when, and how
each flavor was matched to a public instance type.

Everything is read back from the window's cost lines (each carries its price book, SKU, unit
price, `price_as_of`, provider region, FX rate and mapping text: `stackledger.store.reports`
`PriceRecord` and `MappingRecord`), so the appendix describes the figures actually in the
report, not the configuration of today. Where a price came from (a file, a URL) is looked up
in the loaded price books the pipeline hands in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Final

from stackledger.schema import INTERNAL_BOOK

if TYPE_CHECKING:
    from stackledger.store.reports import MappingRecord, PriceRecord

ARROW: Final = " → "


@dataclass(frozen=True)
class PriceSource:
    source: str  # a file under the price books, a URL, the user's file
    strength: str = ""  # good, medium, weak, assumption


@dataclass(frozen=True)
class PriceUsed:
    """One unit price that priced cost lines in the window."""

    price_book: str
    sku: str
    region: str  # the provider region of a public price; "" for the internal rate card
    unit_price: Decimal  # in `currency` (converted when fx_rate is set)
    unit: str
    currency: str
    as_of: dt.date | None
    fx_rate: Decimal | None
    source_unit_price: Decimal | None  # before conversion, in source_currency
    source_currency: str
    lines: int
    source: PriceSource


@dataclass(frozen=True)
class FlavorMapping:
    flavor: str  # e.g. m1.large
    shape: str  # e.g. 4 vCPU 8 GiB
    targets: Mapping[str, str]  # price book -> "m5.xlarge 0.192 USD/h"


@dataclass(frozen=True)
class Methodology:
    prices: tuple[PriceUsed, ...] = ()
    flavors: tuple[FlavorMapping, ...] = ()
    internal_source: str = ""
    books: tuple[str, ...] = field(default=())  # price books present, internal first


def methodology(
    prices_used: Iterable[PriceRecord], mappings: Iterable[MappingRecord],
    sources: Mapping[tuple[str, str, str], PriceSource], internal_source: str,
) -> Methodology:  # fmt: skip
    """The appendix from the window's distinct prices and instance mappings."""
    prices = [_price(record, sources, internal_source) for record in prices_used]
    flavors = flavor_table(mappings)
    prices.sort(key=lambda p: (p.price_book != INTERNAL_BOOK, p.price_book, p.sku, p.region, p.as_of or dt.date.min,
                               p.unit_price))  # fmt: skip
    books = tuple(dict.fromkeys(p.price_book for p in prices))
    return Methodology(tuple(prices), flavors, internal_source, books)


def flavor_table(rows: Iterable[tuple[str, str, str]]) -> tuple[FlavorMapping, ...]:
    """(flavor, price book, mapping text) → one line per flavor with each book's target.

    A mapping text reads 'm1.large 4 vCPU 8 GiB → m5.xlarge 0.192 USD/h, us-east-1, as of …'.
    """
    shapes: dict[str, str] = {}
    targets: dict[str, dict[str, list[str]]] = {}
    for flavor, book, mapping in rows:
        left, _, right = str(mapping).partition(ARROW)
        name = flavor or left.split(" ", 1)[0]
        shapes.setdefault(name, left[len(name) :].strip() if left.startswith(name) else left)
        target = right.split(", ", 1)[0].strip()
        found = targets.setdefault(name, {}).setdefault(book, [])
        if target and target not in found:
            found.append(target)
    return tuple(
        FlavorMapping(name, shapes[name], {book: "; ".join(sorted(t)) for book, t in sorted(targets[name].items())})
        for name in sorted(targets, key=lambda n: (n.casefold(), n))
    )


def _price(record: PriceRecord, sources: Mapping[tuple[str, str, str], PriceSource], internal_source: str) -> PriceUsed:
    book, region = record.price_book, record.pricing_region
    if book == INTERNAL_BOOK:
        source = PriceSource(internal_source or "the internal rate card")
    else:
        source = sources.get((book, region or "", record.sku)) or PriceSource("")
    return PriceUsed(
        price_book=book, sku=record.sku, region="" if region is None or region == "all" else region,
        unit_price=record.list_unit_price, unit=record.pricing_unit, currency=record.currency,
        as_of=record.price_as_of, fx_rate=record.fx_rate, source_unit_price=record.source_unit_price,
        source_currency=record.source_currency or "", lines=record.lines, source=source,
    )  # fmt: skip
