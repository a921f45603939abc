"""Migration 0009 on a populated store, on SQLite and PostgreSQL: the old JSON-metadata `samples`
table of a store at 0008 is moved into compact rows and attribute revisions, then dropped.

The same samples are also ingested freshly (a JSON-lines file through `ingest_paths`) into a store
at head and rated; the old store had rated the days too (its hourly usage is the fresh store's).
After the upgrade the migrated store must hold the same samples, revisions and daily usage as the
fresh one, and rating it again must give the very cost lines the fresh one has.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal
from sqlalchemy import JSON, DateTime, Float, String, column, inspect, select, table

from stackledger.pipeline import sample_migration
from stackledger.pipeline.ingest import ingest_paths
from stackledger.pipeline.rate import rate_window
from stackledger.settings import Settings
from stackledger.store import Store, daily_usage, tables
from stackledger.store import sample_days as sd
from stackledger.store.migrate import current_revision, head_revision, upgrade
from stackledger.store.reports import focus_lines
from stackledger.store.revisions import read_revisions
from stackledger.store.sample_codes import names_by_code
from stackledger.store.sample_reads import scan_day
from stackledger.store.usage import append_usage, read_usage
from stackledger.window import Window
from tests.conftest import empty_pg_database, settings_for

DAYS = Window(dt.datetime(2026, 10, 14), dt.datetime(2026, 10, 16))
RESIZED_AT = dt.datetime(2026, 10, 14, 13, 5)
INGESTED_AT = dt.datetime(2026, 10, 16, 1, 0)
SMALL = {"name": "m1.small", "vcpus": 1, "ram": 2048, "disk": 20}
LARGE = {"name": "m1.large", "vcpus": 4, "ram": 8192, "disk": 20}
SSD_ID = "9f1c3a52-5d0e-4a43-9a3e-2d1b7c6e0f11"
HDD_ID = "1b2e4c6d-8f0a-4b3c-9d5e-7f6a8b9c0d1e"

# The old table as 0001..0008 left it (migration 0009 drops it).
OLD_SAMPLES = table(
    "samples",
    column("message_id", String), column("meter", String), column("type", String), column("unit", String),
    column("volume", Float), column("project_id", String), column("user_id", String),
    column("resource_id", String), column("timestamp", DateTime), column("metadata", JSON),
    column("source", String), column("ingested_at", DateTime),
)  # fmt: skip


# ------------------------------------------------------------------ the old store's samples


def _sample(meter: str, kind: str, unit: str, volume: float, project: str | None, resource: str, at: dt.datetime,
            metadata: dict[str, Any], message_id: str | None = None) -> dict[str, Any]:  # fmt: skip
    key = message_id or str(uuid.uuid5(uuid.NAMESPACE_URL, f"{meter}/{resource}/{at.isoformat()}"))
    return {"message_id": key, "meter": meter, "type": kind, "unit": unit, "volume": volume, "project_id": project,
            "user_id": "u-1" if project else None, "resource_id": resource, "timestamp": at,
            "metadata": metadata, "source": "openstack"}  # fmt: skip


def _instance(resource: str, project: str, at: dt.datetime, flavor: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """One polling cycle of an instance: what rating reads of it (and the `cpu` presence meter)."""
    meta = {"flavor": flavor, "status": "active", "display_name": name, "instance_type": flavor["name"],
            "vcpus": flavor["vcpus"], "memory_mb": flavor["ram"]}  # fmt: skip
    cpu_ns = float(int((at - DAYS.start).total_seconds()) * 10**9)
    return [
        _sample("cpu", "cumulative", "ns", cpu_ns, project, resource, at, meta),
        _sample("vcpus", "gauge", "vcpu", float(flavor["vcpus"]), project, resource, at, meta),
        _sample("memory", "gauge", "MiB", float(flavor["ram"]), project, resource, at, meta),
        _sample("disk.root.size", "gauge", "GiB", float(flavor["disk"]), project, resource, at, meta),
    ]


def _volume(
    resource: str, project: str | None, at: dt.datetime, size: float, type_name: str, type_id: str
) -> dict[str, Any]:
    meta = {"volume_type": type_name, "volume_type_id": type_id, "status": "in-use", "display_name": resource}
    return _sample("volume.size", "gauge", "GiB", size, project, resource, at, meta)


def old_samples() -> list[dict[str, Any]]:
    """Two days of hourly polls: two instances (one resized on the first day at 13:05), two
    volumes (one of them, for three hours, named no project), a floating IP that never names a
    project, and a second poller's copy of one reading under another message id (the old key was
    `message_id` alone). The old store also holds `EPOCH_SAMPLE`, which a fresh ingest refuses."""
    rows: list[dict[str, Any]] = []
    hour = DAYS.start + dt.timedelta(minutes=5)
    while hour < DAYS.end:
        rows += _instance("inst-web", "proj-a", hour, SMALL if hour < RESIZED_AT else LARGE, "web-1")
        rows += _instance("inst-db", "proj-b", hour, SMALL, "db-1")
        rows.append(_volume("vol-data", "proj-a", hour, 100.0, "ssd", SSD_ID))
        orphan = dt.datetime(2026, 10, 15, 2) <= hour < dt.datetime(2026, 10, 15, 5)
        rows.append(_volume("vol-logs", None if orphan else "proj-b", hour, 20.0, "hdd", HDD_ID))
        rows.append(_sample("ip.floating", "gauge", "ip", 1.0, None, "fip-1", hour, {"status": "active"}))
        hour += dt.timedelta(hours=1)
    twin = next(row for row in rows if row["meter"] == "vcpus" and row["resource_id"] == "inst-db")
    rows.append({**twin, "message_id": str(uuid.uuid4())})  # the old key was message_id alone
    return rows


# A clock accident the old store took before plausibility checks existed.
EPOCH_SAMPLE = {**_volume("vol-data", "proj-a", dt.datetime(1970, 1, 1), 100.0, "ssd", SSD_ID), "message_id": "epoch-1"}


def ceilometer_line(row: dict[str, Any]) -> str:
    """The sample as Ceilometer publishes it (a JSON line `stackledger ingest` reads)."""
    return json.dumps({
        "message_id": row["message_id"], "counter_name": row["meter"], "counter_type": row["type"],
        "counter_unit": row["unit"], "counter_volume": row["volume"], "project_id": row["project_id"],
        "user_id": row["user_id"], "resource_id": row["resource_id"], "timestamp": row["timestamp"].isoformat(),
        "resource_metadata": row["metadata"], "source": row["source"],
    })  # fmt: skip


# ------------------------------------------------------------------ stores


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """An empty PostgreSQL database of this test's own (the session's one is already at head)."""
    with empty_pg_database(f"stackledger_m9_{os.getpid()}") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Settings, Settings]:
    """(an empty database for the old store, an empty store at head for the fresh ingest)."""
    if request.param == "sqlite":
        old_url, fresh_url = f"sqlite:///{tmp_path / 'old.db'}", f"sqlite:///{tmp_path / 'fresh.db'}"
        Store(fresh_url).upgrade()
        return settings_for(old_url, tmp_path / "old"), settings_for(fresh_url, tmp_path / "fresh")
    old_url = request.getfixturevalue("postgres_database")
    fresh: Settings = request.getfixturevalue("pg_settings")
    return settings_for(old_url, tmp_path / "old"), fresh


def stored_samples(store: Store) -> Counter[tuple[Any, ...]]:
    """Every stored sample as (timestamp, volume, meter, resource id, project id), read day by day
    the way rating reads them (`scan_day`), codes turned into names."""
    found: Counter[tuple[Any, ...]] = Counter()
    with store.engine.connect() as conn:
        meters, resources = names_by_code(conn, "meter"), names_by_code(conn, "resource")
        projects = names_by_code(conn, "project")
        codes = [code for code, name in enumerate(meters) if name is not None]
        for day in DAYS.days():
            for chunk in scan_day(conn, sd.day_number(day.start.date()), meters=codes):
                for resource, meter, ts, volume, project in zip(*(chunk[name] for name in
                                                                   ("resource", "meter", "ts", "volume", "project")),
                                                                strict=True):  # fmt: skip
                    found[(instant(ts), float(volume), meters[meter], resources[resource], projects[project])] += 1
    return found


def revisions_of(store: Store, resource_id: str) -> list[tuple[Any, ...]]:
    """(valid_from, valid_to, flavor_name, vcpus, ram_mib) of a resource's stored revisions."""
    with store.engine.connect() as conn:
        code = list(names_by_code(conn, "resource")).index(resource_id)
        frame = read_revisions(conn)
    mine = frame[frame["rcode"] == code]
    columns = ["valid_from", "valid_to", "flavor_name", "vcpus", "ram_mib"]
    return [(instant(start), instant(end), *attributes)
            for start, end, *attributes in mine[columns].itertuples(index=False)]  # fmt: skip


