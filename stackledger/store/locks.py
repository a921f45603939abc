"""Named locks held across processes for as long as a block runs, in whatever holds the store.

For work whose effect leaves the database before it is recorded there (an email sent, then
logged), so two runs at once must not both do it: the second waits, then sees what the first
recorded. PostgreSQL: a session advisory lock on a connection kept for the block. SQLite: an
exclusive `flock` on a file beside the database (a database in memory has one process: a
thread lock).
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import exc, func, select

if TYPE_CHECKING:
    from stackledger.store import Store

log = logging.getLogger(__name__)

_IN_MEMORY: dict[str, threading.Lock] = {}
_IN_MEMORY_GUARD = threading.Lock()


@contextmanager
def exclusive(store: Store, name: str) -> Iterator[None]:
    """Run the block while no other process (or thread) holds `name` on this store; wait for it
    if one does."""
    if store.dialect == "postgresql":
        with _advisory(store, name):
            yield
        return
    database = store.engine.url.database
    if not database or database == ":memory:":
        with _IN_MEMORY_GUARD:
            lock = _IN_MEMORY.setdefault(name, threading.Lock())
        with lock:
            yield
        return
    with _flocked(Path(f"{database}.lock"), name):
        yield


@contextmanager
def _advisory(store: Store, name: str) -> Iterator[None]:
    # Advisory locks take a bigint: the first 8 bytes of the name's sha256 (stable across runs).
    key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
    with store.engine.connect() as conn:
        if not conn.execute(select(func.pg_try_advisory_lock(key))).scalar_one():
            log.info("waiting for another run holding %s", name)
            conn.execute(select(func.pg_advisory_lock(key)))
        conn.commit()  # the lock is the session's, not the transaction's: end the read transaction
        try:
            yield
        finally:
            # Unlock explicitly: the pool keeps the connection (and a session lock with it) open.
            try:
                conn.execute(select(func.pg_advisory_unlock(key)))
                conn.commit()
            except exc.DBAPIError:
                conn.invalidate()  # the session is broken: closing it releases the lock


@contextmanager
def _flocked(path: Path, name: str) -> Iterator[None]:
    # One lock file per database: the locked work is rare and short, so sharing it costs nothing.
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("waiting for another run holding %s", name)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


__all__ = ["exclusive"]
