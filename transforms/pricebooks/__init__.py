"""Public price books: AWS and DigitalOcean list prices, each row with its source and date.

The packaged books (`aws.csv`, `digitalocean.csv` next to this module) are built from the
collected raw price data by `ops/build_pricebooks.py`; a user file named in config
(`baselines.price_overrides`, written by `stackledger prices update`) replaces rows with the
same key and adds new ones. Pure: text in, frames out — reading files is the caller's job,
except the packaged CSVs, which are package data.

Columns (`PRICE_BOOK_COLUMNS`), one price per row:

==============  ==================================================================================
provider        `aws` or `digitalocean`
region          AWS region code (`eu-north-1`); `all` where the provider's prices do not vary by region
sku             instance type / droplet slug / storage, transfer or IP item (`ebs-gp3-storage`)
kind            instance, volume, snapshot, object, egress, ingress, ip
family          instance family (`m6i`, DigitalOcean slug prefix `s`, `c`, `g` …); empty otherwise
vcpus           instance vCPUs (empty when the source does not say: never a match candidate)
memory_gib      instance memory in GiB (DigitalOcean MB / 1024)
unit            what one `price` buys: `hour`, `month` (a DigitalOcean droplet's monthly cap),
                `GB`/`GiB` (transfer), `GB-month`/`GiB-month` (storage; a month is 730 hours)
price           decimal text, in `currency` per `unit`
currency        ISO 4217, `USD` for every packaged row
tier_group      rows of one graduated price share a group (`egress-internet`); empty otherwise
tier_start/end  the tier's range of the month's quantity, in `unit`; an empty end is open
source          where the price comes from (a file under ../shared/pricebooks, a URL, a user file)
as_of           the date the source states for the price (ISO date); empty when unknown
strength        good, medium, weak, assumption — how far the source can be trusted
note            what a reader of the price should know
==============  ==================================================================================

AWS quotes storage and transfer per "GB"; AWS bills those in binary gigabytes, so a GB here
is a GiB of usage (no 1.074 factor).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from importlib import resources
from typing import Final

import pandas as pd

from stackledger.errors import ConfigError
from stackledger.model.baselines import ALL_REGIONS, PROVIDERS

PRICE_BOOK_COLUMNS: Final = (
    "provider", "region", "sku", "kind", "family", "vcpus", "memory_gib", "unit", "price", "currency",
    "tier_group", "tier_start", "tier_end", "source", "as_of", "strength", "note",
)  # fmt: skip
REQUIRED: Final = ("provider", "region", "sku", "kind", "unit", "price")
KEY: Final = ("provider", "region", "sku", "unit")
KINDS: Final = frozenset({"instance", "volume", "snapshot", "object", "egress", "ingress", "ip"})
UNITS: Final = frozenset({"hour", "month", "GB", "GiB", "GB-month", "GiB-month"})
STRENGTHS: Final = frozenset({"", "good", "medium", "weak", "assumption"})


def packaged_text(provider: str) -> str:
    """The packaged CSV text of one provider's price book."""
    return resources.files(__package__).joinpath(f"{provider}.csv").read_text(encoding="utf-8")


def packaged_price_book() -> pd.DataFrame:
    """Every packaged row, parsed and validated."""
    return pd.concat(
        [parse_price_book(packaged_text(p), source=f"transforms/pricebooks/{p}.csv") for p in PROVIDERS],
        ignore_index=True,
    )


def empty_price_book() -> pd.DataFrame:
    return pd.DataFrame({column: pd.Series(dtype="object") for column in PRICE_BOOK_COLUMNS})


# ---------------------------------------------------------------- parsing


def parse_price_book(text: str, *, source: str) -> pd.DataFrame:
    """CSV text → a price book frame. Raises `ConfigError` naming the file, line and column.

    Only the `REQUIRED` columns must be present; `currency` defaults to USD. Parsed types:
    `price` Decimal, `vcpus`/`memory_gib` float (NaN when empty), `tier_start`/`tier_end`
    Decimal or None, `as_of` `datetime.date` or None; the rest are strings.
    """
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    missing = [column for column in REQUIRED if column not in header]
    if missing:
        raise ConfigError(f"price book lacks columns {missing}; expected {', '.join(PRICE_BOOK_COLUMNS)}", file=source)
    unknown = [column for column in header if column not in PRICE_BOOK_COLUMNS]
    if unknown:
        raise ConfigError(f"unknown price book columns {unknown}", file=source)
    rows = []
    seen: dict[tuple[str, ...], int] = {}
    for number, raw in enumerate(reader, start=2):
        row = _parse_row({k: (v or "").strip() for k, v in raw.items() if k is not None}, source, number)
        key = tuple(str(row[k]) for k in KEY)
        if key in seen:
            raise ConfigError(f"line {number} repeats the key {key} of line {seen[key]}", file=source)
        seen[key] = number
        rows.append(row)
    if not rows:
        return empty_price_book()
    return pd.DataFrame(rows, columns=list(PRICE_BOOK_COLUMNS))


