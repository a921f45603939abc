"""Alarms: rule models, the pure evaluation engine, and notifiers (DESIGN §7).

    rules.py       the YAML rules file → RuleSet (validated whole; RuleError names file, rule, field)
    schedule.py    time constraints: cron windows in a time zone (Aodh's semantics)
    data.py        Snapshot: what one evaluation sees (daily cost, projects, metric points, FX)
    stats.py       month-end forecast, median/MAD anomaly statistics
    evaluators.py  per kind: (condition, scope) → Verdict, reduced the way Aodh does
    engine.py      evaluate(rules, snapshot, previous states) → states, transitions, notifications
    metrics.py     metric_threshold readers: the store's usage, Gnocchi's /v1/aggregates
    notifiers/     log, webhook (HMAC-signed), email (SMTP), kafka, slack; deliver() with retries

`stackledger.pipeline.alarms.evaluate_alarms` wires them to the store.

Errors: `RuleError` (a ConfigError) for rule files; `DeliveryError` (transient or not) from a
notifier, which `deliver` records and never lets stop the others.
"""

from stackledger.alarms.data import MetricPoints, Snapshot
from stackledger.alarms.engine import Evaluation, decide, evaluate
from stackledger.alarms.evaluators import Options
from stackledger.alarms.rules import RuleError, RuleSet, load_rules, parse_rules
from stackledger.alarms.states import ALARM, OK, UNKNOWN, AlarmKey, AlarmState, Notification, Transition

__all__ = [
    "ALARM",
    "OK",
    "UNKNOWN",
    "AlarmKey",
    "AlarmState",
    "Evaluation",
    "MetricPoints",
    "Notification",
    "Options",
    "RuleError",
    "RuleSet",
    "Snapshot",
    "Transition",
    "decide",
    "evaluate",
    "load_rules",
    "parse_rules",
]
