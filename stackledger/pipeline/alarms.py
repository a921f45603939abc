"""Alarm step: load the data, run the engine, store states and history, then notify.

`evaluate_alarms(settings, at)`:
1. reads the rules (`alarms.rules`), checks that every notifier, source and price book they
   use is configured (`alarms.rule_checks`: a RuleError naming each rule) and builds their
   notifiers — any ConfigError happens here, before anything is read or written;
2. loads a snapshot: daily cost per project of the price books the rules use (from the month
   of `at`, minus the longest look-back a rule needs), projects, FX rates, and each
   metric_threshold rule's points from the store's usage or Gnocchi;
3. in ONE transaction, holding the alarm lock (PostgreSQL advisory lock; SQLite's write
   lock): reads the previous states, runs the pure engine, replaces `alarm_states`,
   appends the transitions and the notifications (as 'pending') to `alarm_history`, and
   records the instant in `alarm_evaluations`;
4. sends the notifications (alarms.notifiers.deliver: retried, concurrent per notifier) and
   records each outcome ('sent' / 'failed', attempts, error) on its history row.

Re-running the same `at` changes nothing and sends nothing: the engine skips alarms already
evaluated at that instant or later.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from stackledger.alarms.data import DAILY_COST_COLUMNS, PROJECT_COLUMNS, Snapshot
from stackledger.alarms.engine import Evaluation, evaluate
from stackledger.alarms.evaluators import Options
from stackledger.alarms.metrics import GnocchiReader, MetricReader, StoreUsageReader
from stackledger.alarms.notifiers import Delivery, build_notifiers, close_all, deliver
from stackledger.alarms.rule_checks import check_configured
from stackledger.alarms.rules import BudgetRule, CostAnomalyRule, MetricThresholdRule, RuleSet, load_rules
from stackledger.alarms.states import AlarmKey, AlarmState, Notification, scope_label
from stackledger.collectors.gnocchi_client import client_from_settings
from stackledger.errors import ConfigError
from stackledger.pipeline.base import store_for
from stackledger.settings import Settings
from stackledger.store import Store
from stackledger.store import alarms as alarm_store
from stackledger.store.alarm_evaluations import record_evaluation
from stackledger.store.names import project_names
from stackledger.window import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvaluationResult:
    at: dt.datetime
    rules: int
    evaluated: int  # alarms evaluated at `at` (0 when the instant had been evaluated already)
    states: dict[str, int]  # state -> alarms in it after the evaluation
    transitions: int
    notifications: int
    deliveries: tuple[Delivery, ...] = field(default=())
    snoozed: int = 0
    outside_time_constraints: tuple[str, ...] = ()

    @property
    def sent(self) -> int:
        return sum(d.ok for d in self.deliveries)

    @property
    def failed(self) -> int:
        return sum(not d.ok for d in self.deliveries)


def options_from(settings: Settings) -> Options:
    forecast = settings.alarms.forecast
    return Options(forecast.method, forecast.window_days, forecast.min_days, tuple(settings.alarms.default_notify))


def rules_from(settings: Settings) -> RuleSet:
    if settings.alarms.rules is None:
        raise ConfigError("no alarm rules file: set alarms.rules (or STACKLEDGER__ALARMS__RULES)", key="alarms.rules")
    return load_rules(settings.alarms.rules)


def evaluate_alarms(
    settings: Settings,
    at: dt.datetime | None = None,
    *,
    rules: RuleSet | None = None,
    readers: Mapping[str, MetricReader] | None = None,
) -> EvaluationResult:
    """Evaluate every rule at `at` (naive UTC; default now), store the outcome, notify."""
    at = _instant(at)
    rules = rules if rules is not None else rules_from(settings)
    check_configured(rules, settings)  # every rule can run as written: named, before anything is read
    options = options_from(settings)
    notifiers = build_notifiers(settings.alarms.notifiers, rules.notifier_names(options.default_notify))
    try:
        store = store_for(settings)
        snapshot = load_snapshot(settings, store, rules, at, readers)
        with store.transaction() as conn:
            alarm_store.lock_evaluations(conn)
            previous = states_from(alarm_store.read_states(conn))
            evaluation = evaluate(rules, snapshot, previous, options)
            changes = _changes(rules, evaluation, previous)
            if changes.states is not None:
                alarm_store.replace_states(conn, changes.states)
            alarm_store.append_history(conn, changes.history)
            if len(rules):  # the project reports tell "no alarm fired" from "not evaluated" by these
                record_evaluation(store, conn, at, rules=len(rules), alarms=evaluation.evaluated,
                                  recorded_at=utcnow())  # fmt: skip
        deliveries = deliver(evaluation.notifications, notifiers, settings.alarms.notifiers)
        if deliveries:
            with store.transaction() as conn:
                alarm_store.record_outcomes(conn, _outcomes(deliveries, changes.delivery_ids))
    finally:
        close_all(notifiers)
    result = EvaluationResult(
        at, len(rules), evaluation.evaluated, dict(Counter(s.state for s in evaluation.states.values())),
        len(evaluation.transitions), len(evaluation.notifications), tuple(deliveries), len(evaluation.snoozed),
        tuple(evaluation.outside_time_constraints),
    )  # fmt: skip
    log.info("alarms at %s: %d rules, %d alarms evaluated, %d transitions, %d notifications (%d deliveries sent, "
             "%d failed)", at.isoformat(), result.rules, result.evaluated, result.transitions, result.notifications,
             result.sent, result.failed)  # fmt: skip
    return result


# ----------------------------------------------------------------------------- snapshot


def load_snapshot(
    settings: Settings, store: Store, rules: RuleSet, at: dt.datetime, readers: Mapping[str, MetricReader] | None = None
) -> Snapshot:
    first_day = _first_day(rules, at, settings.alarms.forecast.window_days)
    books = sorted({r.price_book for r in rules.rules if isinstance(r, BudgetRule | CostAnomalyRule)})
    daily = (
        alarm_store.daily_cost(store, books, first_day, at) if books else pd.DataFrame(columns=list(DAILY_COST_COLUMNS))
    )
    projects = alarm_store.projects_frame(store, PROJECT_COLUMNS)
    metric_rules = [r for r in rules.rules if isinstance(r, MetricThresholdRule)]
    metrics = {}
    if metric_rules:
        readers = readers or default_readers(settings, store, {r.source for r in metric_rules})
        for rule in metric_rules:
            start = at - dt.timedelta(seconds=rule.granularity * (rule.evaluation_periods + 1))
            metrics[rule.name] = readers[rule.source].read(rule, start, at)
    fx = settings.fx_rates()
    return Snapshot(at, first_day, daily, projects, metrics, fx)


def default_readers(settings: Settings, store: Store, sources: Iterable[str]) -> dict[str, MetricReader]:
    """The store's usage, and Gnocchi through the collector's client (settings `gnocchi`)."""
    readers: dict[str, MetricReader] = {"store": StoreUsageReader(store, settings.usage.source)}
    if "gnocchi" in set(sources):
        grace = dt.timedelta(minutes=settings.gnocchi.stop_grace_minutes)
        readers["gnocchi"] = GnocchiReader(client_from_settings(settings.gnocchi), stop_grace=grace)
    return readers


def _first_day(rules: RuleSet, at: dt.datetime, forecast_days: int) -> dt.date:
    """The earliest day any rule looks at: the month's first day less the forecast window, or
    an anomaly's window before its oldest evaluated day."""
    last_day = (at - dt.timedelta(microseconds=1)).date()
    look_back = forecast_days
    for rule in rules.rules:
        if isinstance(rule, CostAnomalyRule):
            look_back = max(look_back, rule.window_days + rule.evaluation_periods)
    return min(last_day.replace(day=1), at.date()) - dt.timedelta(days=look_back)


