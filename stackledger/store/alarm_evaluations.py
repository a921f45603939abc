"""When the alarm rules were evaluated: written by every evaluation, read by the project reports.

An evaluation at instant `at` looks at the data before `at` (the daily run at 00:00 on the 1st
judges the month that just ended), so the evaluations *for* a window are those with
`start < at <= end`. Databases evaluated before `alarm_evaluations` existed still show their
evaluations through the instants `alarm_history` and `alarm_states` recorded.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, func, select, union

from stackledger.store import Store, tables
from stackledger.window import Window


@dataclass(frozen=True)
class Evaluations:
    """The evaluation instants for a window: how many, the first and the last."""

    count: int
    first: dt.datetime | None
    last: dt.datetime | None

    def __bool__(self) -> bool:
        return self.count > 0


def record_evaluation(store: Store, conn: Connection, at: dt.datetime, *, rules: int, alarms: int,
                      recorded_at: dt.datetime) -> None:  # fmt: skip
    """Note that the rules were evaluated at `at`, in the evaluation's transaction (once per instant)."""
    row = {"at": at, "rules": rules, "alarms": alarms, "recorded_at": recorded_at}
    store.insert_ignore(conn, tables.alarm_evaluations, [row])


def evaluations_for(conn: Connection, window: Window) -> Evaluations:
    """The evaluation instants in (window.start, window.end]."""
    evaluations, history, states = tables.alarm_evaluations.c, tables.alarm_history.c, tables.alarm_states.c
    instants = union(
        select(evaluations.at.label("at")),
        select(history.at.label("at")),
        select(states.since.label("at")),
        select(states.evaluated_at.label("at")),
    ).subquery()
    query = select(func.count(), func.min(instants.c.at), func.max(instants.c.at)).where(
        instants.c.at > window.start, instants.c.at <= window.end
    )
    count, first, last = conn.execute(query).one()
    return Evaluations(int(count), _instant(first), _instant(last))


def _instant(value: object) -> dt.datetime | None:
    """SQLite hands aggregates of DateTime columns back as text."""
    if value is None or isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(str(value))
