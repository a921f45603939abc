"""Packaged price books: provenance, reproducibility from ../shared/pricebooks, overrides."""

from __future__ import annotations

import datetime as dt
import importlib.util
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from stackledger.errors import ConfigError
from stackledger.transforms.pricebooks import (
    PRICE_BOOK_COLUMNS,
    merge_price_books,
    packaged_price_book,
    packaged_text,
    parse_price_book,
    render_price_book,
    rows_of,
)
from tests.conftest import PRICEBOOKS, REPO

FAMILIES = {"t3", "m5", "m6i", "m7i", "c5", "c6i", "r5", "r6i"}
REGIONS = {"us-east-1", "eu-central-1", "eu-north-1"}


def build_module() -> Any:
    spec = importlib.util.spec_from_file_location("build_pricebooks", REPO / "ops" / "build_pricebooks.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def row(**values: str) -> dict[str, str]:
    base = dict.fromkeys(PRICE_BOOK_COLUMNS, "")
    base.update(provider="aws", region="eu-north-1", kind="instance", unit="hour", currency="USD")
    base.update(values)
    return base


def csv_text(*rows: dict[str, str]) -> str:
    lines = [",".join(PRICE_BOOK_COLUMNS)]
    lines += [",".join(r[c] for c in PRICE_BOOK_COLUMNS) for r in rows]
    return "\n".join(lines) + "\n"


def test_packaged_books_are_reproducible_from_the_shared_price_data() -> None:
    built = build_module().build(PRICEBOOKS)
    for provider, text in built.items():
        assert text == packaged_text(provider), f"run ops/build_pricebooks.py: {provider}.csv is stale"


def test_every_packaged_price_keeps_its_source_and_date() -> None:
    book = packaged_price_book()
    assert (book["source"] != "").all()
    undated = book[book["as_of"].isna()]
    # Only assumptions (free items) and the undated SkyPilot m7i rows have no date, and they say so.
    assert set(undated["strength"]) <= {"assumption", "weak"}
    assert undated[undated["strength"] == "weak"]["note"].str.contains("date not retrievable").all()
    assert (book["currency"] == "USD").all()


def test_coverage_matches_the_issue() -> None:
    book = packaged_price_book()
    aws = rows_of(book, provider="aws")
    instances = aws[aws["kind"] == "instance"]
    assert set(instances["region"]) == REGIONS
    assert set(instances["family"]) == FAMILIES
    for region in REGIONS:
        kinds = set(rows_of(aws, region=region)["kind"])
        assert {"instance", "volume", "egress", "ingress", "ip"} <= kinds, region
    assert "s3-standard-storage-first-50TB" in set(aws["sku"])
    do = rows_of(book, provider="digitalocean")
    droplets = do[do["kind"] == "instance"]
    assert droplets["sku"].nunique() == 147
    assert set(droplets["unit"]) == {"hour", "month"}
    assert {"volume", "snapshot", "object", "egress", "ingress", "ip"} <= set(do["kind"])


@pytest.mark.parametrize(
    ("provider", "region", "sku", "unit", "price", "as_of"),
    [
        ("aws", "eu-north-1", "m6i.xlarge", "hour", "0.204", dt.date(2022, 11, 22)),  # tedivm
        ("aws", "us-east-1", "m5.large", "hour", "0.096", dt.date(2026, 7, 20)),  # Karpenter
        ("aws", "eu-north-1", "ebs-gp3-storage", "GB-month", "0.0836", dt.date(2026, 10, 1)),  # weak note
        ("digitalocean", "all", "s-4vcpu-8gb", "month", "48", dt.date(2025, 6, 23)),
        ("digitalocean", "all", "m3-2vcpu-16gb-intel", "month", "110", dt.date(2025, 6, 23)),  # 1.1E+2 in baseline.csv
    ],
)
def test_known_prices_and_dates(provider: str, region: str, sku: str, unit: str, price: str, as_of: dt.date) -> None:
    book = packaged_price_book()
    found = book[(book["provider"] == provider) & (book["region"] == region) & (book["sku"] == sku)
                 & (book["unit"] == unit)]  # fmt: skip
    assert len(found) == 1
    assert found["price"].iat[0] == Decimal(price)
    assert found["as_of"].iat[0] == as_of


def test_weak_rows_are_marked() -> None:
    book = packaged_price_book()
    gp3 = book[(book["sku"] == "ebs-gp3-storage") & (book["region"] == "eu-north-1")]
    assert gp3["strength"].iat[0] == "weak"
    ipv4 = book[(book["sku"] == "public-ipv4") & (book["region"] == "eu-north-1")]
    assert ipv4["strength"].iat[0] == "weak" and "eu-central-1 quote" in ipv4["note"].iat[0]


def test_render_is_the_inverse_of_parse() -> None:
    for provider in ("aws", "digitalocean"):
        text = packaged_text(provider)
        assert render_price_book(parse_price_book(text, source=provider)) == text


def test_overrides_replace_rows_of_the_same_key_and_add_new_ones() -> None:
    base = packaged_price_book()
    user = parse_price_book(
        csv_text(
            row(sku="m6i.xlarge", family="m6i", vcpus="4", memory_gib="16", price="0.199", source="my quote",
                as_of="2026-11-01"),
            row(sku="x9.large", family="x9", vcpus="2", memory_gib="8", price="0.01", source="my quote"),
        ),
        source="user.csv",
    )  # fmt: skip
    merged = merge_price_books(base, user)
    assert len(merged) == len(base) + 1
    m6i = merged[(merged["sku"] == "m6i.xlarge") & (merged["region"] == "eu-north-1")]
    assert list(m6i["price"]) == [Decimal("0.199")] and list(m6i["source"]) == ["my quote"]


def test_a_tiered_override_replaces_the_whole_tier_group() -> None:
    base = packaged_price_book()
    user = parse_price_book(
        csv_text(row(sku="egress-all", kind="egress", unit="GB", price="0.08", tier_group="egress-internet",
                     tier_start="0", source="my quote")),
        source="user.csv",
    )  # fmt: skip
    merged = merge_price_books(base, user)
    group = merged[(merged["tier_group"] == "egress-internet") & (merged["region"] == "eu-north-1")]
    assert list(group["sku"]) == ["egress-all"]
    assert len(merged[(merged["tier_group"] == "egress-internet") & (merged["region"] == "us-east-1")]) == 4


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"price": "abc"}, r"line 2: expected a decimal number \(got 'abc'\)"),
        ({"price": "-1"}, r"non-negative"),
        ({"provider": "gcp"}, r"expected one of aws, digitalocean"),
        ({"unit": "fortnight"}, r"key unit"),
        ({"as_of": "22/11/2022"}, r"ISO date"),
        ({"tier_start": "10"}, r"need a tier_group"),
        ({"currency": "usd"}, r"ISO 4217"),
    ],
)
def test_bad_rows_name_the_file_line_and_column(values: dict[str, str], message: str) -> None:
    text = csv_text(row(sku="m6i.xlarge", **({"price": "0.2", "source": "x"} | values)))
    with pytest.raises(ConfigError, match=message) as caught:
        parse_price_book(text, source="user.csv")
    assert "user.csv" in str(caught.value)


def test_repeated_keys_and_missing_columns_are_errors() -> None:
    one = row(sku="m6i.xlarge", price="0.2")
    with pytest.raises(ConfigError, match="line 3 repeats the key"):
        parse_price_book(csv_text(one, one), source="user.csv")
    with pytest.raises(ConfigError, match=r"lacks columns \['price'\]"):
        parse_price_book("provider,region,sku,kind,unit\naws,x,y,instance,hour\n", source="user.csv")


def test_build_check_flags_a_stale_file(tmp_path: Path) -> None:
    module = build_module()
    assert module.main([str(PRICEBOOKS), "--out", str(tmp_path)]) == 0
    assert module.main([str(PRICEBOOKS), "--out", str(tmp_path), "--check"]) == 0
    (tmp_path / "aws.csv").write_text("stale\n", encoding="utf-8")
    assert module.main([str(PRICEBOOKS), "--out", str(tmp_path), "--check"]) == 1


def test_select_includes_rows_for_all_regions() -> None:
    book = packaged_price_book()
    chosen = rows_of(book, provider="digitalocean", region="eu-north-1", kind="volume")
    assert list(chosen["sku"]) == ["volume-block-storage"]
    assert isinstance(chosen, pd.DataFrame)