# ----------------------------------------------------------------------------- persistence


def states_from(records: Iterable[alarm_store.StateRecord]) -> dict[AlarmKey, AlarmState]:
    """The stored states as the engine's `AlarmState`s, by alarm."""
    states = {}
    for r in records:
        key = AlarmKey(r.rule, r.condition, r.scope_key)
        states[key] = AlarmState(key, r.state, r.severity, r.since, r.evaluated_at, r.reason, r.last_notified_at,
                                 r.snoozed_pending)  # fmt: skip
    return states


@dataclass(frozen=True)
class _Changes:
    """What an evaluation writes: the new `alarm_states` (None: unchanged), the history rows to
    append, and (id(notification), notifier) -> the delivery id of its 'pending' row."""

    states: list[dict[str, Any]] | None
    history: list[dict[str, Any]]
    delivery_ids: dict[tuple[int, str], str]


def _changes(rules: RuleSet, evaluation: Evaluation, previous: Mapping[AlarmKey, AlarmState]) -> _Changes:
    states = None
    if evaluation.states != previous:  # states of rules no longer in the file go
        kinds = {rule.name: rule.kind for rule in rules.rules}
        states = [_state_row(s, kinds[s.key.rule]) for s in evaluation.states.values()]
    now = utcnow()
    history = [_history_row(t.key, t.at, now, "transition", t.previous, t.current, t.severity, t.reason,
                            t.reason_data) for t in evaluation.transitions]  # fmt: skip
    ids: dict[tuple[int, str], str] = {}
    for note in evaluation.notifications:
        for notifier in note.notifiers:
            ids[(id(note), notifier)] = delivery = str(uuid.uuid4())
            history.append(_notification_row(note, now, notifier, "pending", delivery))
    history += [_notification_row(note, now, n, "snoozed", None) for note in evaluation.snoozed for n in note.notifiers]
    return _Changes(states, history, ids)


