"""The alarms of a window, read from the alarm engine's history (`alarm_history`), for the
project reports' "alarms fired" section.

Only state transitions are read (not notification rows). A scope key says what an alarm
watched: 'project:<id>', 'team:<name>', 'resource:<id>' or 'total'; `events_for` picks the
ones a project's team lead should see. When the store has no alarm history table (a database
from before the alarm engine), the section says so instead of claiming "no alarms".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from sqlalchemy import inspect, select

from stackledger.store import Store
from stackledger.store.tables import alarm_history
from stackledger.window import Window


@dataclass(frozen=True)
class AlarmEvent:
    at: dt.datetime
    rule: str
    condition: str  # 'actual 80%' for budget thresholds, else ''
    scope_key: str
    previous: str
    current: str  # ok | alarm | insufficient_data
    severity: str
    reason: str

    @property
    def fired(self) -> bool:
        return self.current == "alarm"


def alarm_events(store: Store, window: Window) -> tuple[AlarmEvent, ...] | None:
    """The window's transitions (evaluated at start < at <= end), in time order; None when the store
    has no alarm history."""
    with store.engine.connect() as conn:
        if not inspect(conn).has_table(alarm_history.name):
            return None
        h = alarm_history.c
        query = (
            select(h.at, h.rule, h.condition, h.scope_key, h.previous, h.current, h.severity, h.reason)
            # An evaluation at `at` judges the data before it: 00:00 on the 1st belongs to the month before.
            .where(h.event == "transition", h.at > window.start, h.at <= window.end)
            .order_by(h.at, h.rule, h.condition, h.scope_key, h.id)
        )
        return tuple(AlarmEvent(*row) for row in conn.execute(query))


def events_for(
    events: Iterable[AlarmEvent], project_id: str, team: str, resource_ids: Collection[str]
) -> tuple[AlarmEvent, ...]:
    """The transitions about a project, its resources or its team."""
    scopes = {f"project:{project_id}"} | {f"resource:{rid}" for rid in resource_ids}
    if team:
        scopes.add(f"team:{team}")
    return tuple(event for event in events if event.scope_key in scopes)
