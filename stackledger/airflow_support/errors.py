"""StackLedger errors as Airflow outcomes: a terminal error fails the task at once, unretried.

A StackLedgerError that is not transient (ConfigError, InputError, SchemaError, PricingError,
StoreError, a non-transient SourceError) becomes AirflowFailException: the task fails at once,
without retries, with a message saying what to fix. Transient ones (TransientSourceError) and
anything unknown (a dropped database connection, a timeout) propagate, and Airflow retries them
with the task's exponential backoff.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from stackledger.errors import StackLedgerError

log = logging.getLogger(__name__)


@contextmanager
def terminal_errors() -> Iterator[None]:
    """Terminal StackLedger errors → AirflowFailException (no retry); the rest propagate (module docstring)."""
    try:
        yield
    except StackLedgerError as error:
        if error.transient:
            log.warning("transient error, Airflow retries it with backoff: %s", error)
            raise
        fail = airflow_exception("AirflowFailException")
        advice = "terminal, not retried: fix the cause, then clear the task"
        raise fail(f"{type(error).__name__}: {error} — {advice}") from error


def skip(reason: str) -> None:
    """End the task as skipped (nothing to do here), with the reason in its log."""
    raise airflow_exception("AirflowSkipException")(reason)


def airflow_exception(name: str) -> Any:
    try:
        from airflow.sdk import exceptions
    except ImportError:  # pragma: no cover - Airflow 3.0's Task SDK kept them in airflow.exceptions
        import airflow.exceptions as exceptions  # type: ignore[no-redef]
    return getattr(exceptions, name)


__all__ = ["airflow_exception", "skip", "terminal_errors"]
