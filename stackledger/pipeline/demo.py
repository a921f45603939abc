"""`stackledger demo`: a synthetic month through the real pipeline, from raw samples to reports.

1. generate the synthetic cloud (`collectors.synthetic`) for the month;
2. write its Ceilometer messages to `out_dir/demo-samples.jsonl` — the input a user can open;
3. store its projects and resources through `pipeline.inventory` (as the Keystone/Nova/Cinder
   collectors would);
4. then exactly what a real month goes through: `ingest_paths` → `rate_window` → `render_reports`.

Everything it writes says the data is synthetic: the samples' metadata, the projects' `synthetic`
tag, the inventory's `source`, and the organisation name printed on the reports.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Final

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
SAMPLES_FILE: Final = "demo-samples.jsonl"
REPORT_FORMATS: Final = ("pdf", "csv")
SYNTHETIC_LABEL: Final = "synthetic demo data"
# An illustrative rate for the demo only (not a market quote): used when no `fx` is configured.
DEMO_FX: Final = {"from": "USD", "rate": "0.92", "valid_from": "2000-01-01"}


@dataclass
class DemoResult:
    paths: list[Path]  # the samples file, then the reports
    window: Window
    messages: int = 0  # JSON lines written (a line is a raw sample or an envelope of several)
    ingest: IngestResult | None = None
    rate: RateResult | None = None
    seconds: dict[str, float] = field(default_factory=dict)  # step -> wall time

    @property
    def totals(self) -> dict[str, Decimal]:
        """Currency -> the month's total on the internal rate card."""
        return self.rate.totals if self.rate else {}


def run_demo(
    settings: Settings,
    out_dir: Path,
    *,
    month: str = DEFAULT_MONTH,
    seed: int = synthetic.DEFAULT_SEED,
    poll_minutes: int = synthetic.DEFAULT_POLL_MINUTES,
) -> list[Path]:
    """Run the demo into `out_dir`; returns the paths written (samples file first)."""
    return demo(settings, out_dir, month=month, seed=seed, poll_minutes=poll_minutes).paths


def demo(
    settings: Settings,
    out_dir: Path,
    *,
    month: str = DEFAULT_MONTH,
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
    cloud = synthetic.generate_cloud(
        month, seed=seed, poll_minutes=poll_minutes, region=settings.usage.region, currency=currency
    )
    samples_path = out_dir / SAMPLES_FILE
    with clock("generate"):
        result.messages = write_messages(cloud, samples_path)
    result.paths.append(samples_path)
    with clock("inventory"):
        store_projects(settings, synthetic.projects_frame(cloud))
        store_resources(settings, synthetic.resources_frame(cloud), synthetic.SOURCE)
    with clock("ingest"):
        # a generated month may lie ahead of the clock: its samples are read as at its end
        result.ingest = ingest_paths(settings, [str(samples_path)], now=max(utcnow(), window.end))
    if result.ingest.rejected or result.ingest.errors:
        # The generator only writes what Ceilometer writes: a rejection is a bug on one side.
        first = (result.ingest.examples or result.ingest.errors)[0]
        raise InputError(f"the pipeline rejected {result.ingest.rejected} synthetic sample(s); first: {first}")
    with clock("rate"):
        result.rate = rate_window(settings, window)
    with clock("report"):
        result.paths += render_reports(labelled(settings), window, list(REPORT_FORMATS), out_dir)
    log.info(
        "demo %s: %d messages, %d samples, %d cost lines; %s",
        window.label, result.messages, result.ingest.ingested, result.rate.cost_lines,
        ", ".join(f"{step} {seconds:.1f}s" for step, seconds in result.seconds.items()),
    )  # fmt: skip
    return result


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


def write_messages(cloud: synthetic.SyntheticCloud, path: Path) -> int:
    """Write the cloud's messages as JSON lines (one message per line, in arrival order)."""
    encode = json.JSONEncoder(ensure_ascii=False, check_circular=False).encode
    count = 0
    with path.open("w", encoding="utf-8") as handle:
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


__all__ = ["DEFAULT_MONTH", "SAMPLES_FILE", "DemoResult", "demo", "fresh_sqlite", "run_demo", "write_messages"]
