"""Settings of the pipeline steps themselves: database, ingest, usage, collect, airflow."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from stackledger.sections import Section


class DatabaseSettings(Section):
    # Any SQLAlchemy URL; its password is masked wherever the URL is shown (stackledger.redact).
    url: str = "sqlite:///stackledger.db"
    echo: bool = False

    @field_validator("url")
    @classmethod
    def _looks_like_a_url(cls, value: str) -> str:
        if not re.match(r"^[A-Za-z][A-Za-z0-9+]*://", value):
            raise ValueError("not a database URL such as sqlite:///stackledger.db or postgresql+psycopg://user@host/db")
        return value


class IngestSettings(Section):
    # Samples per database transaction (its dead letters, revisions and re-rating marks with it).
    # Large batches pay the per-batch work (a revision per resource touched) less often.
    batch_size: int = Field(default=100_000, gt=0)
    # Worker processes that parse and store a file's blocks of lines on PostgreSQL, while the
    # command decompresses (`pipeline/ingest_jobs.py`); 1: the command does it all. `--jobs`.
    jobs: int = Field(default=1, ge=1)
    # Meters StackLedger does not rate whose samples are stored anyway (by default they are only
    # counted): e.g. [disk.device.read.bytes] to rate them later.
    keep_meters: list[str] = Field(default_factory=list)
    # Samples dated outside [plausible_from, now + plausible_ahead_hours) are dead letters
    # (collectors/plausible.py): 1970 and 9999 are clock or typing accidents, not usage.
    plausible_from: dt.date = dt.date(2000, 1, 1)
    plausible_ahead_hours: int = Field(default=24, ge=0)


class RateSettings(Section):
    """`stackledger rate`: how a day is cut into units of work (docs/dev/SCALE.md §5)."""

    # Readings per unit of work (a chunk of a day's resources): peak memory follows it, about
    # 300 MB per million, whatever the size of the cloud or of the window.
    chunk_samples: int = Field(default=1_000_000, ge=1_000)
    # Daily usage rows per unit of the books priced on the month so far (a set of projects).
    chunk_daily_rows: int = Field(default=200_000, ge=1_000)


class RetentionSettings(Section):
    """`stackledger db retention` (and the daily DAG): raw samples are dropped, day by day, once
    their day is this old and rated; usage, daily usage, cost lines and revisions are kept."""

    raw_days: int = Field(default=62, ge=1)
    # Hourly usage computed from samples ("ceilometer" rows of `usage`: alarms, data-quality sections)
    # older than this is dropped too; None keeps it. Daily usage and cost lines are always kept.
    usage_hours_days: int | None = Field(default=None, ge=1)


class UsageSettings(Section):
    # How far before a window we look for the previous reading of a cumulative counter.
    cumulative_lookback_hours: int = Field(default=24, ge=1)
    region: str = "RegionOne"
    # The usage rows rating reads. Usage computed from Kafka/file samples ("ceilometer") and usage
    # collected from Gnocchi ("gnocchi") describe the same cloud: rating uses one, never both.
    # "synthetic": the demo cloud's usage as `stackledger collect --source synthetic` stores it.
    source: Literal["ceilometer", "gnocchi", "synthetic"] = "ceilometer"


class CollectSettings(Section):
    """`stackledger collect`: how a range is cut into checkpointed windows."""

    window: Literal["hour", "day"] = "day"  # UTC hours or days, clipped to the range asked for
    # A window ending later than this before now is stored but not checkpointed: its data may still
    # arrive (polling interval + metricd delay), so the next run collects it again.
    settle_minutes: int = Field(default=30, ge=0)


class AirflowSettings(Section):
    """The DAGs in airflow_dags/ (README: "Deploying into an existing Airflow")."""

    # What the hourly DAG collects. None: keystone, nova and cinder, plus `usage.source` when a
    # collector provides it (gnocchi). Shardable sources (gnocchi) run in the Gnocchi pool.
    sources: list[str] | None = None
    shards: int = Field(default=1, ge=1, le=256)  # project shards per shardable source: mapped tasks
    report_formats: list[str] = Field(default_factory=lambda: ["pdf", "projects", "csv", "xlsx", "focus"])
    report_dir: Path | None = None  # the monthly DAG writes into <report_dir>/YYYY-MM; default: report.out_dir
