"""Shared plumbing for pipeline steps: one store per database URL per process."""

from __future__ import annotations

from functools import cache

from stackledger.settings import Settings
from stackledger.store import Store


@cache
def _store(url: str, echo: bool) -> Store:
    store = Store(url, echo=echo)
    store.ensure_schema()
    return store


def store_for(settings: Settings) -> Store:
    """The migrated store named by `database.url` (a new SQLite file is created and upgraded)."""
    return _store(settings.database.url, settings.database.echo)


def upgrade_database(settings: Settings) -> str | None:
    store = Store(settings.database.url, echo=settings.database.echo)
    store.upgrade()
    return store.revision()


def database_revision(settings: Settings) -> str | None:
    return Store(settings.database.url).revision()
