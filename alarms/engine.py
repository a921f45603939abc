"""The alarm engine: (rules, snapshot, previous states) → new states, history and notifications.

A pure function: no clock (the instant is `snapshot.at`), no I/O, no logging of data. The
state machine is Aodh's (`aodh/evaluator/threshold.py` `_transition_alarm` and `_refresh`):

- a new alarm starts as insufficient_data;
- insufficient data while in a known state → insufficient_data, notified;
- unequivocal points (all or none breaching) → that state; notified when it changes, and on
  every evaluation when `repeat_actions` is set (in any state, to that state's notifiers);
- mixed points → the state is kept (repeated when `repeat_actions`), except from
  insufficient_data, where the trend of the most recent point is taken;
- composite rules do not repeat insufficient_data (Aodh's composite evaluator).

Around it, StackLedger's own rules:
- outside its time constraints a rule is not evaluated at all: states and times unchanged;
- an alarm already evaluated at `at` or later is left alone, so re-running an instant (an
  Airflow retry, a second `alarms evaluate --at`) sends nothing;
- while `snooze_until` is ahead, notifications are held back and recorded as snoozed; the
  first evaluation after it sends the current state once if something was held back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from stackledger.alarms.data import Snapshot
from stackledger.alarms.evaluators import Context, Options
from stackledger.alarms.rules import BudgetRule, Rule, RuleSet
from stackledger.alarms.schedule import within
from stackledger.alarms.states import UNKNOWN, AlarmKey, AlarmState, Notification, Transition, Verdict, scope_label


@dataclass
class Evaluation:
    at: dt.datetime
    states: dict[AlarmKey, AlarmState]  # every alarm of the rule set after this evaluation
    transitions: list[Transition] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)  # to send
    snoozed: list[Notification] = field(default_factory=list)  # held back by snooze_until
    evaluated: int = 0  # alarms evaluated at `at`
    outside_time_constraints: list[str] = field(default_factory=list)  # rules not evaluated


def decide(previous: str, verdict: Verdict, repeat: bool, *, repeat_unknown: bool = True) -> tuple[str, bool]:
    """Aodh's transition: (new state, refreshed). Refreshed means notify: the state changed, or
    `repeat` asked for the unchanged state to be announced again."""
    unknown = previous == UNKNOWN
    if verdict.state is None:  # mixed points
        if unknown or repeat:
            return (verdict.trending or previous) if unknown else previous, True
        return previous, False
    if verdict.state == UNKNOWN:
        if not unknown:
            return UNKNOWN, True
        return UNKNOWN, repeat and repeat_unknown
    if verdict.state != previous or repeat:
        return verdict.state, True
    return previous, False


def evaluate(
    rules: RuleSet, snapshot: Snapshot, previous: Mapping[AlarmKey, AlarmState], options: Options | None = None
) -> Evaluation:
    options = options or Options()
    at = snapshot.at

    def previous_state(key: AlarmKey) -> str:
        found = previous.get(key)
        return found.state if found else UNKNOWN

    ctx = Context(rules, snapshot, options, previous_state)
    names = _project_names(snapshot)
    by_rule: dict[str, list[AlarmState]] = {}
    for state in previous.values():
        by_rule.setdefault(state.key.rule, []).append(state)
    result = Evaluation(at, {})
    for rule in rules.rules:
        old = by_rule.get(rule.name, [])
        if not within(rule.windows, at):
            result.states.update((s.key, s) for s in old)
            result.outside_time_constraints.append(rule.name)
            continue
        if old and all(s.evaluated_at >= at for s in old):
            result.states.update((s.key, s) for s in old)  # this instant was evaluated: not even the data is read
            continue
        found = ctx.verdicts(rule)
        keys = set(found.verdicts) | {(s.key.condition, s.key.scope_key) for s in old}
        for condition, scope in sorted(keys):
            key = AlarmKey(rule.name, condition, scope)
            before = previous.get(key)
            if before is not None and before.evaluated_at >= at:
                result.states[key] = before  # this instant (or a later one) was already evaluated
                continue
            verdict = found.verdicts.get((condition, scope)) or Verdict(UNKNOWN, describe=found.missing)
            label = scope_label(scope, names)
            result.states[key] = _step(rule, key, before, verdict, at, options, result, label)
            result.evaluated += 1
    return result


def _step(
    rule: Rule, key: AlarmKey, before: AlarmState | None, verdict: Verdict, at: dt.datetime,
    options: Options, result: Evaluation, label: str,
) -> AlarmState:  # fmt: skip
    previous = before.state if before else UNKNOWN
    state, refreshed = decide(previous, verdict, rule.repeat_actions, repeat_unknown=rule.kind != "composite")
    changed = state != previous
    severity = _severity(rule, key)
    reason = f"{'Transition to' if changed else 'Remaining as'} {state} due to {verdict.describe}"
    data = _reason_data(rule, verdict, state)
    if changed:
        result.transitions.append(Transition(key, at, previous, state, severity, reason, data))
    current = AlarmState(
        key, state, severity, at if changed or before is None else before.since, at, reason,
        before.last_notified_at if before else None, before.snoozed_pending if before else False,
    )  # fmt: skip
    owed = not refreshed and current.snoozed_pending and not _snoozed(rule, at)
    if not (refreshed or owed):
        return current
    notifiers = rule.actions(state, options.default_notify)
    if not notifiers:
        return replace(current, snoozed_pending=False) if owed else current
    if owed:
        until = f"{rule.snooze_until:%Y-%m-%d %H:%M} UTC"
        reason = f"{reason} (notifications were snoozed until {until})"
    note = Notification(key, rule.kind, at, severity, previous, state, reason, data, notifiers, repeat=not changed,
                        scope_label=label)  # fmt: skip
    if _snoozed(rule, at):
        result.snoozed.append(note)
        return replace(current, snoozed_pending=True)
    result.notifications.append(note)
    return replace(current, last_notified_at=at, snoozed_pending=False)


def _project_names(snapshot: Snapshot) -> dict[str, str]:
    projects = snapshot.projects.dropna(subset=["project_id", "name"])
    return dict(zip(projects["project_id"].astype(str), projects["name"].astype(str), strict=True))


def _snoozed(rule: Rule, at: dt.datetime) -> bool:
    return rule.snooze_until is not None and at < rule.snooze_until


def _severity(rule: Rule, key: AlarmKey) -> str:
    if isinstance(rule, BudgetRule) and key.condition:
        threshold = next((t for t in rule.thresholds if t.label == key.condition), None)
        if threshold is not None and threshold.severity:
            return threshold.severity
    return rule.severity


def _reason_data(rule: Rule, verdict: Verdict, state: str) -> dict[str, object]:
    """Aodh's reason_data (type, disposition, count, most_recent) plus the kind's own facts."""
    data: dict[str, object] = {"type": rule.kind, **verdict.reason_data}
    if rule.kind == "composite":
        return data
    if state == UNKNOWN:
        periods = getattr(rule, "evaluation_periods", 1)
        data.update(disposition="unknown", count=periods, most_recent=verdict.most_recent)
    else:
        inside = state == "ok"
        count = verdict.points - verdict.breaching if inside else verdict.breaching
        data.update(disposition="inside" if inside else "outside", count=count, most_recent=verdict.most_recent)
    return data
