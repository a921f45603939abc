"""Every state transition of the alarm engine, table-driven, with Aodh's edge cases.

`decide` is Aodh's `_transition_alarm` + `_refresh`; the engine tests below drive it through
real rules and snapshots: metric points (store-shaped), budgets, composites, time
constraints, repeat_actions, snooze and re-evaluating an instant.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal

import pandas as pd
import pytest

from stackledger.alarms import (
    ALARM,
    OK,
    UNKNOWN,
    AlarmKey,
    AlarmState,
    MetricPoints,
    Snapshot,
    decide,
    evaluate,
    parse_rules,
)
from stackledger.alarms.evaluators import aodh_verdict, composite_state
from stackledger.alarms.rules import Op, Ref
from stackledger.alarms.states import Verdict
from stackledger.transforms.currency import FxRate

AT = dt.datetime(2026, 10, 15, 12, 0)
HOUR = dt.timedelta(hours=1)
NOTIFIERS = ["log", "webhook", "email", "kafka", "slack"]


def mixed(trending: str) -> Verdict:
    return Verdict(None, trending)


# previous, verdict, repeat_actions -> new state, notified
DECIDE = [
    # insufficient data (fewer points than evaluation_periods)
    ("new alarm, no data: stays unknown, silent", UNKNOWN, Verdict(UNKNOWN), False, UNKNOWN, False),
    ("ok loses its data", OK, Verdict(UNKNOWN), False, UNKNOWN, True),
    ("alarm loses its data", ALARM, Verdict(UNKNOWN), False, UNKNOWN, True),
    ("unknown stays unknown, repeated when asked (Aodh)", UNKNOWN, Verdict(UNKNOWN), True, UNKNOWN, True),
    # unequivocal points
    ("all breaching from unknown", UNKNOWN, Verdict(ALARM), False, ALARM, True),
    ("all breaching from ok", OK, Verdict(ALARM), False, ALARM, True),
    ("all breaching while in alarm: silent", ALARM, Verdict(ALARM), False, ALARM, False),
    ("all breaching while in alarm, repeat_actions", ALARM, Verdict(ALARM), True, ALARM, True),
    ("none breaching from unknown", UNKNOWN, Verdict(OK), False, OK, True),
    ("none breaching from alarm", ALARM, Verdict(OK), False, OK, True),
    ("none breaching while ok: silent", OK, Verdict(OK), False, OK, False),
    ("none breaching while ok, repeat_actions", OK, Verdict(OK), True, OK, True),
    # mixed points: the state is kept; from unknown the most recent point's trend is taken
    ("mixed while ok keeps ok", OK, mixed(ALARM), False, OK, False),
    ("mixed while alarm keeps alarm", ALARM, mixed(OK), False, ALARM, False),
    ("mixed while alarm, repeat_actions: alarm repeated", ALARM, mixed(OK), True, ALARM, True),
    ("mixed while ok, repeat_actions: ok repeated", OK, mixed(ALARM), True, OK, True),
    ("mixed from unknown, last point breaching", UNKNOWN, mixed(ALARM), False, ALARM, True),
    ("mixed from unknown, last point inside", UNKNOWN, mixed(OK), False, OK, True),
    ("mixed from unknown with repeat: the trend, not unknown", UNKNOWN, mixed(ALARM), True, ALARM, True),
]


@pytest.mark.parametrize(("case", "previous", "verdict", "repeat", "state", "notified"), DECIDE,
                         ids=[c[0] for c in DECIDE])  # fmt: skip
def test_decide(case: str, previous: str, verdict: Verdict, repeat: bool, state: str, notified: bool) -> None:
    assert decide(previous, verdict, repeat) == (state, notified)


def test_composite_does_not_repeat_insufficient_data() -> None:
    assert decide(UNKNOWN, Verdict(UNKNOWN), True, repeat_unknown=False) == (UNKNOWN, False)
    assert decide(OK, Verdict(UNKNOWN), True, repeat_unknown=False) == (UNKNOWN, True)


# points compared (oldest first), evaluation_periods -> (state, trending)
REDUCE = [
    ([], 1, (UNKNOWN, None)),
    ([True, True], 3, (UNKNOWN, None)),  # fewer points than periods, even if all breach
    ([True, True, True], 3, (ALARM, None)),
    ([False, False, False], 3, (OK, None)),
    ([False, False, True], 3, (None, ALARM)),
    ([True, True, False], 3, (None, OK)),
    ([True], 1, (ALARM, None)),
]


@pytest.mark.parametrize(("breaches", "periods", "expected"), REDUCE)
def test_aodh_reduction(breaches: list[bool], periods: int, expected: tuple[str | None, str | None]) -> None:
    assert aodh_verdict(breaches, periods) == expected


# ------------------------------------------------------------------ engine, metric rules

METRIC_RULE = """
rules:
  - name: hot
    kind: metric_threshold
    metric: compute.vcpu
    aggregation: sum
    group_by: project
    comparison: gt
    threshold: 10
    granularity: 3600
    evaluation_periods: 3
    repeat_actions: {repeat}
    notify: [webhook]
