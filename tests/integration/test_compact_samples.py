"""The compact sample store on the ops PostgreSQL: day partitions created race-free, (message, day)
dedupe telling duplicates from conflicts, retention by day (`store.sample_days`, `store.samples`)."""

from __future__ import annotations

import datetime as dt
import threading
import uuid

import numpy as np
import pytest
from sqlalchemy import Engine, func, select, text

from stackledger.pipeline import store_for
from stackledger.settings import Settings
from stackledger.store import sample_days as sd
from stackledger.store import tables
from stackledger.store.sample_codes import message_key, message_keys
from stackledger.store.samples import write_rows

pytestmark = pytest.mark.postgres

DAY = sd.day_number(dt.date(2026, 10, 15))


@pytest.fixture
def engine(pg_settings: Settings) -> Engine:
    return store_for(pg_settings).engine


def rows(ids: list[str], *, day: int = DAY, batch: int = 1, volume: float = 1.0) -> dict[str, np.ndarray]:
    size = len(ids)
    ts = (day + sd.EPOCH_DAYS) * sd.DAY_NS + np.arange(size, dtype=np.int64) * 60 * 10**9
    return {"ts": ts, "volume": np.full(size, volume), "message": message_keys(ids),
            "resource": np.arange(size, dtype=np.int32) + 1, "project": np.zeros(size, dtype=np.int32),
            "batch": np.full(size, batch, dtype=np.int32), "meter": np.ones(size, dtype=np.int16),
            "day": sd.days_of(ts).astype(np.int16)}  # fmt: skip


def count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(tables.sample_rows)).scalar_one())


def test_message_keys_are_uuids_or_version_8_hashes() -> None:
    ceilometer = "3f6c2a4e-9d7b-11ef-8c1a-0242ac110002"
    assert message_key(ceilometer) == uuid.UUID(ceilometer)
    assert message_key(ceilometer.upper()) == uuid.UUID(ceilometer)  # one message, however it is spelled
    hashed = message_key("msg-42")
    assert hashed.version == 8 and hashed == message_key("msg-42") != message_key("msg-43")
    keys = message_keys([ceilometer, "msg-42"])
    assert [uuid.UUID(bytes=bytes(key)) for key in keys] == [uuid.UUID(ceilometer), hashed]


def test_partitions_are_created_once_by_consumers_racing(engine: Engine) -> None:
    # A day no other test stores samples for: the database is shared by the tests of one process.
    day = sd.day_number(dt.date(2031, 3, 15))
    errors: list[BaseException] = []
    created: list[list[int]] = []

    def consumer() -> None:
        try:
            created.append(sd.ensure_day_partitions(engine, [day, day + 1, day - 1]))
        except BaseException as error:  # reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=consumer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(d for days in created for d in days) == [day - 1, day, day + 1]  # each made by one of them
    with engine.connect() as conn:
        query = text("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                     "WHERE c.relkind = 'r' AND c.relname LIKE 'sample_rows_2031%' ORDER BY 1")  # fmt: skip
        names = conn.execute(query).scalars().all()
    assert names == [sd.partition_name(day - 1), sd.partition_name(day), sd.partition_name(day + 1)]
    assert names[1] == "sample_rows_20310315"


def test_the_same_message_twice_is_a_duplicate_and_a_reuse_a_conflict(engine: Engine) -> None:
    sd.ensure_day_partitions(engine, [DAY, DAY + 1])
    ids = [f"m-{n}" for n in range(1000)]
    with engine.begin() as conn:
        first = write_rows(conn, rows(ids, batch=1))
    assert first.inserted.all() and first.duplicates == 0 and first.conflicts == []
    with engine.begin() as conn:  # the same batch again: nothing new
        again = write_rows(conn, rows(ids, batch=2))
    assert not again.inserted.any() and again.duplicates == 1000 and again.conflicts == []
    changed = rows(ids[:10] + [f"new-{n}" for n in range(5)], batch=3)
    changed["volume"][:3] = 9.0  # three ids reused with other content
    with engine.begin() as conn:
        mixed = write_rows(conn, changed)
    assert mixed.inserted.tolist() == [False] * 10 + [True] * 5
    assert mixed.duplicates == 7
    assert sorted(mixed.conflicts) == [(0, 1), (1, 1), (2, 1)]  # (position, the batch that stored the other)
    assert count(engine) == 1005


def test_a_reuse_on_another_day_is_not_caught(engine: Engine) -> None:
    # The unique index of a partitioned table holds its partition key: (message, day).
    sd.ensure_day_partitions(engine, [DAY, DAY + 1])
    with engine.begin() as conn:
        write_rows(conn, rows(["x"], day=DAY))
        later = write_rows(conn, rows(["x"], day=DAY + 1))
    assert later.inserted.all() and count(engine) == 2


def test_retention_drops_a_day_and_only_that_day(engine: Engine) -> None:
    sd.ensure_day_partitions(engine, [DAY, DAY + 1])
    with engine.begin() as conn:
        write_rows(conn, rows(["old"], day=DAY))
        write_rows(conn, rows(["kept"], day=DAY + 1))
    sd.drop_day(engine, sd.day_date(DAY))
    assert sd.drop_day(engine, sd.day_date(DAY)) == 0  # gone already
    assert count(engine) == 1
    kept = sd.days_with_rows(engine, sd.day_date(DAY + 2))
    assert sd.day_date(DAY) not in kept and sd.day_date(DAY + 1) in kept
    sd.ensure_day_partitions(engine, [DAY])
    with engine.begin() as conn:  # the dropped day's message is new again: dedupe holds within retention
        assert write_rows(conn, rows(["old"], day=DAY)).inserted.all()


def test_days_outside_the_storable_range_are_not_storable() -> None:
    days = sd.days_of(np.array([np.datetime64("1999-12-31", "ns").astype(np.int64),
                                np.datetime64("2026-10-15", "ns").astype(np.int64)]))  # fmt: skip
    assert days.tolist() == [-1, DAY]
    assert sd.storable(np.array([-1, DAY, sd.LAST_DAY, sd.LAST_DAY + 1])).tolist() == [False, True, True, False]