def _parse_row(raw: dict[str, str], source: str, line: int) -> dict[str, object]:
    def fail(column: str, message: str) -> ConfigError:
        return ConfigError(f"line {line}: {message} (got {raw.get(column, '')!r})", file=source, key=column)

    def number(column: str, *, optional: bool = True) -> Decimal | None:
        text = raw.get(column, "")
        if not text:
            if optional:
                return None
            raise fail(column, "a number is required")
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise fail(column, "expected a decimal number") from None
        if not value.is_finite() or value < 0:
            raise fail(column, "expected a non-negative decimal number")
        return value

    for column in REQUIRED:
        if not raw.get(column):
            raise fail(column, "a value is required")
    for column, allowed in (("provider", PROVIDERS), ("kind", KINDS), ("unit", UNITS), ("strength", STRENGTHS)):
        if raw.get(column, "") not in allowed:
            raise fail(column, f"expected one of {', '.join(sorted(a for a in allowed if a))}")
    row: dict[str, object] = {column: raw.get(column, "") for column in PRICE_BOOK_COLUMNS}
    row["currency"] = currency = raw.get("currency") or "USD"
    if len(currency) != 3 or not currency.isalpha() or not currency.isupper():
        raise fail("currency", "expected an ISO 4217 code such as USD")
    row["price"] = number("price", optional=False)
    for column in ("vcpus", "memory_gib"):
        value = number(column)
        row[column] = math.nan if value is None else float(value)
    start, end = number("tier_start"), number("tier_end")
    row["tier_start"], row["tier_end"] = start, end
    if raw.get("tier_group") and start is None:
        raise fail("tier_start", "a tiered row needs tier_start")
    if not raw.get("tier_group") and (start is not None or end is not None):
        raise fail("tier_group", "tier_start/tier_end need a tier_group")
    if start is not None and end is not None and end <= start:
        raise fail("tier_end", f"expected more than tier_start {start}")
    try:
        row["as_of"] = dt.date.fromisoformat(raw["as_of"]) if raw.get("as_of") else None
    except ValueError:
        raise fail("as_of", "expected an ISO date YYYY-MM-DD") from None
    return row


# ---------------------------------------------------------------- combining and rendering


def merge_price_books(base: pd.DataFrame, overrides: pd.DataFrame) -> pd.DataFrame:
    """`base` with every row of `overrides` replacing the row of the same KEY, or added.

    A tiered override row replaces its whole tier group (provider, region, tier_group) in
    `base`, so tiers from two sources never overlap.
    """
    if overrides.empty:
        return base.reset_index(drop=True)
    if base.empty:
        return overrides.reset_index(drop=True)
    replaced = pd.MultiIndex.from_frame(overrides[list(KEY)].astype(str))
    keep = ~pd.MultiIndex.from_frame(base[list(KEY)].astype(str)).isin(replaced)
    groups = overrides[overrides["tier_group"] != ""][["provider", "region", "tier_group"]].astype(str)
    if not groups.empty:
        tiered = base[["provider", "region", "tier_group"]].astype(str)
        keep &= ~pd.MultiIndex.from_frame(tiered).isin(pd.MultiIndex.from_frame(groups)) | (base["tier_group"] == "")
    return pd.concat([base[keep], overrides], ignore_index=True)


def rows_of(
    book: pd.DataFrame, *, provider: str | None = None, region: str | None = None, kind: str | None = None
) -> pd.DataFrame:
    """Rows of one provider / region / kind (each optional). A region also selects `all` rows."""
    mask = pd.Series(True, index=book.index)
    if provider:
        mask &= book["provider"] == provider
    if region:
        mask &= book["region"].isin([region, ALL_REGIONS])
    if kind:
        mask &= book["kind"] == kind
    return book[mask]


def render_price_book(book: pd.DataFrame) -> str:
    """A price book frame as CSV text with every column, the inverse of `parse_price_book`."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(PRICE_BOOK_COLUMNS)
    for record in book[list(PRICE_BOOK_COLUMNS)].itertuples(index=False):
        writer.writerow([cell_text(value) for value in record])
    return out.getvalue()


def cell_text(value: object) -> str:
    """One cell as price-book text: plain decimals, ISO dates, '' for missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, Decimal):
        return plain(value)
    if isinstance(value, float):
        return plain(Decimal(repr(value)))
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def plain(value: Decimal) -> str:
    """A decimal without exponent or trailing zeros: Decimal('1.1E+2') → '110'."""
    return format(value.normalize(), "f")


def sort_price_book(book: pd.DataFrame) -> pd.DataFrame:
    """Rows in a stable, readable order: provider, kind, region, family, size, tier, sku, unit."""
    order = book.assign(
        _v=book["vcpus"].fillna(0.0),
        _m=book["memory_gib"].fillna(0.0),
        _t=[float(t) if t is not None else 0.0 for t in book["tier_start"]],
    ).sort_values(["provider", "kind", "region", "family", "_v", "_m", "_t", "sku", "unit"], kind="stable")
    return order.drop(columns=["_v", "_m", "_t"]).reset_index(drop=True)


def rows_to_frame(rows: Iterable[dict[str, object]]) -> pd.DataFrame:
    """Parsed rows (dicts with PRICE_BOOK_COLUMNS keys) as a price book frame."""
    records = list(rows)
    if not records:
        return empty_price_book()
    return pd.DataFrame(records, columns=list(PRICE_BOOK_COLUMNS))
