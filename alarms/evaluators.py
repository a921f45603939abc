"""What the data says for each rule kind: (condition, scope key) → `Verdict`. Pure.

Every kind reduces its points the way Aodh's threshold evaluator does (`aodh_verdict`): fewer
points than `evaluation_periods` → insufficient_data; all breaching → alarm; none → ok;
mixed → no verdict, only the trending state of the most recent point (the engine then keeps
the previous state, or takes the trend when the previous state is insufficient_data).

- budget: one point per threshold: month-to-date actual cost, or the month-end forecast.
- metric_threshold: the last `evaluation_periods` points in [at - granularity × (periods + 1), at).
- cost_anomaly: the last `evaluation_periods` complete days, each against the days before it.
- composite: Aodh's and/or over the verdicts of the rules it names.
"""

from __future__ import annotations

import calendar
import datetime as dt
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np

from stackledger.alarms.data import MONTHLY_PERIODS, CostCube, MetricPoints, Snapshot, build_cube, money
from stackledger.alarms.rules import (
    BudgetRule,
    BudgetThreshold,
    CompositeRule,
    CostAnomalyRule,
    MetricThresholdRule,
    Op,
    Ref,
    Rule,
    RuleSet,
)
from stackledger.alarms.states import ALARM, OK, UNKNOWN, AlarmKey, Verdict
from stackledger.alarms.stats import MICRO, Forecast, forecast_month_end, is_anomalous, robust_score

COMPARATORS: dict[str, Callable[[Any, Any], bool]] = {
    "gt": operator.gt, "lt": operator.lt, "ge": operator.ge, "le": operator.le, "eq": operator.eq, "ne": operator.ne,
}  # fmt: skip
SYMBOLS = {"gt": ">", "lt": "<", "ge": "≥", "le": "≤", "eq": "=", "ne": "≠"}
_COMPOSITE_WORDS = {ALARM: "outside their threshold", OK: "inside their threshold", UNKNOWN: "evaluated to unknown"}

ScopedVerdicts = dict[tuple[str, str], Verdict]  # (condition, scope key) -> verdict


@dataclass(frozen=True)
class Options:
    forecast_method: str = "trailing_mean"
    forecast_window_days: int = 7
    forecast_min_days: int = 3
    default_notify: tuple[str, ...] = ("log",)


@dataclass
class RuleVerdicts:
    verdicts: ScopedVerdicts
    missing: str = "no data for this scope any more"  # for alarms the data no longer mentions


def _present(value: object) -> bool:
    return value is not None and not (isinstance(value, float) and value != value)  # NaN from pandas


def aodh_verdict(breaches: Sequence[bool], periods: int) -> tuple[str | None, str | None]:
    """(state, trending) from the compared points, oldest first."""
    if len(breaches) < periods:
        return UNKNOWN, None
    if all(breaches):
        return ALARM, None
    if not any(breaches):
        return OK, None
    return None, ALARM if breaches[-1] else OK