def instant(ns: Any) -> dt.datetime:
    """A naive-UTC instant from int64 nanoseconds since 1970."""
    return dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=int(ns) // 1000)


def cost_totals(store: Store) -> dict[tuple[str, str | None, str], tuple[str, str, int]]:
    """(price book, project, service) -> (cost, quantity, line count) of the rated days' lines, to 6 decimals."""
    lines = focus_lines(store, DAYS)
    totals: dict[tuple[str, str | None, str], tuple[str, str, int]] = {}
    for (book, project, service), group in lines.groupby(["price_book", "project_id", "service"], dropna=False):
        key = (str(book), project if isinstance(project, str) else None, str(service))
        cost = sum((Decimal(str(value)) for value in group["cost"]), Decimal(0))
        totals[key] = (f"{cost:.6f}", f"{group['consumed_quantity'].astype(float).sum():.6f}", len(group))
    return totals


def daily_rows(store: Store) -> pd.DataFrame:
    """The stored daily usage of the days, in a stable order."""
    with store.engine.connect() as conn:
        frame = daily_usage.read_unit(conn, DAYS, "ceilometer")
    keys = ["charge_period_start", "resource_id", "service", "flavor_name", "project_id"]
    return frame.sort_values(keys, na_position="first", ignore_index=True)


