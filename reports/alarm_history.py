"""The alarms of a window, from the alarm engine's history (`alarm_history`, read by
`stackledger.store.alarms.transitions`), for the project reports' "alarms fired" section.

Only state transitions are shown (not notification rows). A scope key says what an alarm
watched: 'project:<id>', 'team:<name>', 'resource:<id>' or 'total'; `events_for` picks the
ones a project's team lead should see. When the store has no alarm history table (a database
from before the alarm engine), the section says so instead of claiming "no alarms".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stackledger.store.alarms import AlarmTransition


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


def alarm_events(transitions: Iterable[AlarmTransition] | None) -> tuple[AlarmEvent, ...] | None:
    """The window's transitions as events, in the order given (time order); None stays None:
    the store has no alarm history."""
    if transitions is None:
        return None
    return tuple(AlarmEvent(*transition) for transition in transitions)


def events_for(
    events: Iterable[AlarmEvent], project_id: str, team: str, resource_ids: Collection[str]
) -> tuple[AlarmEvent, ...]:
    """The transitions about a project, its resources or its team."""
    scopes = {f"project:{project_id}"} | {f"resource:{rid}" for rid in resource_ids}
    if team:
        scopes.add(f"team:{team}")
    return tuple(event for event in events if event.scope_key in scopes)
