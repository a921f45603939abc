"""The steps the CLI and the Airflow DAGs call. Each takes the settings and a window,
does its I/O at the edges, and is safe to re-run for the same window.

The names below are imported from their modules when first used, so that a command imports
only its own step (`stackledger ingest` does not need rating's or reporting's modules)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from stackledger.pipeline.base import database_revision, store_for, upgrade_database
    from stackledger.pipeline.ingest import IngestResult, ingest_paths
    from stackledger.pipeline.rate import RateResult, rate_pending, rate_window
    from stackledger.pipeline.report import render_reports
    from stackledger.pipeline.usage import compute_usage, load_usage

_HOME: Final = {
    "IngestResult": "ingest",
    "RateResult": "rate",
    "compute_usage": "usage",
    "database_revision": "base",
    "ingest_paths": "ingest",
    "load_usage": "usage",
    "rate_pending": "rate",
    "rate_window": "rate",
    "render_reports": "report",
    "store_for": "base",
    "upgrade_database": "base",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:  # a submodule not imported yet: the import system imports it
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)


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
