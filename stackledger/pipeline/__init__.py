"""The steps the CLI and the Airflow DAGs call. Each takes the settings and a window,
does its I/O at the edges, and is safe to re-run for the same window."""

from __future__ import annotations

from stackledger.pipeline.base import database_revision, store_for, upgrade_database

__all__ = ["database_revision", "store_for", "upgrade_database"]