"""


def snapshot(at: dt.datetime, values: Sequence[float] | None, *, error: str | None = None) -> Snapshot:
    """Hourly points of project p1 ending at the hour before `at`, oldest first."""
    points = [(at - (len(values) - i) * HOUR, v) for i, v in enumerate(values)] if values is not None else []
    metrics = {"hot": MetricPoints({"project:p1": points} if values is not None else {}, error)}
    return Snapshot(at, at.date(), empty_cost(), no_projects(), metrics)


def empty_cost() -> pd.DataFrame:
    return pd.DataFrame(columns=["day", "project_id", "price_book", "currency", "cost"])


def no_projects() -> pd.DataFrame:
    return pd.DataFrame(columns=["project_id", "name", "team", "budget_amount", "budget_currency", "budget_period"])


KEY = AlarmKey("hot", "", "project:p1")


def state(value: str, at: dt.datetime = AT - HOUR, pending: bool = False) -> dict[AlarmKey, AlarmState]:
    return {KEY: AlarmState(KEY, value, "low", at - HOUR, at, "", None, pending)}


ENGINE = [
    # case, previous state, points, repeat, expected state, notifications, transitions
    ("new alarm, 3 breaching points", None, [11, 12, 13], False, ALARM, 1, 1),
    ("new alarm, 2 of 3 points: insufficient, silent", None, [11, 12], False, UNKNOWN, 0, 0),
    ("ok → alarm when all breach", OK, [11, 12, 13], False, ALARM, 1, 1),
    ("alarm → ok when none breach", ALARM, [1, 2, 3], False, OK, 0, 1),  # ok_notify is empty
    ("alarm, mixed: stays alarm", ALARM, [1, 2, 13], False, ALARM, 0, 0),
    ("alarm, mixed, repeat_actions: repeated", ALARM, [1, 2, 13], True, ALARM, 1, 0),
    ("unknown, mixed, last breaching → alarm", UNKNOWN, [1, 2, 13], False, ALARM, 1, 1),
    ("unknown, mixed, last inside → ok", UNKNOWN, [11, 12, 3], False, OK, 0, 1),
    ("alarm, points vanish → insufficient_data", ALARM, [], False, UNKNOWN, 0, 1),
    ("alarm, still alarm, repeat_actions", ALARM, [11, 12, 13], True, ALARM, 1, 0),
    ("exactly at threshold is not gt", OK, [10, 10, 10], False, OK, 0, 0),
]


@pytest.mark.parametrize(("case", "previous", "points", "repeat", "expected", "notes", "changes"), ENGINE,
                         ids=[c[0] for c in ENGINE])  # fmt: skip
def test_metric_transitions(case: str, previous: str | None, points: list[float], repeat: bool, expected: str,
                            notes: int, changes: int) -> None:  # fmt: skip
    rules = parse_rules(METRIC_RULE.format(repeat=str(repeat).lower()), notifiers=NOTIFIERS)
    before = state(previous) if previous else {}
    result = evaluate(rules, snapshot(AT, points), before)
    assert result.states[KEY].state == expected
    assert len(result.notifications) == notes
    assert len(result.transitions) == changes
    for note in result.notifications:
        assert note.notifiers == ("webhook",) and note.current == expected
        assert note.repeat == (previous == expected)


def test_points_outside_the_window_do_not_count() -> None:
    """Aodh looks at [at - granularity × (periods + 1), at): points older are ignored, and with
    them there are too few points."""
    rules = parse_rules(METRIC_RULE.format(repeat="false"), notifiers=NOTIFIERS)
    old = [(AT - (10 - i) * HOUR, 50.0) for i in range(3)]
    snap = Snapshot(AT, AT.date(), empty_cost(), no_projects(), {"hot": MetricPoints({"project:p1": old})})
    result = evaluate(rules, snap, state(ALARM))
    assert result.states[KEY].state == UNKNOWN
    assert result.transitions[0].reason_data["disposition"] == "unknown"


def test_reason_data_is_aodh_shaped() -> None:
    rules = parse_rules(METRIC_RULE.format(repeat="false"), notifiers=NOTIFIERS)
    result = evaluate(rules, snapshot(AT, [11, 12, 13]), state(OK))
    note = result.notifications[0]
    assert note.reason == "Transition to alarm due to 3 of 3 samples > 10, most recent: 13"
    assert {"type": "metric_threshold", "disposition": "outside", "count": 3, "most_recent": 13}.items() <= (
        note.reason_data.items()
    )
    payload = note.payload()
    assert list(payload)[:7] == ["alarm_name", "alarm_id", "severity", "previous", "current", "reason", "reason_data"]
    assert payload["alarm_id"] == KEY.alarm_id  # stable across runs


def test_a_source_error_is_insufficient_data_with_its_reason() -> None:
    rules = parse_rules(METRIC_RULE.format(repeat="false"), notifiers=NOTIFIERS)
    result = evaluate(rules, snapshot(AT, None, error="gnocchi unavailable: ConnectionError"), state(ALARM))
    assert result.states[KEY].state == UNKNOWN
    assert "gnocchi unavailable" in result.states[KEY].reason


# ------------------------------------------------------------------ idempotence, time, snooze


def test_same_instant_twice_sends_nothing_the_second_time() -> None:
    rules = parse_rules(METRIC_RULE.format(repeat="true"), notifiers=NOTIFIERS)
    first = evaluate(rules, snapshot(AT, [11, 12, 13]), {})
    assert len(first.notifications) == 1
    second = evaluate(rules, snapshot(AT, [11, 12, 13]), first.states)
    assert (second.evaluated, second.notifications, second.transitions) == (0, [], [])
    assert second.states == first.states
    earlier = evaluate(rules, snapshot(AT - HOUR, [11, 12, 13]), first.states)  # an older instant: no going back
    assert earlier.notifications == [] and earlier.states == first.states
    later = evaluate(rules, snapshot(AT + HOUR, [11, 12, 13]), first.states)  # the next hour repeats
    assert len(later.notifications) == 1 and later.notifications[0].repeat


def test_outside_time_constraints_nothing_changes() -> None:
    text = (
        METRIC_RULE.format(repeat="false")
        + """    time_constraints:
      - {name: office, start: "0 8 * * mon-fri", duration: 10h, timezone: Europe/Berlin}
