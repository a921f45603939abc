"""The methodology appendix: which prices priced the window, from where and as of when, and how
each flavor was matched to a public instance type.

Everything is read back from the window's cost lines (each carries its price book, SKU, unit
price, `price_as_of`, provider region, FX rate and mapping text), so the appendix describes
the figures actually in the report, not the configuration of today. Where a price came from
(a file, a URL) is looked up in the loaded price books the pipeline hands in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import func, select

from stackledger.reports.data import INTERNAL_BOOK, in_window
from stackledger.store import Store
from stackledger.store.tables import cost_lines
from stackledger.window import Window

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
    store: Store, window: Window, sources: Mapping[tuple[str, str, str], PriceSource], internal_source: str
) -> Methodology:
    line = cost_lines.c
    keys = (
        line.price_book, line.sku, line.pricing_region, line.list_unit_price, line.pricing_unit, line.currency,
        line.price_as_of, line.fx_rate, line.source_unit_price, line.source_currency,
    )  # fmt: skip
    prices_query = select(*keys, func.count().label("lines")).where(in_window(window)).group_by(*keys)
    flavors_query = (
        select(line.flavor_name, line.price_book, line.mapping)
        .distinct()
        .where(in_window(window), line.service == "compute.instance", line.price_book != INTERNAL_BOOK)
        .where(line.mapping.is_not(None))
    )
    with store.engine.connect() as conn:
        prices = [_price(row, sources, internal_source) for row in conn.execute(prices_query)]
        flavors = flavor_table(conn.execute(flavors_query).all())
    prices.sort(key=lambda p: (p.price_book != INTERNAL_BOOK, p.price_book, p.sku, p.region, p.as_of or dt.date.min,
                               p.unit_price))  # fmt: skip
    books = tuple(dict.fromkeys(p.price_book for p in prices))
    return Methodology(tuple(prices), flavors, internal_source, books)


def flavor_table(rows: Iterable[Any]) -> tuple[FlavorMapping, ...]:
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


def _price(row: Any, sources: Mapping[tuple[str, str, str], PriceSource], internal_source: str) -> PriceUsed:
    book, sku, region, price, unit, currency, as_of, fx, source_price, source_currency, lines = row
    if book == INTERNAL_BOOK:
        source = PriceSource(internal_source or "the internal rate card")
    else:
        source = sources.get((book, region or "", sku)) or PriceSource("")
    return PriceUsed(
        price_book=book, sku=sku, region="" if region in (None, "all") else region, unit_price=_decimal(price),
        unit=unit, currency=currency, as_of=_date(as_of), fx_rate=None if fx is None else _decimal(fx),
        source_unit_price=None if source_price is None else _decimal(source_price),
        source_currency=source_currency or "", lines=int(lines), source=source,
    )  # fmt: skip


def _decimal(value: Any) -> Decimal:
    # SQLite hands NUMERIC back through float: the stored text had at most 10 decimals.
    return Decimal(str(value)).quantize(Decimal("1e-10")).normalize()


def _date(value: Any) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])
