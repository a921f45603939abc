"""`prices update` parsers: the real format samples in ../shared/pricebooks and larger generated
files of the same shape, round-tripped through the user's price book file."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
import yaml

from stackledger.errors import ConfigError, InputError, SourceError
from stackledger.pipeline.prices import load_price_book, update_prices
from stackledger.settings import load_settings
from stackledger.transforms.pricebooks import (
    merge_price_books,
    packaged_price_book,
    parse_price_book,
    render_price_book,
)
from stackledger.transforms.pricebooks.official import load_json, parse_aws_offer, parse_do_sizes
from tests.conftest import PRICEBOOKS
from tests.official_formats import aws_offer, do_sizes, dumps

M5_RECORD = PRICEBOOKS / "aws" / "ec2-instance-selector_GetProducts_m5_large.json"
DO_EXAMPLE = PRICEBOOKS / "digitalocean" / "do_openapi_sizes_all_sizes.yml"
FETCHED = dt.date(2026, 11, 24)
COMPARED = ["provider", "region", "sku", "kind", "family", "vcpus", "memory_gib", "unit", "price", "tier_group",
            "tier_start", "tier_end"]  # fmt: skip


def key_frame(book: pd.DataFrame) -> pd.DataFrame:
    frame = book[COMPARED].copy()
    for column in ("price", "tier_start", "tier_end"):
        frame[column] = frame[column].map(lambda v: None if v is None else Decimal(v).normalize())
    return frame.sort_values(["provider", "region", "sku", "unit"]).reset_index(drop=True)


def do_example() -> dict[str, object]:
    spec = yaml.safe_load(DO_EXAMPLE.read_text(encoding="utf-8"))
    return spec["content"]["application/json"]["schema"]["example"]


def test_the_real_getproducts_record() -> None:
    rows = parse_aws_offer(load_json(M5_RECORD.read_bytes(), where="m5"), origin="m5_large.json")
    assert len(rows) == 1  # the Reserved terms are not on-demand prices
    found = rows.iloc[0]
    assert (found["region"], found["sku"], found["family"], found["unit"]) == ("us-east-1", "m5.large", "m5", "hour")
    assert (found["vcpus"], found["memory_gib"]) == (2.0, 8.0)
    assert found["price"] == Decimal("0.096")
    assert found["as_of"] == dt.date(2021, 2, 1)  # the OnDemand term's effectiveDate
    assert "20210205204500" in found["source"] and "m5_large.json" in found["source"]


def test_a_getproducts_response_with_records_as_json_text() -> None:
    response = {"FormatVersion": "aws_v1", "PriceList": [M5_RECORD.read_text(encoding="utf-8")]}
    rows = parse_aws_offer(load_json(json.dumps(response), where="r"), origin="response")
    assert list(rows["sku"]) == ["m5.large"]


def test_the_official_sizes_example() -> None:
    rows = parse_do_sizes(load_json(json.dumps(do_example()), where="do"), origin="all_sizes.yml", fetched=FETCHED)
    assert list(rows["unit"]) == ["hour", "month"]
    assert list(rows["price"]) == [Decimal("0.00743999984115362"), Decimal("5.0")]  # exact JSON text
    assert set(rows["sku"]) == {"s-1vcpu-1gb"} and set(rows["family"]) == {"s"}
    assert set(rows["as_of"]) == {FETCHED} and set(rows["region"]) == {"all"}


def test_a_generated_bulk_offer_round_trips_every_packaged_aws_price() -> None:
    book = packaged_price_book()
    wanted = book[(book["provider"] == "aws") & ~((book["kind"] == "instance") & book["vcpus"].isna())
                  & (book["kind"] != "ingress")]  # fmt: skip
    offer = aws_offer(wanted)
    assert len(offer["products"]) > 4 * len(wanted[wanted["kind"] == "instance"])  # with noise products
    parsed = parse_aws_offer(load_json(dumps(offer), where="offer"), origin="index.json")
    pd.testing.assert_frame_equal(key_frame(parsed), key_frame(wanted))
    assert set(parsed["as_of"]) == {dt.date(2026, 10, 1)}


def test_a_generated_sizes_response_round_trips_every_droplet() -> None:
    book = packaged_price_book()
    droplets = book[(book["provider"] == "digitalocean") & (book["kind"] == "instance")]
    parsed = parse_do_sizes(load_json(dumps(do_sizes(droplets)), where="d"), origin="sizes.json", fetched=FETCHED)
    pd.testing.assert_frame_equal(key_frame(parsed), key_frame(droplets))


def test_update_writes_the_user_file_and_rating_reads_it_back(tmp_path: Path) -> None:
    book = packaged_price_book()
    eu = book[(book["provider"] == "aws") & (book["region"] == "eu-north-1") & (book["kind"] == "instance")]
    cheaper = eu.assign(price=[p - Decimal("0.001") for p in eu["price"]])
    (tmp_path / "offer.json").write_text(dumps(aws_offer(cheaper)), encoding="utf-8")
    droplets = book[(book["provider"] == "digitalocean") & (book["kind"] == "instance")]
    (tmp_path / "sizes.json").write_text(dumps(do_sizes(droplets.head(20))), encoding="utf-8")
    config = tmp_path / "stackledger.yaml"
    config.write_text("baselines:\n  price_overrides: my-prices.csv\n", encoding="utf-8")
    settings = load_settings(config, {})
    assert settings.baselines.price_overrides == tmp_path / "my-prices.csv"

    result = update_prices(settings, aws=[str(tmp_path / "offer.json")], digitalocean=[str(tmp_path / "sizes.json")],
                           today=FETCHED)  # fmt: skip
    assert result.rows == {"aws": len(cheaper), "digitalocean": 20}
    written = parse_price_book(result.path.read_text(encoding="utf-8"), source="my-prices.csv")
    assert render_price_book(written) == result.path.read_text(encoding="utf-8")
    loaded = load_price_book(settings)
    m6i = loaded[(loaded["sku"] == "m6i.xlarge") & (loaded["region"] == "eu-north-1")]
    assert list(m6i["price"]) == [Decimal("0.203")]
    assert "offer.json" in m6i["source"].iat[0]
    assert len(loaded) == len(book)  # replaced, not added

    again = update_prices(settings, aws=[str(tmp_path / "offer.json")], today=FETCHED)  # idempotent
    assert again.total == result.total


def test_update_needs_a_target_file_and_a_source(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"baselines\.price_overrides"):
        update_prices(load_settings(None, {}), aws=["x"])
    settings = load_settings(None, {"STACKLEDGER__BASELINES__PRICE_OVERRIDES": str(tmp_path / "p.csv")})
    with pytest.raises(ConfigError, match="--aws and/or --digitalocean"):
        update_prices(settings)
    (tmp_path / "empty.json").write_text('{"products": {}, "terms": {"OnDemand": {}}}', encoding="utf-8")
    with pytest.raises(InputError, match="no aws prices found"):
        update_prices(settings, aws=[str(tmp_path / "empty.json")])
    with pytest.raises(InputError, match="not valid JSON"):
        (tmp_path / "bad.json").write_text("{", encoding="utf-8")
        update_prices(settings, digitalocean=[str(tmp_path / "bad.json")])
    with pytest.raises(InputError, match='"sizes" list'):
        update_prices(settings, digitalocean=[str(tmp_path / "empty.json")])


def test_a_missing_overrides_file_is_a_config_error(tmp_path: Path) -> None:
    settings = load_settings(None, {"STACKLEDGER__BASELINES__PRICE_OVERRIDES": str(tmp_path / "nope.csv")})
    with pytest.raises(ConfigError, match="stackledger prices update"):
        load_price_book(settings)


def test_merging_fresh_offer_rows_keeps_user_rows_of_other_skus() -> None:
    book = packaged_price_book()
    one = parse_aws_offer(load_json(M5_RECORD.read_bytes(), where="m5"), origin="m5")
    merged = merge_price_books(book, one)
    m5 = merged[(merged["sku"] == "m5.large") & (merged["region"] == "us-east-1")]
    assert len(m5) == 1 and m5["as_of"].iat[0] == dt.date(2021, 2, 1)
    assert len(merged) == len(book)


def test_update_reads_urls_and_follows_the_sizes_pages(tmp_path: Path) -> None:
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    book = packaged_price_book()
    droplets = book[(book["provider"] == "digitalocean") & (book["kind"] == "instance")]
    first, second = do_sizes(droplets.head(10)), do_sizes(droplets.iloc[10:20])
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        first["links"] = {"pages": {"next": f"{base}/page2.json"}}
        (tmp_path / "page1.json").write_text(dumps(first), encoding="utf-8")
        (tmp_path / "page2.json").write_text(dumps(second), encoding="utf-8")
        settings = load_settings(None, {"STACKLEDGER__BASELINES__PRICE_OVERRIDES": str(tmp_path / "p.csv")})
        result = update_prices(settings, digitalocean=[f"{base}/page1.json"], today=FETCHED)
        assert result.rows["digitalocean"] == 20
        with pytest.raises(SourceError, match="HTTP 404"):
            update_prices(settings, aws=[f"{base}/missing.json"])
    finally:
        server.shutdown()
        server.server_close()