@dataclass
class Context:
    """One evaluation run: the snapshot, shared cost cubes, and verdicts by rule (composites reuse them)."""

    rules: RuleSet
    snapshot: Snapshot
    options: Options
    previous_state: Callable[[AlarmKey], str]
    _cubes: dict[tuple[str, str], CostCube] = field(default_factory=dict)
    _verdicts: dict[str, RuleVerdicts] = field(default_factory=dict)

    def __post_init__(self) -> None:
        projects = self.snapshot.projects
        teams = projects[projects["team"].notna() & (projects["team"] != "")]
        pairs = zip(teams["project_id"].astype(str), teams["team"].astype(str), strict=True)
        self.team_of: dict[str, str] = dict(pairs)
        self.budgets: dict[str, tuple[Decimal, str]] = {}
        for row in projects.itertuples(index=False):
            amount, currency, period = row.budget_amount, row.budget_currency, row.budget_period
            if _present(amount) and currency and (period or None) in MONTHLY_PERIODS:
                self.budgets[str(row.project_id)] = (Decimal(str(amount)), str(currency))
        self.project_ids = sorted(str(p) for p in projects["project_id"])
        currencies = self.snapshot.daily_cost.groupby("price_book")["currency"].unique()
        self.book_currencies = {str(book): sorted(map(str, values)) for book, values in currencies.items()}

    def cube(self, price_book: str, currency: str) -> CostCube:
        key = (price_book, currency)
        if key not in self._cubes:
            self._cubes[key] = build_cube(self.snapshot, price_book, currency, self.team_of)
        return self._cubes[key]

    def verdicts(self, rule: Rule) -> RuleVerdicts:
        if rule.name not in self._verdicts:
            self._verdicts[rule.name] = EVALUATORS[rule.kind](rule, self)
        return self._verdicts[rule.name]

    def default_currency(self, price_book: str) -> str | None:
        found = self.book_currencies.get(price_book, [])
        return found[0] if len(found) == 1 else None


# ----------------------------------------------------------------------------- budget


def budget_verdicts(rule: BudgetRule, ctx: Context) -> RuleVerdicts:
    snap, options = ctx.snapshot, ctx.options
    month_first = snap.last_day.replace(day=1)
    days_in_month = calendar.monthrange(month_first.year, month_first.month)[1]
    month_start = max(snap.index(month_first), 0)
    complete_end = snap.index(snap.at.date())
    out: ScopedVerdicts = {}
    for scope_key, budget, currency, problem in _budget_targets(rule, ctx):
        unknown = problem
        cube = ctx.cube(rule.price_book, currency) if currency else None
        if cube is not None and unknown is None:
            unknown = cube.problem(scope_key)
            if unknown is None and not cube.rated[month_start:].any():
                unknown = f"no {rule.price_book} cost rated for {month_first:%Y-%m} yet"
        if cube is None or currency is None or unknown is not None:
            for t in rule.thresholds:
                out[(t.label, scope_key)] = Verdict(UNKNOWN, describe=unknown or "no currency", reason_data={})
            continue
        series = cube.series(scope_key)
        actual = int(series[month_start:].sum())
        forecast = forecast_month_end(
            series, cube.rated, month_start=month_start, complete_end=complete_end, days_in_month=days_in_month,
            method=options.forecast_method, window_days=options.forecast_window_days,
            min_days=options.forecast_min_days,
        )  # fmt: skip
        elapsed = complete_end - month_start
        facts = _budget_facts(rule, month_first, days_in_month, elapsed, currency, budget, actual, forecast)
        for t in rule.thresholds:
            out[(t.label, scope_key)] = _threshold_verdict(t, budget, actual, forecast, currency, facts)
    return RuleVerdicts(out, "no budget or cost for this scope any more")


def _budget_targets(rule: BudgetRule, ctx: Context) -> list[tuple[str, int | None, str | None, str | None]]:
    """(scope key, budget in micro-units or None, currency, problem) per scope the rule covers."""
    chosen = set(rule.select)
    if rule.amount is not None:
        budget = int(rule.amount * MICRO)
        keys = _scope_keys(rule.scope, rule.select, ctx, rule.price_book)
        return [(key, budget, rule.currency, None) for key in keys]
    targets: list[tuple[str, int | None, str | None, str | None]] = []
    groups: dict[str, list[str]] = {}
    candidates = [p for p in rule.select if p in ctx.budgets] if rule.scope == "project" and chosen else ctx.budgets
    for project in candidates:
        if rule.scope == "project":
            groups[f"project:{project}"] = [project]
        elif rule.scope == "team" and project in ctx.team_of:
            groups.setdefault(f"team:{ctx.team_of[project]}", []).append(project)
        elif rule.scope == "total":
            groups.setdefault("total", []).append(project)
    for key, members in sorted(groups.items()):
        if chosen and key.partition(":")[2] not in chosen:
            continue
        currencies = {ctx.budgets[p][1] for p in members}
        if len(currencies) > 1 or (rule.currency and currencies != {rule.currency}):
            wanted = rule.currency or "one currency"
            targets.append((key, None, None, f"budgets in {', '.join(sorted(currencies))}, not {wanted}"))
            continue
        total = sum((ctx.budgets[p][0] for p in members), Decimal(0))
        targets.append((key, int(total * MICRO), currencies.pop(), None))
    return targets


