"""Shared plumbing for pipeline steps: one store per database URL per process."""

from __future__ import annotations

from functools import cache

from stackledger.settings import Settings
from stackledger.store import Store

_OPENED: list[Store] = []  # every store `store_for` opened in this process


@cache
def _store(url: str, echo: bool) -> Store:
    store = Store(url, echo=echo)
    store.ensure_schema()
    _OPENED.append(store)
    return store


def after_fork() -> None:
    """In a forked child: give every store opened by the parent a new connection pool, so the
    child never uses (or closes) a connection the parent holds."""
    for store in _OPENED:
        store.engine.dispose(close=False)


def store_for(settings: Settings) -> Store:
    """The migrated store named by `database.url` (a new SQLite file is created and upgraded)."""
    return _store(settings.database.url, settings.database.echo)


def upgrade_database(settings: Settings) -> str | None:
    store = Store(settings.database.url, echo=settings.database.echo)
    store.upgrade()
    return store.revision()


def database_revision(settings: Settings) -> str | None:
    return Store(settings.database.url).revision()
