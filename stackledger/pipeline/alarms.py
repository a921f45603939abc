"""Alarm step: load the data, run the engine, store states and history, then notify.

`evaluate_alarms(settings, at)`:
1. reads the rules (`alarms.rules`) and builds their notifiers — any ConfigError happens
   here, before anything is read or written;
2. loads a snapshot: daily cost per project of the price books the rules use (from the month
   of `at`, minus the longest look-back a rule needs), projects, FX rates, and each
   metric_threshold rule's points from the store's usage or Gnocchi;
3. in ONE transaction, holding the alarm lock (PostgreSQL advisory lock; SQLite's write
   lock): reads the previous states, runs the pure engine, replaces `alarm_states`, and
   appends the transitions and the notifications (as 'pending') to `alarm_history`;
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
from sqlalchemy import Connection, Float, String, func, select, text, true, type_coerce

from stackledger.alarms.data import Snapshot
from stackledger.alarms.engine import Evaluation, evaluate
from stackledger.alarms.evaluators import Options
from stackledger.alarms.metrics import GnocchiReader, MetricReader, StoreUsageReader
from stackledger.alarms.notifiers import Delivery, build_notifiers, close_all, deliver
from stackledger.alarms.rules import BudgetRule, CostAnomalyRule, MetricThresholdRule, RuleSet, load_rules
from stackledger.alarms.states import AlarmKey, AlarmState, Notification
from stackledger.collectors.gnocchi_client import client_from_settings
from stackledger.errors import ConfigError
from stackledger.pipeline.base import store_for
from stackledger.settings import Settings
from stackledger.store import Store, tables

log = logging.getLogger(__name__)

_LOCK_KEY = 0x5354_4C41_4C52  # 'STLALR': the PostgreSQL advisory lock all evaluations share


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
    options = options_from(settings)
    notifiers = build_notifiers(settings.alarms.notifiers, rules.notifier_names(options.default_notify))
    try:
        store = store_for(settings)
        snapshot = load_snapshot(settings, store, rules, at, readers)
        with store.transaction() as conn:
            _lock(conn, store)
            previous = read_states(conn)
            evaluation = evaluate(rules, snapshot, previous, options)
            delivery_ids = _persist(conn, store, rules, evaluation, previous)
        deliveries = deliver(evaluation.notifications, notifiers, settings.alarms.notifiers)
        _record_outcomes(store, deliveries, delivery_ids)
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
    daily = _daily_cost(store, books, first_day, at) if books else pd.DataFrame(columns=list(_DAILY))
    projects = store.frame(select(*(tables.projects.c[c] for c in _PROJECTS)))
    metric_rules = [r for r in rules.rules if isinstance(r, MetricThresholdRule)]
    metrics = {}
    if metric_rules:
        readers = readers or default_readers(settings, store, {r.source for r in metric_rules})
        for rule in metric_rules:
            start = at - dt.timedelta(seconds=rule.granularity * (rule.evaluation_periods + 1))
            metrics[rule.name] = readers[rule.source].read(rule, start, at)
    fx = settings.fx_rates()
    return Snapshot(at, first_day, daily, projects, metrics, fx)


_DAILY = ("day", "project_id", "price_book", "currency", "cost")
_PROJECTS = ("project_id", "name", "team", "budget_amount", "budget_currency", "budget_period")


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


def _daily_cost(store: Store, books: list[str], first_day: dt.date, at: dt.datetime) -> pd.DataFrame:
    cost = tables.cost_lines.c
    query = (
        # A float sum: the engine turns it into integer micro-units at once (exact below 10^9 a day),
        # and building 60,000 Decimals per evaluation costs more than the whole engine.
        # The day as the driver gives it: pandas parses SQLite's text in one vectorised pass.
        select(type_coerce(cost.charge_period_start, String).label("day"), cost.project_id, cost.price_book,
               cost.currency, type_coerce(func.sum(cost.cost), Float).label("cost"))
        .where(cost.price_book.in_(books), cost.charge_period_start >= dt.datetime.combine(first_day, dt.time()),
               cost.charge_period_start < at)
        .group_by(cost.charge_period_start, cost.project_id, cost.price_book, cost.currency)
    )  # fmt: skip
    frame = store.frame(query)
    frame["day"] = pd.to_datetime(frame["day"], format="ISO8601").dt.normalize()
    return frame


# ----------------------------------------------------------------------------- persistence


def _lock(conn: Connection, store: Store) -> None:
    """Serialise evaluations: two runs of one instant must not both notify."""
    if store.dialect == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    else:  # a write statement takes SQLite's write lock until commit, before anything is read
        conn.execute(tables.alarm_states.delete().where(tables.alarm_states.c.rule.is_(None)))


def read_states(conn: Connection) -> dict[AlarmKey, AlarmState]:
    rows = conn.execute(select(tables.alarm_states)).mappings().all()
    return {
        (key := AlarmKey(r["rule"], r["condition"], r["scope_key"])): AlarmState(
            key,
            r["state"],
            r["severity"],
            r["since"],
            r["evaluated_at"],
            r["reason"] or "",
            r["last_notified_at"],
            bool(r["snoozed_pending"]),
        )
        for r in rows
    }


def _persist(
    conn: Connection, store: Store, rules: RuleSet, evaluation: Evaluation, previous: Mapping[AlarmKey, AlarmState]
) -> dict[tuple[int, str], str]:
    """States replaced (when any changed; states of rules no longer in the file go), history
    appended. Returns (id(notification), notifier) -> delivery id."""
    if evaluation.states != previous:
        kinds = {rule.name: rule.kind for rule in rules.rules}
        states = [_state_row(s, kinds[s.key.rule]) for s in evaluation.states.values()]
        store.replace(conn, tables.alarm_states, true(), states)
    now = _wall_clock()
    history = [_history_row(t.key, t.at, now, "transition", t.previous, t.current, t.severity, t.reason,
                            t.reason_data) for t in evaluation.transitions]  # fmt: skip
    ids: dict[tuple[int, str], str] = {}
    for note in evaluation.notifications:
        for notifier in note.notifiers:
            ids[(id(note), notifier)] = delivery = str(uuid.uuid4())
            history.append(_notification_row(note, now, notifier, "pending", delivery))
    history += [_notification_row(note, now, n, "snoozed", None) for note in evaluation.snoozed for n in note.notifiers]
    store.insert(conn, tables.alarm_history, history)
    return ids


def _record_outcomes(store: Store, deliveries: list[Delivery], ids: Mapping[tuple[int, str], str]) -> None:
    if not deliveries:
        return
    history = tables.alarm_history
    with store.transaction() as conn:
        for delivery in deliveries:
            row = history.c.delivery == ids[(id(delivery.notification), delivery.notifier)]
            conn.execute(
                history.update()
                .where(row)
                .values(
                    outcome="sent" if delivery.ok else "failed",
                    attempts=delivery.attempts,
                    error=delivery.error,
                    recorded_at=delivery.finished_at,
                )
            )


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
    table = tables.alarm_states
    query = select(table).order_by(table.c.rule, table.c.condition, table.c.scope_key)
    if rule:
        query = query.where(table.c.rule == rule)
    return store_for(settings).frame(query)


def alarm_history(settings: Settings, *, rule: str | None = None, limit: int = 50) -> pd.DataFrame:
    """The latest `limit` history rows (newest last), optionally of one rule."""
    table = tables.alarm_history
    query = select(table).order_by(table.c.id.desc()).limit(limit)
    if rule:
        query = query.where(table.c.rule == rule)
    return store_for(settings).frame(query).iloc[::-1].reset_index(drop=True)


def _instant(at: dt.datetime | None) -> dt.datetime:
    if at is None:
        return _wall_clock().replace(microsecond=0)
    return at.astimezone(dt.UTC).replace(tzinfo=None) if at.tzinfo else at


def _wall_clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)
