"""Settings for the public baselines and exchange rates."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

import pytest

from stackledger.errors import ConfigError
from stackledger.model import FxRate
from stackledger.pipeline.prices import baseline_pricer
from stackledger.settings import load_settings
from stackledger.transforms.currency import pair_rates


def test_defaults_work_without_any_config() -> None:
    settings = load_settings(None, {})
    aws = settings.baselines.config("aws")
    assert (aws.region, aws.families) == ("us-east-1", ("m5", "m6i", "m7i"))
    assert settings.baselines.config("digitalocean").families == ("s",)
    assert settings.fx == [] and settings.baselines.providers == ["aws", "digitalocean"]


def test_a_config_file_sets_baselines_and_fx(tmp_path: Path) -> None:
    path = tmp_path / "stackledger.yaml"
    path.write_text(
        "baselines:\n"
        "  price_overrides: prices/mine.csv\n"
        "  aws: {region: eu-north-1, families: [m6i], flavors: {m1.large: m6i.xlarge}}\n"
        "fx:\n"
        "  - {from: USD, to: EUR, rate: '0.92', valid_from: 2026-01-01}\n"
        "  - {from: USD, to: EUR, rate: 0.95, valid_from: 2026-10-16}\n",
        encoding="utf-8",
    )
    settings = load_settings(path, {})
    assert settings.baselines.price_overrides == tmp_path / "prices" / "mine.csv"  # relative to the file
    assert settings.baselines.config("aws").flavors == {"m1.large": "m6i.xlarge"}
    assert settings.fx_rates() == (
        FxRate("USD", "EUR", Decimal("0.92"), dt.date(2026, 1, 1)),
        FxRate("USD", "EUR", Decimal("0.95"), dt.date(2026, 10, 16)),
    )
    assert settings.model_dump(mode="json")["fx"][0] == {"from": "USD", "to": "EUR", "rate": "0.92",
                                                         "valid_from": "2026-01-01"}  # fmt: skip


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ({"STACKLEDGER__FX": "[{from: usd, to: EUR, rate: '1', valid_from: 2026-01-01}]"}, "fx.0.from"),
        ({"STACKLEDGER__FX": "[{from: USD, to: EUR, rate: '-1', valid_from: 2026-01-01}]"}, "fx.0.rate"),
        ({"STACKLEDGER__FX": "[{from: USD, to: EUR, rate: '1'}]"}, "fx.0.valid_from"),
        ({"STACKLEDGER__BASELINES__PROVIDERS": "[gcp]"}, "baselines.providers.0"),
        ({"STACKLEDGER__BASELINES__AWS__FAMILIY": "[m6i]"}, "baselines.aws.familiy"),
    ],
)
def test_bad_values_name_the_key(env: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError, match=f"key {re.escape(key)}"):
        load_settings(None, env)


def test_unknown_services_and_empty_families_are_config_errors() -> None:
    settings = load_settings(None, {"STACKLEDGER__BASELINES__AWS__SKUS": "{compute.gpu: x}"})
    with pytest.raises(ConfigError, match=r"unknown service 'compute\.gpu'"):
        settings.baselines.config("aws")
    settings = load_settings(None, {"STACKLEDGER__BASELINES__DIGITALOCEAN__FAMILIES": "[]"})
    with pytest.raises(ConfigError, match=r"baselines\.digitalocean\.families"):
        settings.baselines.config("digitalocean")


def test_two_rates_for_one_pair_and_day_are_an_error() -> None:
    day = dt.date(2026, 1, 1)
    with pytest.raises(ConfigError, match="two USD→EUR rates valid from 2026-01-01"):
        pair_rates([FxRate("USD", "EUR", Decimal(1), day), FxRate("USD", "EUR", Decimal(2), day)], "USD", "EUR")


def test_a_provider_left_out_rates_nothing() -> None:
    settings = load_settings(None, {"STACKLEDGER__BASELINES__PROVIDERS": "[aws]"})
    pricer = baseline_pricer(settings, "digitalocean")
    from stackledger.transforms.rating import daily_usage
    from tests.unit.test_baselines import m1_large

    priced = pricer(daily_usage(m1_large(hours=24)))
    assert priced.lines.empty and priced.findings.empty
    assert len(baseline_pricer(settings, "aws")(daily_usage(m1_large(hours=24))).lines) == 1