def _outcomes(deliveries: Iterable[Delivery], ids: Mapping[tuple[int, str], str]) -> list[dict[str, Any]]:
    """Each delivery's outcome, addressed to its 'pending' history row."""
    return [
        {"delivery": ids[(id(d.notification), d.notifier)], "outcome": "sent" if d.ok else "failed",
         "attempts": d.attempts, "error": d.error, "recorded_at": d.finished_at}
        for d in deliveries
    ]  # fmt: skip


def _state_row(state: AlarmState, kind: str) -> dict[str, Any]:
    return {
        "rule": state.key.rule, "condition": state.key.condition, "scope_key": state.key.scope_key,
        "alarm_id": state.key.alarm_id, "kind": kind, "state": state.state, "severity": state.severity,
        "since": state.since, "evaluated_at": state.evaluated_at, "last_notified_at": state.last_notified_at,
        "snoozed_pending": state.snoozed_pending, "reason": state.reason,
    }  # fmt: skip


def _history_row(key: AlarmKey, at: dt.datetime, now: dt.datetime, event: str, previous: str, current: str,
                 severity: str, reason: str, data: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    return {
        "at": at, "recorded_at": now, "rule": key.rule, "condition": key.condition, "scope_key": key.scope_key,
        "alarm_id": key.alarm_id, "event": event, "previous": previous, "current": current, "severity": severity,
        "reason": reason, "reason_data": data, "notifier": None, "outcome": None, "attempts": None, "error": None,
        "delivery": None,
    }  # fmt: skip


def _notification_row(note: Notification, now: dt.datetime, notifier: str, outcome: str,
                      delivery: str | None) -> dict[str, Any]:  # fmt: skip
    row = _history_row(note.key, note.at, now, "notification", note.previous, note.current, note.severity,
                       note.reason, note.reason_data)  # fmt: skip
    row.update(notifier=notifier, outcome=outcome, delivery=delivery)
    return row


# ----------------------------------------------------------------------------- reading back


def alarm_states(settings: Settings, *, rule: str | None = None) -> pd.DataFrame:
    """Every alarm's state, with `scope`: the scope as people read it ('project web-shop [p1]')."""
    store = store_for(settings)
    return _with_scope_labels(store, alarm_store.states_frame(store, rule=rule))


def alarm_history(settings: Settings, *, rule: str | None = None, limit: int = 50) -> pd.DataFrame:
    """The latest `limit` history rows (newest last), optionally of one rule, with `scope` labels."""
    store = store_for(settings)
    return _with_scope_labels(store, alarm_store.history_frame(store, rule=rule, limit=limit))


def _with_scope_labels(store: Store, frame: pd.DataFrame) -> pd.DataFrame:
    names = project_names(store) if not frame.empty else {}
    return frame.assign(scope=[scope_label(str(key), names) for key in frame.get("scope_key", [])])


def _instant(at: dt.datetime | None) -> dt.datetime:
    if at is None:
        return utcnow().replace(microsecond=0)
    return at.astimezone(dt.UTC).replace(tzinfo=None) if at.tzinfo else at
