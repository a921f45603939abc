"""The sections of the settings file, one module per area; `stackledger.settings` assembles
them into the one `Settings` object and loads it.

Each class is the YAML grammar of its section (keys, defaults, constraints, error messages).
Where a section configures a concept with a pure model (`stackledger.model`: the public
baselines, exchange rates), the section builds that model and nothing downstream reads the
section's own fields for it.

- `core`: database, ingest, usage, collect, airflow
- `sources`: gnocchi, openstack (and its project tags), kafka
- `pricing`: baselines, fx
- `alarms`: alarms, their notifiers and forecast
- `reports`: report, report.email
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    # A typo in a config key is an error, not a silently ignored line.
    model_config = ConfigDict(extra="forbid", frozen=True)

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        """repr() masks what `stackledger.redact` masks (a URL's password, a secret-named field):
        settings end up in tracebacks and debug lines. `SecretStr` fields mask themselves."""
        from stackledger.redact import MASK, is_secret_name, redact_text

        for name, value in super().__repr_args__():
            if isinstance(value, str):
                value = MASK if name is not None and is_secret_name(name) else redact_text(value)
            yield name, value
