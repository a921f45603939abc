"""How one public cloud stands in for ours: the configuration of a baseline price book.

`transforms.equivalents` holds the rules that use it (which instance type matches a flavor,
which SKU prices a service); the settings layer builds it from `baselines.<provider>`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

Provider = Literal["aws", "digitalocean"]
PROVIDERS: Final[tuple[Provider, ...]] = ("aws", "digitalocean")  # the public price books, in report order
ALL_REGIONS: Final = "all"  # a price valid in every region (DigitalOcean's do not vary)
DEFAULT_REGIONS: Final[Mapping[str, str]] = {"aws": "us-east-1", "digitalocean": ALL_REGIONS}
DEFAULT_FAMILIES: Final[Mapping[str, tuple[str, ...]]] = {"aws": ("m5", "m6i", "m7i"), "digitalocean": ("s",)}


@dataclass(frozen=True)
class BaselineConfig:
    """One provider's stand-in rules: the region whose prices apply, the instance families a
    flavor may map to, and explicit choices that win over the rules."""

    provider: str  # one of PROVIDERS
    region: str  # the provider's region, or ALL_REGIONS
    families: tuple[str, ...]  # instance families (AWS) / slug prefixes (DigitalOcean) to match flavors in
    flavors: Mapping[str, str] = field(default_factory=dict)  # flavor name -> instance type / slug
    volume_types: Mapping[str, str] = field(default_factory=dict)  # volume type -> storage SKU
    skus: Mapping[str, str] = field(default_factory=dict)  # service -> SKU, tier group or `included`