"""
    )
    rules = parse_rules(text, notifiers=NOTIFIERS)
    saturday = dt.datetime(2026, 10, 17, 12, 0)
    result = evaluate(rules, snapshot(saturday, [11, 12, 13]), state(OK, saturday - HOUR))
    assert result.outside_time_constraints == ["hot"]
    assert result.states[KEY].state == OK and result.states[KEY].evaluated_at == saturday - HOUR
    monday = dt.datetime(2026, 10, 19, 9, 0)  # 11:00 in Berlin
    result = evaluate(rules, snapshot(monday, [11, 12, 13]), state(OK, monday - HOUR))
    assert result.states[KEY].state == ALARM and len(result.notifications) == 1


def test_snooze_holds_notifications_then_sends_once() -> None:
    text = METRIC_RULE.format(repeat="false") + "    snooze_until: 2026-10-15T14:00:00Z\n"
    rules = parse_rules(text, notifiers=NOTIFIERS)
    held = evaluate(rules, snapshot(AT, [11, 12, 13]), state(OK))
    assert held.notifications == [] and len(held.snoozed) == 1
    assert held.states[KEY].state == ALARM and held.states[KEY].snoozed_pending
    still = evaluate(rules, snapshot(AT + HOUR, [11, 12, 13]), held.states)
    assert still.notifications == [] and still.snoozed == []  # no transition, nothing new to hold
    after = evaluate(rules, snapshot(AT + 2 * HOUR, [11, 12, 13]), still.states)
    assert len(after.notifications) == 1
    assert "snoozed until 2026-10-15 14:00 UTC" in after.notifications[0].reason
    assert not after.states[KEY].snoozed_pending
    again = evaluate(rules, snapshot(AT + 3 * HOUR, [11, 12, 13]), after.states)
    assert again.notifications == []


# ------------------------------------------------------------------ budgets and composites


def budget_snapshot(at: dt.datetime, daily: Mapping[int, str], first_day: dt.date = dt.date(2026, 9, 20)) -> Snapshot:
    rows = [{"day": pd.Timestamp(2026, 10, d), "project_id": "p1", "price_book": "internal", "currency": "EUR",
             "cost": Decimal(c)} for d, c in daily.items()]  # fmt: skip
    return Snapshot(at, first_day, pd.DataFrame(rows), no_projects())


BUDGET = """
rules:
  - name: b
    kind: budget
    select: [p1]
    amount: 1000
    currency: EUR
    thresholds: [{at: 80%}, {at: 100%, basis: forecast, comparison: ge}, {at: 950}]
    notify: [email]
