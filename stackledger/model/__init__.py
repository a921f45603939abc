"""The foundation's pure models: what a rate card, a public baseline and an exchange rate are.

Frozen dataclasses and constants, standard library only: no I/O, no YAML, no pydantic, no
pandas, so every layer may import them (`transforms` prices with them; the settings layer —
`stackledger.ratecard`, `stackledger.settings` — reads YAML, validates it and builds them).

- `RateCard` (`Period`, `Rate`, `Override`, `Tier`): the cloud's own prices (`model.ratecard`).
- `BaselineConfig`: how one public cloud stands in for ours (`model.baselines`).
- `FxRate`: one effective-dated exchange rate (`model.fx`).
"""

from __future__ import annotations

from stackledger.model.baselines import ALL_REGIONS, DEFAULT_FAMILIES, DEFAULT_REGIONS, PROVIDERS, BaselineConfig
from stackledger.model.fx import FxRate
from stackledger.model.ratecard import MATCH_KEYS, Override, Period, Rate, RateCard, Tier

__all__ = [
    "ALL_REGIONS", "DEFAULT_FAMILIES", "DEFAULT_REGIONS", "MATCH_KEYS", "PROVIDERS", "BaselineConfig", "FxRate",
    "Override", "Period", "Rate", "RateCard", "Tier",
]  # fmt: skip