# ------------------------------------------------------------------ the test


def test_migration_0009_moves_a_populated_samples_table(
    stores: tuple[Settings, Settings], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_settings, fresh_settings = stores
    rows = old_samples()
    samples_file = tmp_path / "samples.jsonl"
    samples_file.write_text("".join(ceilometer_line(row) + "\n" for row in rows))
    ingested = ingest_paths(fresh_settings, [str(samples_file)], now=DAYS.end)
    assert (ingested.ingested, ingested.rejected) == (len(rows), 0)
    rate_window(fresh_settings, DAYS)
    fresh = Store(fresh_settings.database.url)

    # The old store: its samples, and the days rated (the hourly usage rating gives for them).
    old = Store(old_settings.database.url)
    upgrade(old.engine, "0008")
    with old.transaction() as conn:
        conn.execute(OLD_SAMPLES.insert(), [{**row, "ingested_at": INGESTED_AT} for row in [*rows, EPOCH_SAMPLE]])
        assert append_usage(conn, read_usage(fresh, DAYS)) > 0

    monkeypatch.setattr(sample_migration, "CHUNK", 37)  # several chunks: the keyset pagination is walked
    old.upgrade()

    assert current_revision(old.engine) == head_revision()
    assert "samples" not in inspect(old.engine).get_table_names()  # moved, then dropped
    expected = Counter((row["timestamp"], row["volume"], row["meter"], row["resource_id"], row["project_id"])
                       for row in rows)  # fmt: skip
    assert stored_samples(old) == expected  # every sample, the twin pair included, nothing else
    assert stored_samples(fresh) == expected
    with old.engine.connect() as conn:  # a sample the compact store cannot keep is a dead letter, not lost
        letters = conn.execute(select(tables.dead_letters.c.origin, tables.dead_letters.c.reason)).all()
    assert [(origin, reason) for origin, reason in letters] == [
        (sample_migration.ORIGIN, "timestamp 1970-01-01T00:00:00 is outside the days the store keeps "
                                  "(2000-01-01 to 2089-09-18)")
    ]  # fmt: skip
    # Daily usage built from the stored hourly usage: what rating the days writes.
    assert_frame_equal(daily_rows(old), daily_rows(fresh))

    resized = revisions_of(old, "inst-web")
    assert [revision[2:] for revision in resized] == [("m1.small", 1.0, 2048.0), ("m1.large", 4.0, 8192.0)]
    assert resized[0][1] == resized[1][0] == RESIZED_AT  # the new flavor from the first sample stating it
    assert resized == revisions_of(fresh, "inst-web")
    assert [r[2:] for r in revisions_of(old, "inst-db")] == [("m1.small", 1.0, 2048.0)]

    rate_window(old_settings, DAYS)
    migrated, freshly = cost_totals(old), cost_totals(fresh)
    assert migrated == freshly
    books = {book for book, _, _ in migrated}
    assert {"internal"} <= books, books
    internal = {(project, service) for book, project, service in migrated if book == "internal"}
    assert {("proj-a", "compute.vcpu"), ("proj-b", "block.volume"), (None, "block.volume")} <= internal, internal