"""


def test_budget_thresholds_are_separate_alarms() -> None:
    rules = parse_rules(BUDGET, notifiers=NOTIFIERS)
    daily = {d: "60.00" for d in range(1, 15)}  # 840 by the 14th; 7-day mean 60 → 840 + 17 × 60 = 1860
    result = evaluate(rules, budget_snapshot(dt.datetime(2026, 10, 15), daily), {})
    states = {k.condition: s.state for k, s in result.states.items()}
    assert states == {"actual 80%": ALARM, "forecast 100%": ALARM, "actual 950": OK}
    forecast = next(n for n in result.notifications if n.key.condition == "forecast 100%")
    assert forecast.reason_data["forecast"] == "1860.00" and forecast.reason_data["actual"] == "840.00"
    assert forecast.reason_data["forecast_method"] == "trailing_mean"


def test_budget_exactly_at_the_limit_uses_the_comparison() -> None:
    rules = parse_rules(BUDGET, notifiers=NOTIFIERS)
    daily = {1: "800.00"}  # actual 800 = 80% exactly: gt → ok
    result = evaluate(rules, budget_snapshot(dt.datetime(2026, 10, 2), daily, dt.date(2026, 10, 1)), {})
    assert result.states[AlarmKey("b", "actual 80%", "project:p1")].state == OK


def test_budget_without_rated_days_is_insufficient() -> None:
    rules = parse_rules(BUDGET, notifiers=NOTIFIERS)
    result = evaluate(rules, budget_snapshot(dt.datetime(2026, 10, 15), {}), {})
    assert {s.state for s in result.states.values()} == {UNKNOWN}
    assert result.notifications == []


def leaf(state: str | None, trending: str | None = None) -> Verdict:
    return Verdict(state, trending)


A_AND_B = Op("and", (Ref("a"), Ref("b")))
A_OR_B = Op("or", (Ref("a"), Ref("b")))
COMPOSITE = [
    ("and: both alarm", A_AND_B, {"a": leaf(ALARM), "b": leaf(ALARM)}, OK, ALARM),
    ("and: one ok → ok", A_AND_B, {"a": leaf(ALARM), "b": leaf(OK)}, ALARM, OK),
    ("and: alarm and unknown → unknown", A_AND_B, {"a": leaf(ALARM), "b": leaf(UNKNOWN)}, OK, UNKNOWN),
    ("or: one alarm → alarm", A_OR_B, {"a": leaf(ALARM), "b": leaf(UNKNOWN)}, OK, ALARM),
    ("or: ok and unknown → unknown", A_OR_B, {"a": leaf(OK), "b": leaf(UNKNOWN)}, ALARM, UNKNOWN),
    ("or: both ok", A_OR_B, {"a": leaf(OK), "b": leaf(OK)}, ALARM, OK),
    # mixed leaf: from unknown it takes its trend; from a known state, the state it is leaving
    ("and: mixed trending alarm, composite unknown", A_AND_B, {"a": leaf(ALARM), "b": leaf(None, ALARM)}, UNKNOWN,
     ALARM),
    ("and: mixed trending alarm, composite ok", A_AND_B, {"a": leaf(ALARM), "b": leaf(None, ALARM)}, OK, OK),
    ("or: mixed trending ok, composite alarm", A_OR_B, {"a": leaf(OK), "b": leaf(None, OK)}, ALARM, ALARM),
    ("nested: a and (b or c)", Op("and", (Ref("a"), Op("or", (Ref("b"), Ref("c"))))),
     {"a": leaf(ALARM), "b": leaf(OK), "c": leaf(ALARM)}, OK, ALARM),
]  # fmt: skip


@pytest.mark.parametrize(("case", "expression", "leaves", "previous", "expected"), COMPOSITE,
                         ids=[c[0] for c in COMPOSITE])  # fmt: skip
def test_composite(case: str, expression: Op, leaves: dict[str, Verdict], previous: str, expected: str) -> None:
    assert composite_state(expression, leaves, previous)[0] == expected


def test_composite_rule_over_a_budget_and_an_anomaly() -> None:
    text = (
        BUDGET
        + """  - name: spike
    kind: cost_anomaly
    select: [p1]
    min_impact: 100
    notify: []
  - name: both
    kind: composite
    and: [{rule: spike}, {rule: b, threshold: actual 80%}]
    notify: [kafka]
