"""What the database refused, as the error hierarchy's `StoreError` (callers never see driver errors)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import exc

from stackledger.errors import StoreError


@contextmanager
def as_store_error(table: str | None = None) -> Iterator[None]:
    """Run the block; a row the database refused (a constraint, e.g. another source's revision with
    the same key, or a value it cannot hold) becomes a `StoreError` naming `table` when given.
    `Store.transaction()` already turns a lost or refused connection into one."""
    try:
        yield
    except exc.DBAPIError as error:
        if table is not None and isinstance(error, exc.IntegrityError):
            raise StoreError(f"{table}: the database refused a row: {error.orig}") from error
        raise StoreError(f"database error: {error.orig}") from None


__all__ = ["as_store_error"]
