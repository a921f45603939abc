"""The revision writers' locks on the ops PostgreSQL (`store.revisions.lock_resources`): one
statement takes the lock of every bucket of a batch's resources, held to the end of the
transaction; a second writer wanting one of those buckets waits, one wanting others does not."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import Engine, exc, text

from stackledger.pipeline import store_for
from stackledger.settings import Settings
from stackledger.store.revisions import _LOCK_SPACE, BUCKETS, lock_resources

pytestmark = pytest.mark.postgres


@pytest.fixture
def engine(pg_settings: Settings) -> Engine:
    return store_for(pg_settings).engine


def test_a_batch_holds_its_buckets_until_it_ends(engine: Engine) -> None:
    held = text("SELECT objid FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() "
                "AND classid = :space ORDER BY objid")  # fmt: skip
    with engine.connect() as first, engine.connect() as second:
        with first.begin():
            lock_resources(first, np.array([5, 5 + BUCKETS, 3, 200]))
            assert first.execute(held, {"space": _LOCK_SPACE}).scalars().all() == [3, 5, 200 % BUCKETS]
            with second.begin():
                second.execute(text("SET LOCAL lock_timeout = '300ms'"))
                lock_resources(second, np.array([4, 6]))  # other buckets: no wait
            with pytest.raises(exc.OperationalError, match="lock timeout"), second.begin():
                second.execute(text("SET LOCAL lock_timeout = '300ms'"))
                lock_resources(second, np.array([4, 5 + 2 * BUCKETS]))  # bucket 5 is held
        with second.begin():  # the first transaction ended: its locks went with it
            second.execute(text("SET LOCAL lock_timeout = '300ms'"))
            lock_resources(second, np.array([5]))
