"""Alarm states and the records the engine hands back: pure values, no I/O.

An alarm is one (rule, condition, scope key): `condition` is '' except for budgets, whose
thresholds each get their own alarm ('actual 80%', 'forecast 100%'); `scope_key` says what the
rule looked at ('project:<id>', 'team:<name>', 'resource:<id>', 'total').
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

OK: Final = "ok"
ALARM: Final = "alarm"
UNKNOWN: Final = "insufficient_data"
STATES: Final = (OK, ALARM, UNKNOWN)

State = Literal["ok", "alarm", "insufficient_data"]
Severity = Literal["low", "moderate", "critical"]

# Stable alarm ids: the same rule, condition and scope give the same id in every run and database.
_NAMESPACE: Final = uuid.UUID("6f1d3c1e-8b8a-4b57-9a43-5d3c0b7e2a10")


@dataclass(frozen=True, order=True)
class AlarmKey:
    rule: str
    condition: str
    scope_key: str

    @property
    def alarm_id(self) -> str:
        return str(uuid.uuid5(_NAMESPACE, f"{self.rule}\x1f{self.condition}\x1f{self.scope_key}"))

    @property
    def label(self) -> str:
        condition = f" [{self.condition}]" if self.condition else ""
        return f"{self.rule}{condition} {self.scope_key}"


def scope_label(scope_key: str, project_names: Mapping[str, str]) -> str:
    """What people read for a scope key: 'project web-shop [3f2a…]' (name, then the id in
    brackets), 'team payments', 'resource <id>', 'total'."""
    kind, _, value = scope_key.partition(":")
    if kind == "project":
        name = project_names.get(value)
        return f"project {name} [{value}]" if name else f"project [{value}]"
    return f"{kind} {value}" if value else scope_key


@dataclass(frozen=True)
class AlarmState:
    """What the store keeps per alarm between evaluations (table `alarm_states`)."""

    key: AlarmKey
    state: str
    severity: str
    since: dt.datetime  # evaluation instant at which `state` was entered
    evaluated_at: dt.datetime  # last instant evaluated: an instant at or before it is never evaluated again
    reason: str = ""
    last_notified_at: dt.datetime | None = None
    snoozed_pending: bool = False  # a notification was held back by snooze_until and is still owed


@dataclass(frozen=True)
class Verdict:
    """What the data says about one alarm, before the previous state is considered.

    `state` is ok/alarm/insufficient_data when the points are unequivocal; None when they are
    mixed, and then `trending` is the state of the most recent point (Aodh's trending state).
    """

    state: str | None
    trending: str | None = None
    breaching: int = 0  # points outside the threshold
    points: int = 0  # points compared
    most_recent: Any = None
    reason_data: dict[str, Any] = field(default_factory=dict)
    describe: str = ""  # one phrase on the data, e.g. 'actual 812.40 EUR > 800.00 EUR (80% of 1000.00)'


@dataclass(frozen=True)
class Transition:
    """A state change, one row of `alarm_history` (event 'transition')."""

    key: AlarmKey
    at: dt.datetime
    previous: str
    current: str
    severity: str
    reason: str
    reason_data: dict[str, Any]


@dataclass(frozen=True)
class Notification:
    """One message for a list of notifiers. `payload()` is the Aodh-like JSON body."""

    key: AlarmKey
    kind: str
    at: dt.datetime
    severity: str
    previous: str
    current: str
    reason: str
    reason_data: dict[str, Any]
    notifiers: tuple[str, ...]
    repeat: bool = False  # sent because of repeat_actions (or a snooze ending), not a transition
    scope_label: str = ""  # the scope as people read it: 'project web-shop [3f2a…]' (`scope_label`)

    @property
    def alarm_id(self) -> str:
        return self.key.alarm_id

    @property
    def label(self) -> str:
        """The scope for people: its label when the engine gave one, else the scope key."""
        return self.scope_label or self.key.scope_key

    @property
    def title(self) -> str:
        """'project-budgets [actual 80%] project web-shop [p1]': the alarm, as people read it."""
        condition = f" [{self.key.condition}]" if self.key.condition else ""
        return f"{self.key.rule}{condition} {self.label}"

    def payload(self) -> dict[str, Any]:
        """Aodh's webhook keys first (alarm_name, alarm_id, severity, previous, current, reason,
        reason_data), then StackLedger's: what was evaluated and when."""
        return {
            "alarm_name": self.key.rule,
            "alarm_id": self.alarm_id,
            "severity": self.severity,
            "previous": self.previous,
            "current": self.current,
            "reason": self.reason,
            "reason_data": self.reason_data,
            "kind": self.kind,
            "condition": self.key.condition,
            "scope": self.key.scope_key,
            "scope_label": self.label,
            "evaluated_at": self.at.isoformat() + "Z",
            "repeat": self.repeat,
        }
