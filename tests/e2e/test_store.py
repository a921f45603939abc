"""The store on SQLite and a real PostgreSQL: migrations, idempotent inserts, atomic windows."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from stackledger.errors import StoreError
from stackledger.pipeline import store_for
from stackledger.settings import Settings
from stackledger.store import Store, tables
from stackledger.store.migrate import current_revision, head_revision

T0 = dt.datetime(2026, 10, 1)


def letter(fingerprint: str) -> dict[str, object]:
    return {"fingerprint": fingerprint, "origin": "/data/s.jsonl", "location": "line 1", "reason": "not valid JSON",
            "payload": "{", "received_at": T0}  # fmt: skip


def count(store: Store, table: object) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def test_store_is_migrated_to_head(any_settings: Settings) -> None:
    store = store_for(any_settings)
    assert current_revision(store.engine) == head_revision()


def test_insert_ignore_returns_only_new_keys(any_settings: Settings) -> None:
    store = store_for(any_settings)
    with store.transaction() as conn:
        first = store.insert_ignore(conn, tables.dead_letters, [letter("a"), letter("b")], returning="fingerprint")
    with store.transaction() as conn:
        second = store.insert_ignore(conn, tables.dead_letters, [letter("b"), letter("c")], returning="fingerprint")
    assert sorted(first) == ["a", "b"]
    assert second == ["c"]
    assert count(store, tables.dead_letters) == 3


def test_failed_window_leaves_nothing_behind(any_settings: Settings) -> None:
    store = store_for(any_settings)
    with pytest.raises(RuntimeError), store.transaction() as conn:
        store.insert_ignore(conn, tables.dead_letters, [letter("x")])
        raise RuntimeError("collector died mid-window")
    assert count(store, tables.dead_letters) == 0


def test_replace_deletes_then_inserts(any_settings: Settings) -> None:
    store = store_for(any_settings)
    rows = [{"day": dt.date(2026, 10, d), "marked_at": T0} for d in (1, 2)]
    for _ in range(2):  # a re-run replaces, never adds
        with store.transaction() as conn:
            store.replace(conn, tables.rerate_days, tables.rerate_days.c.day >= dt.date(2026, 10, 1), rows)
    assert count(store, tables.rerate_days) == 2


def test_unmigrated_postgres_is_refused_with_a_hint(pg_url: str) -> None:
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("DROP DATABASE IF EXISTS stackledger_unmigrated"))
        conn.execute(text("CREATE DATABASE stackledger_unmigrated"))
    admin.dispose()
    url = make_url(pg_url).set(database="stackledger_unmigrated").render_as_string(hide_password=False)
    with pytest.raises(StoreError, match="stackledger db upgrade"):
        Store(url).ensure_schema()
    store = Store(url)
    store.upgrade()
    store.ensure_schema()  # now accepted
    store.engine.dispose()


def test_bad_url_is_a_store_error() -> None:
    with pytest.raises(StoreError, match=r"database\.url"):
        Store("nosuchdb://x")
