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

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    # A typo in a config key is an error, not a silently ignored line.
    model_config = ConfigDict(extra="forbid", frozen=True)