def _scope_keys(scope: str, select: Sequence[str], ctx: Context, price_book: str) -> list[str]:
    if scope == "total":
        return ["total"]
    if select:
        return [f"{scope}:{name}" for name in select]
    if scope == "team":
        return [f"team:{team}" for team in sorted(set(ctx.team_of.values()))]
    frame = ctx.snapshot.daily_cost
    costed = {str(p) for p in frame.loc[frame["price_book"] == price_book, "project_id"].dropna()}
    return [f"project:{p}" for p in sorted(set(ctx.project_ids) | costed)]


def _budget_facts(
    rule: BudgetRule, month: dt.date, days_in_month: int, elapsed: int, currency: str,
    budget: int | None, actual: int, forecast: Forecast | None,
) -> dict[str, Any]:  # fmt: skip
    return {
        "price_book": rule.price_book, "currency": currency, "month": f"{month:%Y-%m}",
        "days_in_month": days_in_month, "days_elapsed": min(elapsed, days_in_month),
        "budget": None if budget is None else money(budget), "actual": money(actual),
        "forecast": None if forecast is None else money(forecast.value),
        "forecast_method": forecast.method if forecast else None,
        "forecast_window_days": forecast.window_days if forecast else None,
        "forecast_days_used": forecast.days_used if forecast else None,
        "forecast_daily_rate": money(forecast.daily_rate) if forecast else None,
    }  # fmt: skip


def _threshold_verdict(
    t: BudgetThreshold, budget: int | None, actual: int, forecast: Forecast | None, currency: str, facts: dict[str, Any]
) -> Verdict:
    data = {**facts, "basis": t.basis, "threshold": t.at, "comparison": t.comparison}
    if t.percent is not None:
        if budget is None:
            return Verdict(UNKNOWN, describe="no budget amount for a percentage threshold", reason_data=data)
        limit = budget * t.percent / 100
        of = f" ({t.at} of {money(budget)} {currency})"
    else:
        limit, of = Decimal(int(t.amount * MICRO)), ""  # type: ignore[operator]
    data["limit"] = money(float(limit))
    if t.basis == "forecast" and forecast is None:
        return Verdict(UNKNOWN, describe="too few rated days for a month-end forecast", reason_data=data)
    value = actual if t.basis == "actual" else forecast.value  # type: ignore[union-attr]
    breach = COMPARATORS[t.comparison](Decimal(value) if t.basis == "actual" else value, limit)
    state = ALARM if breach else OK
    symbol = SYMBOLS[t.comparison] if breach else {"gt": "≤", "ge": "<"}[t.comparison]
    describe = f"{t.basis} {money(value)} {currency} {symbol} {money(float(limit))} {currency}{of}"
    return Verdict(state, None, int(breach), 1, money(value), data, describe)


# ----------------------------------------------------------------------------- metric threshold


