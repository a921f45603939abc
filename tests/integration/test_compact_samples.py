"""stackledger.store.compact_samples (the phase B prototype) on the ops PostgreSQL: day partitions
created race-free, (message, day) dedupe telling duplicates from conflicts, retention by day."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, create_engine, func, select, text

from stackledger.store import compact_samples as cs

pytestmark = pytest.mark.postgres

DAY = int((pd.Timestamp("2026-10-15") - pd.Timestamp("2000-01-01")).days)


@pytest.fixture
def engine(pg_url: str) -> Iterator[Engine]:
    engine = create_engine(pg_url)
    cs.drop_tables(engine)
    cs.create_tables(engine)
    yield engine
    cs.drop_tables(engine)
    engine.dispose()


def rows(ids: list[str], *, day: int = DAY, batch: int = 1, volume: float = 1.0) -> dict[str, np.ndarray]:
    size = len(ids)
    ts = (day + cs.EPOCH_2000_DAYS) * cs.DAY_NS + np.arange(size, dtype=np.int64) * 60 * 10**9
    return {"ts": ts, "volume": np.full(size, volume), "message": cs.message_keys(ids),
            "resource": np.arange(size, dtype=np.int32) + 1, "project": np.zeros(size, dtype=np.int32),
            "batch": np.full(size, batch, dtype=np.int32), "meter": np.ones(size, dtype=np.int16),
            "day": cs.day_of(ts)}  # fmt: skip


def count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(cs.sample_rows)).scalar_one())


def test_message_keys_are_uuids_or_version_8_hashes() -> None:
    ceilometer = "3f6c2a4e-9d7b-11ef-8c1a-0242ac110002"
    assert cs.message_key(ceilometer) == uuid.UUID(ceilometer)
    assert cs.message_key(ceilometer.upper()) == uuid.UUID(ceilometer)  # one message, however it is spelled
    hashed = cs.message_key("msg-42")
    assert hashed.version == 8 and hashed == cs.message_key("msg-42") != cs.message_key("msg-43")


def test_partitions_are_created_once_by_consumers_racing(engine: Engine) -> None:
    errors: list[BaseException] = []
    created: list[list[int]] = []

    def consumer() -> None:
        try:
            created.append(cs.ensure_day_partitions(engine, [DAY, DAY + 1, DAY - 1]))
        except BaseException as error:  # reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=consumer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(day for days in created for day in days) == [DAY - 1, DAY, DAY + 1]  # each made by one of them
    with engine.connect() as conn:
        names = conn.execute(text("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                                  "WHERE c.relkind = 'r' ORDER BY 1")).scalars().all()  # fmt: skip
    assert names == [cs.partition_name(DAY - 1), cs.partition_name(DAY), cs.partition_name(DAY + 1)]
    assert names[1] == "sample_rows_20261015"


def test_the_same_message_twice_is_a_duplicate_and_a_reuse_a_conflict(engine: Engine) -> None:
    cs.ensure_day_partitions(engine, [DAY, DAY + 1])
    ids = [f"m-{n}" for n in range(1000)]
    with engine.begin() as conn:
        first = cs.store_rows(conn, rows(ids, batch=1))
    assert first.inserted.all() and first.duplicates == 0 and first.conflicts == []
    with engine.begin() as conn:  # the same batch again: nothing new
        again = cs.store_rows(conn, rows(ids, batch=2))
    assert not again.inserted.any() and again.duplicates == 1000 and again.conflicts == []
    changed = rows(ids[:10] + [f"new-{n}" for n in range(5)], batch=3)
    changed["volume"][:3] = 9.0  # three ids reused with other content
    with engine.begin() as conn:
        mixed = cs.store_rows(conn, changed)
    assert mixed.inserted.tolist() == [False] * 10 + [True] * 5
    assert mixed.duplicates == 7
    assert mixed.conflicts == [(cs.message_key(i).bytes, 1, 3) for i in ids[:3]]  # both batches named
    assert count(engine) == 1005


def test_repeats_inside_one_batch(engine: Engine) -> None:
    cs.ensure_day_partitions(engine, [DAY])
    batch = rows(["a", "b", "a", "c", "b"], batch=4)
    batch["ts"][2], batch["resource"][2] = batch["ts"][0], batch["resource"][0]  # the second "a" is the first again
    batch["volume"][4] = 5.0  # the second "b" says something else
    with engine.begin() as conn:
        stored = cs.store_rows(conn, batch)
    assert stored.inserted.tolist() == [True, True, False, True, False]
    assert stored.duplicates == 1
    assert stored.conflicts == [(cs.message_key("b").bytes, 4, 4)]


def test_a_reuse_on_another_day_is_not_caught(engine: Engine) -> None:
    # The unique index of a partitioned table holds its partition key: (message, day).
    cs.ensure_day_partitions(engine, [DAY, DAY + 1])
    with engine.begin() as conn:
        cs.store_rows(conn, rows(["x"], day=DAY))
        later = cs.store_rows(conn, rows(["x"], day=DAY + 1))
    assert later.inserted.all() and count(engine) == 2


def test_retention_drops_a_day_and_only_that_day(engine: Engine) -> None:
    cs.ensure_day_partitions(engine, [DAY, DAY + 1])
    with engine.begin() as conn:
        cs.store_rows(conn, rows(["old"], day=DAY))
        cs.store_rows(conn, rows(["kept"], day=DAY + 1))
    assert cs.detach_day_partition(engine, DAY)
    assert not cs.detach_day_partition(engine, DAY)  # gone already
    assert count(engine) == 1
    cs.ensure_day_partitions(engine, [DAY])
    with engine.begin() as conn:  # dedupe holds within retention: the dropped day's message is new again
        assert cs.store_rows(conn, rows(["old"], day=DAY)).inserted.all()


def test_days_outside_the_storable_range_are_refused() -> None:
    with pytest.raises(Exception, match="outside 2000-2089"):
        cs.day_of(np.array([pd.Timestamp("1999-12-31").value]))
