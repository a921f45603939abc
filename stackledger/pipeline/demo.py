"""`stackledger demo`: synthetic months through the real pipeline, from raw samples to reports.

1. generate the synthetic cloud (`collectors.synthetic.generate_months`) for the `months`
   calendar months ending with `month` (three by default: month over month, forecasts,
   anomalies and burn-downs have history to show);
2. write their Ceilometer messages, oldest first, to `out_dir/demo-samples.jsonl` — the input
   a user can open (and ingest again);
3. store the projects and every resource of the fleet through `pipeline.inventory` (as the
   Keystone/Nova/Cinder collectors would);
4. then exactly what real months go through: `ingest_paths` → `rate_window` per month →
   `render_reports` of the last month.

The last month's figures do not depend on the months before it (the generator derives them
backwards from it, and its counters' first readings are where the month before ends).
Everything it writes says the data is synthetic: the samples' metadata, the projects'
`synthetic` tag, the inventory's `source`, and the organisation name printed on the reports.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Final

import pandas as pd

from stackledger.collectors import synthetic
from stackledger.errors import ConfigError, InputError
from stackledger.pipeline.base import store_for
from stackledger.pipeline.ingest import IngestResult, ingest_paths
from stackledger.pipeline.inventory import store_projects, store_resources
from stackledger.pipeline.rate import RateResult, rate_window
from stackledger.pipeline.report import render_reports
from stackledger.ratecard import load_rate_card
from stackledger.settings import FxRateSettings, Settings
from stackledger.store import Store
from stackledger.window import Window, utcnow

log = logging.getLogger(__name__)

DEFAULT_MONTH: Final = "2026-10"
DEFAULT_MONTHS: Final = 3  # the months simulated, ending with `month`
SAMPLES_FILE: Final = "demo-samples.jsonl"
REPORT_FORMATS: Final = ("pdf", "csv")
SYNTHETIC_LABEL: Final = "synthetic demo data"
# An illustrative rate for the demo only (not a market quote): used when no `fx` is configured.
DEMO_FX: Final = {"from": "USD", "rate": "0.92", "valid_from": "2000-01-01"}


@dataclass
class DemoResult:
    paths: list[Path]  # the samples file, then the reports
    window: Window  # the month reported (the last one simulated)
    messages: int = 0  # JSON lines written (a line is a raw sample or an envelope of several)
    ingest: IngestResult | None = None
    rates: list[RateResult] = field(default_factory=list)  # one per month, oldest first
    seconds: dict[str, float] = field(default_factory=dict)  # step -> wall time

    @property
    def rate(self) -> RateResult | None:
        """The reported month's rating."""
        return self.rates[-1] if self.rates else None

    @property
    def totals(self) -> dict[str, Decimal]:
        """Currency -> the reported month's total on the internal rate card."""
        return self.rate.totals if self.rate else {}

    @property
    def history(self) -> list[tuple[Window, dict[str, Decimal]]]:
        """The months before the reported one, oldest first, with their internal totals."""
        return [(rated.window, rated.totals) for rated in self.rates[:-1]]


def run_demo(
    settings: Settings,
    out_dir: Path,
    *,
    month: str = DEFAULT_MONTH,
    months: int = DEFAULT_MONTHS,
    seed: int = synthetic.DEFAULT_SEED,
    poll_minutes: int = synthetic.DEFAULT_POLL_MINUTES,
) -> list[Path]:
    """Run the demo into `out_dir`; returns the paths written (samples file first)."""
    return demo(settings, out_dir, month=month, months=months, seed=seed, poll_minutes=poll_minutes).paths