def metric_verdicts(rule: MetricThresholdRule, ctx: Context) -> RuleVerdicts:
    at, periods = ctx.snapshot.at, rule.evaluation_periods
    data = ctx.snapshot.metrics.get(rule.name) or MetricPoints(error="no data was loaded for this rule")
    base = {"metric": rule.metric, "aggregation": rule.aggregation, "comparison": rule.comparison,
            "threshold": rule.threshold, "granularity": rule.granularity, "evaluation_periods": periods,
            "source": rule.source}  # fmt: skip
    if data.error:
        keys = ["total"] if rule.group_by == "total" else []
        failed = {("", k): Verdict(UNKNOWN, describe=data.error, reason_data=base) for k in keys}
        return RuleVerdicts(failed, data.error)
    start = at - dt.timedelta(seconds=rule.granularity * (periods + 1))
    compare = COMPARATORS[rule.comparison]
    out: ScopedVerdicts = {}
    series = dict(data.series)
    if rule.group_by == "total":
        series.setdefault("total", [])
    for scope_key, points in series.items():
        values = [v for t, v in points if start <= t < at][-periods:]
        breaches = [bool(compare(v, rule.threshold)) for v in values]
        state, trending = aodh_verdict(breaches, periods)
        last = values[-1] if values else None
        if state == UNKNOWN:
            describe = f"{periods} datapoints are unknown ({len(values)} found)"
        else:
            describe = (f"{sum(breaches)} of {len(values)} samples {SYMBOLS[rule.comparison]} {rule.threshold:g}, "
                        f"most recent: {last:g}")  # fmt: skip
        out[("", scope_key)] = Verdict(state, trending, sum(breaches), len(values), last, base, describe)
    return RuleVerdicts(out, f"{periods} datapoints are unknown (none found)")


# ----------------------------------------------------------------------------- cost anomaly


def anomaly_verdicts(rule: CostAnomalyRule, ctx: Context) -> RuleVerdicts:
    snap = ctx.snapshot
    currency = rule.currency or ctx.default_currency(rule.price_book)
    keys = _scope_keys(rule.scope, rule.select, ctx, rule.price_book)
    if currency is None:
        found = ctx.book_currencies.get(rule.price_book) or ["none"]
        reason = f"{rule.price_book} cost is in {', '.join(found)}: set the rule's `currency`"
        return RuleVerdicts({("", k): Verdict(UNKNOWN, describe=reason) for k in keys}, reason)
    cube = ctx.cube(rule.price_book, currency)
    complete_end = snap.index(snap.at.date())
    days = [d for d in range(complete_end - rule.evaluation_periods, complete_end) if d >= 0]
    min_impact = float(rule.min_impact * MICRO)
    out: ScopedVerdicts = {}
    rated = cube.rated.tolist()
    histories = {day: [d for d in range(max(day - rule.window_days, 0), day) if rated[d]] for day in days}
    for key in keys:
        problem = cube.problem(key)
        series = cube.series(key)
        values = series.tolist()
        breaches, last = [], None
        for day in days if problem is None else []:
            history = histories[day]
            if not rated[day] or len(history) < rule.min_history_days:
                continue
            score = robust_score(float(values[day]), [float(values[d]) for d in history])
            breaches.append(is_anomalous(score, min_impact=min_impact, z_threshold=rule.z_threshold))
            last = (day, score, len(history))
        state, trending = aodh_verdict(breaches, rule.evaluation_periods)
        data: dict[str, Any] = {"currency": currency, "price_book": rule.price_book, "window_days": rule.window_days,
                                "min_impact": money(min_impact), "z_threshold": rule.z_threshold}  # fmt: skip
        if last is None:
            describe = problem or f"fewer than {rule.min_history_days} rated days before the day evaluated"
            out[("", key)] = Verdict(UNKNOWN, describe=describe, reason_data=data)
            continue
        day, score, used = last
        on = snap.first_day + dt.timedelta(days=day)
        cost = float(series[day])
        data.update(day=on.isoformat(), cost=money(cost), median=money(score.median), mad=money(score.mad),
                    robust_z=None if not np.isfinite(score.z) else round(score.z, 3), impact=money(score.impact),
                    history_days=used)  # fmt: skip
        z = "∞" if not np.isfinite(score.z) else f"{score.z:.1f}"
        describe = (f"cost on {on} {money(cost)} {currency} vs median {money(score.median)} (MAD {money(score.mad)}, "
                    f"z {z}, impact {money(score.impact)} {currency}; alarm at ≥ {money(min_impact)} and z ≥ "
                    f"{rule.z_threshold:g})")  # fmt: skip
        out[("", key)] = Verdict(state, trending, sum(breaches), len(breaches), money(cost), data, describe)
    return RuleVerdicts(out)


