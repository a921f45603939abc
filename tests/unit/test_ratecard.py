"""The rate card loader: exact decimals, and errors that name the file, the key and what was expected."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from stackledger.errors import ConfigError
from stackledger.model import RateCard
from stackledger.ratecard import load_rate_card, loads, parse_rate_card
from stackledger.schema import SERVICES
from stackledger.settings import DEFAULT_RATE_CARD

HEAD = "currency: EUR\nvalid_from: 2026-01-01\n"


def card(text: str) -> RateCard:
    return parse_rate_card(loads(text, source="card.yaml"), source="card.yaml")


def error(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        card(text)
    assert caught.value.file == "card.yaml"
    return caught.value


def test_prices_are_exact_decimals_from_the_yaml_text() -> None:
    loaded = card(HEAD + "rates:\n  compute.vcpu: 0.1\n  compute.ram: '0.0045'\n  network.ingress: 0\n")
    rates = loaded.periods[0].rates
    assert rates["compute.vcpu"].price == Decimal("0.1")  # not 0.1000000000000000055…
    assert str(rates["compute.vcpu"].price) == "0.1"
    assert rates["compute.ram"].price == Decimal("0.0045")
    assert rates["network.ingress"].price == Decimal(0)


def test_default_unit_and_per_month_divisor() -> None:
    loaded = card(HEAD + "rates:\n  compute.vcpu: 0.021\n  block.volume: {price: 0.08, per: GiB-month}\n")
    vcpu, volume = loaded.periods[0].rates["compute.vcpu"], loaded.periods[0].rates["block.volume"]
    assert (vcpu.per, vcpu.divisor) == ("vCPU-hour", 1)
    assert (volume.per, volume.divisor) == ("GiB-month", 730)


def test_single_period_at_top_level_and_periods_sorted() -> None:
    loaded = card(
        "currency: USD\nperiods:\n"
        "  - {valid_from: 2026-10-15, rates: {compute.vcpu: 2}}\n"
        "  - {valid_from: 2026-01-01, valid_to: 2026-10-15, rates: {compute.vcpu: 1}}\n"
    )
    assert [str(p.valid_from) for p in loaded.periods] == ["2026-01-01", "2026-10-15"]
    assert loaded.periods[1].valid_to is None


def test_example_card_prices_every_service_in_every_period() -> None:
    loaded = load_rate_card(DEFAULT_RATE_CARD)
    assert loaded.currency == "EUR"
    assert [str(p.valid_from) for p in loaded.periods] == ["2026-01-01", "2026-10-15"]
    for period in loaded.periods:
        assert set(period.rates) | set(period.tiers) == set(SERVICES)
    # the YAML merge key carried the first period's rates into the second, with the change
    assert loaded.periods[0].rates["compute.vcpu"].price == Decimal("0.0210")
    assert loaded.periods[1].rates["compute.vcpu"].price == Decimal("0.0230")
    assert loaded.periods[1].rates["compute.ram"].price == Decimal("0.0045")


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ("currency: eur\nvalid_from: 2026-01-01\nrates: {compute.vcpu: 1}\n", "currency", "ISO 4217"),
        ("valid_from: 2026-01-01\nrates: {compute.vcpu: 1}\n", "currency", "missing"),
        ("currency: EUR\nrates: {compute.vcpu: 1}\n", "valid_from", "missing"),
        (HEAD + "rates: {compute.cpu: 1}\n", "rates.compute.cpu", "expected one of block.backup"),
        (
            HEAD + "rates: {block.volume: {price: 1, per: vCPU-month}}\n",
            "rates.block.volume.per",
            "expected one of GiB-hour, GiB-month",
        ),
        (
            HEAD + "rates: {network.egress: {price: 1, per: GiB-month}}\n",
            "rates.network.egress.per",
            "expected one of GiB (got 'GiB-month')",
        ),
        (HEAD + "rates: {compute.vcpu: -0.5}\n", "rates.compute.vcpu.price", "greater than or equal to 0"),
        (HEAD + "rates: {compute.vcpu: lots}\n", "rates.compute.vcpu.price", "valid decimal"),
        (HEAD + "rates: {compute.vcpu: 0.12345678901}\n", "rates.compute.vcpu.price", "at most 10 decimal places"),
        (HEAD + "rates: {compute.vcpu: {prize: 1}}\n", "rates.compute.vcpu.prize", "unknown key"),
        (HEAD + "rate: {compute.vcpu: 1}\n", "rate", "unknown key"),
        (HEAD + "rates: {}\n", "rates", "prices nothing"),
        (HEAD + "valid_to: 2026-01-01\nrates: {compute.vcpu: 1}\n", "valid_to", "after valid_from"),
    ],
)
def test_errors_name_key_and_expectation(text: str, key: str, expected: str) -> None:
    caught = error(text)
    assert caught.key == key
    assert expected in str(caught)
    assert str(caught).startswith(f"file card.yaml, key {key}: ")


def test_overrides_are_checked() -> None:
    base = HEAD + "rates: {compute.instance: 0, block.volume: 1}\noverrides:\n"
    caught = error(base + "  - {service: compute.instance, match: {flavour: m1.large}, price: 1}\n")
    assert caught.key == "overrides[0].match.flavour"
    assert "flavor_name, volume_type, region" in str(caught)
    caught = error(base + "  - {service: block.volume, match: {volume_type: ssd}, price: 2, per: GiB-hours}\n")
    assert caught.key == "overrides[0].per"
    caught = error(
        base
        + "  - {service: block.volume, match: {volume_type: ssd}, price: 2}\n"
        + "  - {service: block.volume, match: {volume_type: ssd}, price: 3}\n"
    )
    assert caught.key == "overrides[1].match"
    assert "overrides[0]" in str(caught)
    caught = error(base + "  - {service: compute.instance, price: 1}\n")
    assert caught.key == "overrides[0].match"


def test_tiers_are_checked() -> None:
    tiers = HEAD + "tiers:\n  network.egress:\n"
    caught = error(tiers + "    - {up_to: 10, price: 1}\n    - {up_to: 5, price: 0.5}\n    - {up_to: null, price: 0}\n")
    assert caught.key == "tiers.network.egress[1].up_to"
    assert "more than the previous tier's 10" in str(caught)
    caught = error(tiers + "    - {up_to: 10, price: 1}\n")
    assert caught.key == "tiers.network.egress[0].up_to"
    assert "last tier must be open" in str(caught)
    caught = error(tiers + "    - {up_to: null, price: 1}\n    - {up_to: null, price: 0}\n")
    assert caught.key == "tiers.network.egress[0].up_to"
    caught = error(tiers + "    - {price: 1}\n")
    assert caught.key == "tiers.network.egress[0].up_to"
    assert "missing" in str(caught)
    caught = error(
        HEAD + "tiers:\n  block.volume:\n    - {up_to: 10, price: 1, per: GiB-month}\n    - {up_to: null, price: 0}\n"
    )
    assert caught.key == "tiers.block.volume[1].per"
    caught = error(HEAD + "rates: {network.egress: 1}\ntiers:\n  network.egress: [{up_to: null, price: 1}]\n")
    assert caught.key == "tiers.network.egress"
    assert "priced twice" in str(caught)
    caught = error(
        HEAD + "tiers:\n  network.egress: [{up_to: null, price: 1}]\n"
        "overrides: [{service: network.egress, match: {region: r2}, price: 0}]\n"
    )
    assert caught.key == "overrides[0].service"


def test_periods_are_checked() -> None:
    caught = error(
        "currency: EUR\nperiods:\n"
        "  - {valid_from: 2026-01-01, valid_to: 2026-11-01, rates: {compute.vcpu: 1}}\n"
        "  - {valid_from: 2026-10-15, rates: {compute.vcpu: 2}}\n"
    )
    assert caught.key == "periods[1].valid_from"
    assert "overlaps period [0]" in str(caught)
    caught = error("currency: EUR\nperiods:\n  - {valid_from: 2026-01-01, rates: {compute.vcpu: 0.x}}\n")
    assert caught.key == "periods[0].rates.compute.vcpu.price"
    caught = error("currency: EUR\nvalid_from: 2026-01-01\nperiods:\n  - {valid_from: 2026-01-01, rates: {a: 1}}\n")
    assert caught.key == "valid_from"
    assert "not both" in str(caught)
    caught = error("currency: EUR\nperiods: []\n")
    assert caught.key == "periods"


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match=r"file .*nope\.yaml: cannot read rate card"):
        load_rate_card(missing)
    bad = tmp_path / "bad.yaml"
    bad.write_text("currency: EUR\nrates: {compute.vcpu: [1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"file .*bad\.yaml: not valid YAML at line 3, column 1: expected ','"):
        load_rate_card(bad)
    with pytest.raises(ConfigError, match=r"file card\.yaml: not valid YAML at line 3, column 23: '\.nan' is not a"):
        card(HEAD + "rates: {compute.vcpu: .nan}\n")
    listing = tmp_path / "list.yaml"
    listing.write_text("- currency: EUR\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_rate_card(listing)


def test_python_floats_are_refused() -> None:
    data = {"currency": "EUR", "valid_from": "2026-01-01", "rates": {"compute.vcpu": 0.1}}
    with pytest.raises(ConfigError, match="binary float") as caught:
        parse_rate_card(data, source="<python>")
    assert caught.value.key == "rates.compute.vcpu.price"
    data["rates"] = {"compute.vcpu": "0.1"}
    assert parse_rate_card(data).periods[0].rates["compute.vcpu"].price == Decimal("0.1")