def demo(
    settings: Settings,
    out_dir: Path,
    *,
    month: str = DEFAULT_MONTH,
    months: int = DEFAULT_MONTHS,
    seed: int = synthetic.DEFAULT_SEED,
    poll_minutes: int = synthetic.DEFAULT_POLL_MINUTES,
) -> DemoResult:
    """`run_demo` with the counts, totals and step timings (what the CLI prints)."""
    window = Window.month(month)
    out_dir.mkdir(parents=True, exist_ok=True)
    result = DemoResult(paths=[], window=window)
    clock = _Clock(result.seconds)

    currency = load_rate_card(settings.rate_card).currency
    settings = with_demo_fx(settings, currency)
    clouds = synthetic.generate_months(
        month, count=months, seed=seed, poll_minutes=poll_minutes, region=settings.usage.region, currency=currency
    )
    samples_path = out_dir / SAMPLES_FILE
    with clock("generate"):
        result.messages = write_messages(clouds, samples_path)
    result.paths.append(samples_path)
    with clock("inventory"):
        store_projects(settings, synthetic.projects_frame(clouds[-1]))
        store_resources(settings, fleet_frame(clouds), synthetic.SOURCE)
    with clock("ingest"):
        # a generated month may lie ahead of the clock: its samples are read as at its end
        result.ingest = ingest_paths(settings, [str(samples_path)], now=max(utcnow(), window.end))
    if result.ingest.rejected or result.ingest.errors:
        # The generator only writes what Ceilometer writes: a rejection is a bug on one side.
        first = (result.ingest.examples or result.ingest.errors)[0]
        raise InputError(f"the pipeline rejected {result.ingest.rejected} synthetic sample(s); first: {first}")
    with clock("rate"):
        result.rates = [rate_window(settings, cloud.window) for cloud in clouds]
    with clock("report"):
        result.paths += render_reports(labelled(settings), window, list(REPORT_FORMATS), out_dir)
    log.info(
        "demo %s (%d months): %d messages, %d samples, %d cost lines; %s",
        window.label, len(clouds), result.messages, result.ingest.ingested,
        sum(rated.cost_lines for rated in result.rates),
        ", ".join(f"{step} {seconds:.1f}s" for step, seconds in result.seconds.items()),
    )  # fmt: skip
    return result


def fleet_frame(clouds: Sequence[synthetic.SyntheticCloud]) -> pd.DataFrame:
    """The inventory of every month's resources: a resource the months share is one resource."""
    frames = [synthetic.resources_frame(cloud) for cloud in clouds]
    fleet = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return fleet.drop_duplicates(["resource_id", "valid_from"], ignore_index=True)


def with_demo_fx(settings: Settings, currency: str) -> Settings:
    """Without configured FX rates the USD baselines would stay in USD beside a EUR internal
    total; the demo supplies one illustrative rate (stated on the report) so they compare."""
    if settings.fx or currency == DEMO_FX["from"]:
        return settings
    rate = FxRateSettings.model_validate({**DEMO_FX, "to": currency})
    log.info("demo: no fx configured; using the illustrative rate 1 USD = %s %s", rate.rate, currency)
    return settings.model_copy(update={"fx": [rate]})


def fresh_sqlite(settings: Settings) -> None:
    """Start `database.url` (a SQLite file: the demo's own) from an empty, migrated database.

    The file and its WAL are removed; a store this process already opened on it is disposed
    first, so no pooled connection keeps writing to the removed file.
    """
    probe = Store(settings.database.url)  # connects to nothing: only its URL is read
    database = probe.engine.url.database if probe.dialect == "sqlite" else None
    if not database or database == ":memory:":
        raise ConfigError(f"fresh_sqlite needs a SQLite file URL, got {probe.dialect}", key="database.url")
    store = store_for(settings)
    store.engine.dispose()
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(database + suffix).unlink(missing_ok=True)
    store.upgrade()


def write_messages(clouds: Sequence[synthetic.SyntheticCloud], path: Path) -> int:
    """Write the clouds' messages as JSON lines (one message per line, in arrival order, the
    clouds in the order given)."""
    encode = json.JSONEncoder(ensure_ascii=False, check_circular=False).encode
    count = 0
    with path.open("w", encoding="utf-8") as handle:
        for cloud in clouds:
            for message in synthetic.messages(cloud):
                handle.write(encode(message))
                handle.write("\n")
                count += 1
    return count


def labelled(settings: Settings) -> Settings:
    """The settings with the reports' organisation name saying the figures are synthetic."""
    organisation = settings.report.organisation
    if SYNTHETIC_LABEL in organisation.lower():
        return settings
    report = settings.report.model_copy(update={"organisation": f"{organisation} ({SYNTHETIC_LABEL})"})
    return settings.model_copy(update={"report": report})


class _Clock:
    def __init__(self, seconds: dict[str, float]) -> None:
        self.seconds = seconds

    def __call__(self, step: str) -> _Clock:
        self.step = step
        return self

    def __enter__(self) -> None:
        self.started = time.perf_counter()

    def __exit__(self, *_exc: object) -> None:
        self.seconds[self.step] = time.perf_counter() - self.started


__all__ = [
    "DEFAULT_MONTH", "DEFAULT_MONTHS", "SAMPLES_FILE", "DemoResult", "demo", "fleet_frame", "fresh_sqlite", "run_demo",
    "write_messages",
]  # fmt: skip