# ----------------------------------------------------------------------------- composite


def composite_verdicts(rule: CompositeRule, ctx: Context) -> RuleVerdicts:
    operands = {_label(ref): _operand_verdicts(ref, ctx) for ref in rule.refs()}
    keys = {scope for found in operands.values() for scope in found if set(found) != {"total"}} or {"total"}
    form = _form(rule.expression)
    out: ScopedVerdicts = {}
    for key in sorted(keys):
        # An operand that only has a total (a total budget) applies to every scope of the others.
        leaves = {label: found.get("total" if set(found) == {"total"} else key) for label, found in operands.items()}
        resolved = {label: v or Verdict(UNKNOWN) for label, v in leaves.items()}
        previous = ctx.previous_state(AlarmKey(rule.name, "", key))
        state, states = composite_state(rule.expression, resolved, previous)
        causes = {label: s for label, s in states.items() if s == state}
        describe = f"rules: {', '.join(sorted(causes)) or 'none'} {_COMPOSITE_WORDS[state]}"
        data = {"composition_form": form, "causative_rules": dict(sorted(causes.items()))}
        out[("", key)] = Verdict(state, reason_data=data, describe=describe)
    return RuleVerdicts(out)


def composite_state(expression: Op, leaves: Mapping[str, Verdict], previous: str) -> tuple[str, dict[str, str | None]]:
    """Aodh's composite evaluation. A first pass uses the unequivocal leaves only; if neither the
    alarm nor the ok expression holds, mixed leaves take a state — their trend when the composite
    is insufficient_data, else the opposite of their trend (the state the mixed points are
    leaving) — and both are tried again. Neither → insufficient_data."""
    for adjust in (False, True):
        states = {label: _leaf_state(v, adjust, previous) for label, v in leaves.items()}
        if _holds(expression, ALARM, states):
            return ALARM, states
        if _holds(expression, OK, states):
            return OK, states
    return UNKNOWN, states


def _leaf_state(verdict: Verdict, adjust: bool, previous: str) -> str | None:
    if verdict.state is not None or not adjust:
        return verdict.state
    if previous == UNKNOWN:
        return verdict.trending
    return OK if verdict.trending == ALARM else ALARM


def _holds(node: Ref | Op, target: str, states: Mapping[str, str | None]) -> bool:
    if isinstance(node, Ref):
        return states[_label(node)] == target
    results = (_holds(operand, target, states) for operand in node.operands)
    # alarm: and → all, or → any. ok is the dual: and → any operand ok, or → all ok.
    conjunctive = (node.op == "and") == (target == ALARM)
    return all(results) if conjunctive else any(results)


def _operand_verdicts(ref: Ref, ctx: Context) -> dict[str, Verdict]:
    rule = ctx.rules.get(ref.rule)
    condition = ref.threshold or (rule.thresholds[0].label if isinstance(rule, BudgetRule) else "")
    return {scope: v for (cond, scope), v in ctx.verdicts(rule).verdicts.items() if cond == condition}


def _label(ref: Ref) -> str:
    return f"{ref.rule}[{ref.threshold}]" if ref.threshold else ref.rule


def _form(node: Ref | Op) -> str:
    if isinstance(node, Ref):
        return _label(node)
    return "(" + f" {node.op} ".join(_form(operand) for operand in node.operands) + ")"


EVALUATORS: dict[str, Callable[[Any, Context], RuleVerdicts]] = {
    "budget": budget_verdicts,
    "metric_threshold": metric_verdicts,
    "cost_anomaly": anomaly_verdicts,
    "composite": composite_verdicts,
}
