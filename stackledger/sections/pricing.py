"""Settings of the public baselines and exchange rates: the YAML of `stackledger.model`'s
`BaselineConfig` and `FxRate`, which these sections build (`BaselineSettings.config`,
`FxRateSettings.fx_rate`)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from pydantic import ConfigDict, Field

from stackledger.errors import ConfigError
from stackledger.model.baselines import DEFAULT_FAMILIES, DEFAULT_REGIONS, PROVIDERS, BaselineConfig, Provider
from stackledger.model.fx import FxRate
from stackledger.sections import Section


class ProviderBaseline(Section):
    """`baselines.<provider>`: the fields of `BaselineConfig` (`transforms.equivalents` explains the rules)."""

    region: str
    families: list[str]
    flavors: dict[str, str] = Field(default_factory=dict)  # flavor name -> instance type / droplet slug
    volume_types: dict[str, str] = Field(default_factory=dict)  # volume type -> storage SKU
    skus: dict[str, str] = Field(default_factory=dict)  # service -> SKU, tier group or `included`

    def config(self, provider: str) -> BaselineConfig:
        """The pure model; ConfigError for services or families the model cannot mean."""
        from stackledger.schema import SERVICES  # pandas: only when a baseline is actually built

        unknown = sorted(set(self.skus) - set(SERVICES))
        if unknown:
            raise ConfigError(f"unknown service {unknown[0]!r}", key=f"baselines.{provider}.skus")
        if not self.families and not self.flavors:
            raise ConfigError("give at least one instance family", key=f"baselines.{provider}.families")
        return BaselineConfig(
            provider=provider,
            region=self.region,
            families=tuple(self.families),
            flavors=dict(self.flavors),
            volume_types=dict(self.volume_types),
            skus=dict(self.skus),
        )


class AwsBaseline(ProviderBaseline):
    region: str = DEFAULT_REGIONS["aws"]
    families: list[str] = Field(default_factory=lambda: list(DEFAULT_FAMILIES["aws"]))


class DigitalOceanBaseline(ProviderBaseline):
    region: str = DEFAULT_REGIONS["digitalocean"]  # DigitalOcean list prices do not vary by region
    families: list[str] = Field(default_factory=lambda: list(DEFAULT_FAMILIES["digitalocean"]))


class BaselineSettings(Section):
    # the books `rate` writes
    providers: list[Provider] = Field(default_factory=lambda: list(PROVIDERS))
    price_overrides: Path | None = None  # user price book CSV: replaces / adds packaged rows
    aws: AwsBaseline = AwsBaseline()
    digitalocean: DigitalOceanBaseline = DigitalOceanBaseline()

    def config(self, provider: str) -> BaselineConfig:
        """`BaselineConfig` of `provider` (one of `stackledger.model.PROVIDERS`)."""
        if provider not in PROVIDERS:
            raise ConfigError(f"unknown provider {provider!r}; expected one of {', '.join(PROVIDERS)}", key="baselines")
        section: ProviderBaseline = getattr(self, provider)
        return section.config(provider)


class FxRateSettings(Section):
    """One `fx` entry: 1 `from` = `rate` `to`, from 00:00 UTC on `valid_from` (`FxRate`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, serialize_by_alias=True)

    source: str = Field(alias="from", pattern=r"^[A-Z]{3}$")
    target: str = Field(alias="to", pattern=r"^[A-Z]{3}$")
    rate: Decimal = Field(gt=0, allow_inf_nan=False)
    valid_from: dt.date

    def fx_rate(self) -> FxRate:
        return FxRate(self.source, self.target, self.rate, self.valid_from)
