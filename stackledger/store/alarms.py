"""Alarm records: the engine's inputs read from the store, its states and history written back.

Reads for an evaluation (`daily_cost`, `projects_frame`, `usage_points`) return frames in the
shapes `stackledger.alarms.data` documents. An evaluation writes inside the caller's
transaction: `lock_evaluations` first (so two runs of one instant never both notify), then
`read_states`, `replace_states` and `append_history`; the notifications' outcomes are
recorded afterwards with `record_outcomes`. States come back as plain `StateRecord`s: the
alarm package's own types are built by the pipeline step, since the store imports no stage.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, NamedTuple

import pandas as pd
from sqlalchemy import Connection, Float, String, func, inspect, select, type_coerce

from stackledger.store import Store
from stackledger.store.tables import alarm_history, alarm_states, cost_lines, projects, usage
from stackledger.window import Window

_LOCK_KEY: Final = 0x5354_4C41_4C52  # 'STLALR': the PostgreSQL advisory lock all evaluations share


class StateRecord(NamedTuple):
    """One alarm's row in `alarm_states` (the state machine's memory between evaluations)."""

    rule: str
    condition: str
    scope_key: str
    state: str
    severity: str
    since: dt.datetime
    evaluated_at: dt.datetime
    reason: str
    last_notified_at: dt.datetime | None
    snoozed_pending: bool


class AlarmTransition(NamedTuple):
    """A state transition from `alarm_history`, as the reports show it."""

    at: dt.datetime
    rule: str
    condition: str  # 'actual 80%' for budget thresholds, else ''
    scope_key: str
    previous: str
    current: str
    severity: str
    reason: str


# ---------------------------------------------------------------- evaluation inputs


def daily_cost(store: Store, books: Sequence[str], first_day: dt.date, at: dt.datetime) -> pd.DataFrame:
    """Cost of `books` per day, project, price book and currency, from `first_day` up to `at`.

    Columns day (a midnight Timestamp), project_id, price_book, currency, cost (a float).
    """
    cost = cost_lines.c
    query = (
        # A float sum: the engine turns it into integer micro-units at once (exact below 10^9 a day),
        # and building 60,000 Decimals per evaluation costs more than the whole engine.
        # The day as the driver gives it: pandas parses SQLite's text in one vectorised pass.
        select(type_coerce(cost.charge_period_start, String).label("day"), cost.project_id, cost.price_book,
               cost.currency, type_coerce(func.sum(cost.cost), Float).label("cost"))
        .where(cost.price_book.in_(list(books)),
               cost.charge_period_start >= dt.datetime.combine(first_day, dt.time()), cost.charge_period_start < at)
        .group_by(cost.charge_period_start, cost.project_id, cost.price_book, cost.currency)
    )  # fmt: skip
    frame = store.frame(query)
    frame["day"] = pd.to_datetime(frame["day"], format="ISO8601").dt.normalize()
    return frame


def projects_frame(store: Store, columns: Sequence[str]) -> pd.DataFrame:
    """The projects table's `columns`, one row per project."""
    return store.frame(select(*(projects.c[name] for name in columns)))


def usage_points(
    store: Store, *, source: str, service: str, start: dt.datetime, stop: dt.datetime, project_ids: Sequence[str] = ()
) -> pd.DataFrame:
    """Hourly usage rows of one usage `source` and `service` starting in [start, stop), of
    `project_ids` when given: columns timestamp (datetime64), project_id, resource_id, value."""
    u = usage.c
    columns = (u.charge_period_start.label("timestamp"), u.project_id, u.resource_id,
               u.consumed_quantity.label("value"))  # fmt: skip
    query = select(*columns).where(
        u.source == source, u.service == service, u.charge_period_start >= start, u.charge_period_start < stop
    )
    if project_ids:
        query = query.where(u.project_id.in_(list(project_ids)))
    frame = store.frame(query)
    if not frame.empty:
        frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    return frame


# ---------------------------------------------------------------- states and history (caller's transaction)


def lock_evaluations(conn: Connection) -> None:
    """Serialise evaluations until the transaction ends: two runs of one instant must not both notify."""
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_xact_lock(_LOCK_KEY)))
    else:  # a write statement takes SQLite's write lock until commit, before anything is read
        conn.execute(alarm_states.delete().where(alarm_states.c.rule.is_(None)))


def read_states(conn: Connection) -> list[StateRecord]:
    s = alarm_states.c
    query = select(s.rule, s.condition, s.scope_key, s.state, s.severity, s.since, s.evaluated_at, s.reason,
                   s.last_notified_at, s.snoozed_pending)  # fmt: skip
    return [
        StateRecord(rule, condition, scope, state, severity, since, evaluated, reason or "", notified, bool(snoozed))
        for rule, condition, scope, state, severity, since, evaluated, reason, notified, snoozed in conn.execute(query)
    ]


def replace_states(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """`alarm_states` becomes exactly `rows` (states of rules no longer in the file go)."""
    conn.execute(alarm_states.delete())
    if rows:
        conn.execute(alarm_states.insert(), list(rows))


def append_history(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    if rows:
        conn.execute(alarm_history.insert(), list(rows))


def record_outcomes(conn: Connection, outcomes: Iterable[Mapping[str, Any]]) -> None:
    """Each outcome names its history row by `delivery` (the id written with it as 'pending')
    and sets outcome, attempts, error and recorded_at."""
    h = alarm_history.c
    for outcome in outcomes:
        values = {key: value for key, value in outcome.items() if key != "delivery"}
        conn.execute(alarm_history.update().where(h.delivery == outcome["delivery"]).values(**values))


# ---------------------------------------------------------------- reading back


def states_frame(store: Store, *, rule: str | None = None) -> pd.DataFrame:
    """Every alarm's current state (the whole table row), by rule, condition and scope."""
    query = select(alarm_states).order_by(alarm_states.c.rule, alarm_states.c.condition, alarm_states.c.scope_key)
    if rule:
        query = query.where(alarm_states.c.rule == rule)
    return store.frame(query)


def history_frame(store: Store, *, rule: str | None = None, limit: int = 50) -> pd.DataFrame:
    """The latest `limit` history rows (whole table rows), newest last."""
    query = select(alarm_history).order_by(alarm_history.c.id.desc()).limit(limit)
    if rule:
        query = query.where(alarm_history.c.rule == rule)
    return store.frame(query).iloc[::-1].reset_index(drop=True)


def transitions(conn: Connection, window: Window) -> tuple[AlarmTransition, ...] | None:
    """The state transitions evaluated in `window` (start < at <= end: an evaluation at `at` judges
    the data before it, so 00:00 on the 1st belongs to the month before), in time order; None when
    the database has no alarm history table (one from before the alarm engine)."""
    if not inspect(conn).has_table(alarm_history.name):
        return None
    h = alarm_history.c
    query = (
        select(h.at, h.rule, h.condition, h.scope_key, h.previous, h.current, h.severity, h.reason)
        .where(h.event == "transition", h.at > window.start, h.at <= window.end)
        .order_by(h.at, h.rule, h.condition, h.scope_key, h.id)
    )
    return tuple(AlarmTransition(*row) for row in conn.execute(query))


__all__ = [
    "AlarmTransition", "StateRecord", "append_history", "daily_cost", "history_frame", "lock_evaluations",
    "projects_frame", "read_states", "record_outcomes", "replace_states", "states_frame", "transitions",
    "usage_points",
]  # fmt: skip