"""
    )
    rules = parse_rules(text, notifiers=NOTIFIERS)
    daily = {d: "60.00" for d in range(1, 14)} | {14: "400.00"}
    result = evaluate(rules, budget_snapshot(dt.datetime(2026, 10, 15), daily), {})
    both = result.states[AlarmKey("both", "", "project:p1")]
    assert both.state == ALARM
    note = next(n for n in result.notifications if n.key.rule == "both")
    assert note.reason_data["composition_form"] == "(spike and b[actual 80%])"
    assert note.reason_data["causative_rules"] == {"b[actual 80%]": ALARM, "spike": ALARM}
    assert not any(n.key.rule == "spike" for n in result.notifications)  # notify: [] keeps it silent


def test_budget_cost_is_converted_with_fx_rates_or_is_insufficient() -> None:
    rules = parse_rules(BUDGET, notifiers=NOTIFIERS)
    rows = [{"day": pd.Timestamp(2026, 10, d), "project_id": "p1", "price_book": "internal", "currency": "USD",
             "cost": Decimal("60")} for d in range(1, 15)]  # fmt: skip
    at = dt.datetime(2026, 10, 15)
    fx = (FxRate("USD", "EUR", Decimal("0.5"), dt.date(2026, 1, 1)),)
    converted = evaluate(rules, Snapshot(at, dt.date(2026, 9, 20), pd.DataFrame(rows), no_projects(), fx=fx), {})
    actual = converted.states[AlarmKey("b", "actual 80%", "project:p1")]
    assert actual.state == OK and "actual 420.00 EUR" in actual.reason
    missing = evaluate(rules, Snapshot(at, dt.date(2026, 9, 20), pd.DataFrame(rows), no_projects()), {})
    actual = missing.states[AlarmKey("b", "actual 80%", "project:p1")]
    assert actual.state == UNKNOWN and "no USD→EUR exchange rate" in actual.reason


def test_team_and_total_budgets_add_up_the_projects_budgets() -> None:
    projects = pd.DataFrame([
        {"project_id": "p1", "name": "a1", "team": "a", "budget_amount": Decimal(300), "budget_currency": "EUR",
         "budget_period": "month"},
        {"project_id": "p2", "name": "a2", "team": "a", "budget_amount": Decimal(200), "budget_currency": "EUR",
         "budget_period": "monthly"},
        {"project_id": "p3", "name": "b1", "team": "b", "budget_amount": Decimal(100), "budget_currency": "EUR",
         "budget_period": "year"},  # not monthly: left out
    ])  # fmt: skip
    rows = [{"day": pd.Timestamp(2026, 10, d), "project_id": p, "price_book": "internal", "currency": "EUR",
             "cost": Decimal("20")} for d in range(1, 15) for p in ("p1", "p2", "p3")]  # fmt: skip
    rules = parse_rules("""
rules:
  - {name: teams, kind: budget, scope: team, thresholds: [{at: 100%}]}
  - {name: all, kind: budget, scope: total, thresholds: [{at: 100%}]}
""", notifiers=NOTIFIERS)  # fmt: skip
    snap = Snapshot(dt.datetime(2026, 10, 15), dt.date(2026, 9, 20), pd.DataFrame(rows), projects)
    result = evaluate(rules, snap, {})
    reasons = {(k.rule, k.scope_key): (s.state, s.reason) for k, s in result.states.items()}
    assert set(reasons) == {("teams", "team:a"), ("all", "total")}  # team b has no monthly budget
    # A team's or the total's cost is all of its projects' cost, against the sum of the monthly budgets.
    assert reasons[("teams", "team:a")] == (ALARM, "Transition to alarm due to actual 560.00 EUR > 500.00 EUR "
                                                   "(100% of 500.00 EUR)")  # fmt: skip
    assert reasons[("all", "total")][1].endswith("actual 840.00 EUR > 500.00 EUR (100% of 500.00 EUR)")
