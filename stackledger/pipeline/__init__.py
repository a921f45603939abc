"""The steps the CLI and the Airflow DAGs call. Each takes the settings and a window,
does its I/O at the edges, and is safe to re-run for the same window."""

from __future__ import annotations

from stackledger.pipeline.base import database_revision, store_for, upgrade_database
from stackledger.pipeline.ingest import IngestResult, ingest_paths
from stackledger.pipeline.rate import RateResult, rate_pending, rate_window
from stackledger.pipeline.report import render_reports
from stackledger.pipeline.usage import compute_usage, load_usage

__all__ = [
    "IngestResult",
    "RateResult",
    "compute_usage",
    "database_revision",
    "ingest_paths",
    "load_usage",
    "rate_pending",
    "rate_window",
    "render_reports",
    "store_for",
    "upgrade_database",
]
