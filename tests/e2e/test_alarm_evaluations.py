"""Which month an alarm evaluation counts for, on SQLite and PostgreSQL: the instant `at` judges the
data before it, so 00:00 on the 1st belongs to the month that just ended."""

from __future__ import annotations

import datetime as dt

from stackledger.pipeline import store_for
from stackledger.reports.alarm_history import alarm_events
from stackledger.settings import Settings
from stackledger.store import Store, tables
from stackledger.store.alarm_evaluations import Evaluations, evaluations_for, record_evaluation
from stackledger.store.alarms import AlarmTransition, transitions
from stackledger.window import Window

OCTOBER = Window.month("2026-10")


def evaluations(store: Store, window: Window) -> Evaluations:
    with store.engine.connect() as conn:
        return evaluations_for(conn, window)


def transition(at: dt.datetime, scope: str) -> dict[str, object]:
    return {"at": at, "recorded_at": at, "rule": "b", "condition": "actual 80%", "scope_key": scope,
            "alarm_id": "a", "event": "transition", "previous": "ok", "current": "alarm", "severity": "low",
            "reason": "over"}  # fmt: skip


def test_an_evaluation_counts_for_the_month_whose_data_it_judged(any_settings: Settings) -> None:
    store = store_for(any_settings)
    assert not evaluations(store, OCTOBER)  # nothing evaluated: "not evaluated", never "no alarm fired"
    instants = [dt.datetime(2026, 10, 1), dt.datetime(2026, 10, 15), dt.datetime(2026, 11, 1), dt.datetime(2026, 11, 2)]
    with store.transaction() as conn:
        for at in instants:
            record_evaluation(store, conn, at, rules=3, alarms=5, recorded_at=at)
        record_evaluation(store, conn, instants[1], rules=3, alarms=0, recorded_at=instants[1])  # a re-run: no row
        store.insert(conn, tables.alarm_history, [transition(at, f"project:p{i}") for i, at in enumerate(instants)])
    found = evaluations(store, OCTOBER)
    assert (found.count, found.first, found.last) == (2, instants[1], instants[2])
    assert [event.at for event in alarm_events(_transitions(store, OCTOBER)) or ()] == instants[1:3]


def test_history_and_states_of_older_evaluations_count_too(any_settings: Settings) -> None:
    """A database evaluated before alarm_evaluations existed still shows its evaluations."""
    store = store_for(any_settings)
    since, evaluated = dt.datetime(2026, 10, 3), dt.datetime(2026, 10, 9, 6)
    with store.transaction() as conn:
        store.insert(conn, tables.alarm_states, [{
            "rule": "b", "condition": "", "scope_key": "total", "alarm_id": "a", "kind": "budget", "state": "ok",
            "severity": "low", "since": since, "evaluated_at": evaluated, "snoozed_pending": False,
        }])  # fmt: skip
    found = evaluations(store, OCTOBER)
    assert (found.count, found.first, found.last) == (2, since, evaluated)
    assert not evaluations(store, Window.month("2026-11"))


def _transitions(store: Store, window: Window) -> tuple[AlarmTransition, ...] | None:
    with store.engine.connect() as conn:
        return transitions(conn, window)
