"""`stackledger alarms check-rules FILE | evaluate [--at T] | list | history [--rule R]`."""

from __future__ import annotations

import argparse
from collections import Counter
from typing import TYPE_CHECKING

from stackledger.cli.common import settings_from

if TYPE_CHECKING:
    import pandas as pd

EPILOG = """\
check-rules FILE   validate a rules file: every problem is listed with its rule and field;
                   exit 2 when there is one. Against the settings too: a notifier the settings
                   do not configure, a `source: gnocchi` without a Gnocchi server, a price book
                   rating does not produce, each an error naming the rule (--syntax-only: the
                   file alone). `evaluate` refuses the same problems before it starts.
evaluate           evaluate the rules of `alarms.rules` at --at (default now, UTC unless the
                   time says otherwise), store states and history, send notifications. The
                   same instant evaluated twice sends nothing the second time.
list               the current state of every alarm.
history            transitions and notification outcomes, newest last.
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("alarms", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = actions.add_parser("check-rules", help="validate a rules file")
    check.add_argument("file", metavar="FILE")
    check.add_argument(
        "--syntax-only", action="store_true", help="check the file alone, not against the settings it will run with"
    )
    check.set_defaults(run=check_rules)
    evaluate = actions.add_parser("evaluate", help="evaluate the rules now or at --at, and notify")
    evaluate.add_argument("--at", metavar="TIMESTAMP", help="ISO 8601 instant (default: now)")
    evaluate.add_argument("--rules", metavar="FILE", help="rules file (default: alarms.rules from the settings)")
    evaluate.set_defaults(run=evaluate_now)
    listing = actions.add_parser("list", help="current alarm states")
    listing.add_argument("--rule", help="only this rule")
    listing.add_argument("--state", choices=["ok", "alarm", "insufficient_data"], help="only alarms in this state")
    listing.set_defaults(run=list_states)
    history = actions.add_parser("history", help="transitions and notification outcomes")
    history.add_argument("--rule", help="only this rule")
    history.add_argument("--limit", type=int, default=50, help="latest rows to show (default 50)")
    history.set_defaults(run=show_history)


def check_rules(args: argparse.Namespace) -> int:
    from stackledger.alarms.rule_checks import check_configured
    from stackledger.alarms.rules import load_rules

    rules = load_rules(args.file)
    if not args.syntax_only:
        check_configured(rules, settings_from(args))  # a RuleError: exit 2, every rule named
    kinds = Counter(rule.kind for rule in rules.rules)
    summary = ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items()))
    checked = "file only" if args.syntax_only else "notifiers, sources and price books configured"
    print(f"{args.file}: {len(rules)} rules OK ({summary or 'none'}; {checked})")
    return 0


def evaluate_now(args: argparse.Namespace) -> int:
    from stackledger.alarms.rules import load_rules
    from stackledger.pipeline import alarms as pipeline
    from stackledger.window import parse_instant

    settings = settings_from(args)
    rules = load_rules(args.rules) if args.rules else None
    at = parse_instant(args.at, "--at") if args.at else None
    result = pipeline.evaluate_alarms(settings, at, rules=rules)
    states = ", ".join(f"{count} {state}" for state, count in sorted(result.states.items())) or "no alarms"
    print(f"{result.at.isoformat()}Z: {result.rules} rules, {result.evaluated} alarms evaluated ({states})")
    if result.outside_time_constraints:
        print(f"outside their time constraints: {', '.join(result.outside_time_constraints)}")
    print(f"{result.transitions} transitions, {result.notifications} notifications, "
          f"{result.sent} deliveries sent, {result.failed} failed, {result.snoozed} snoozed")  # fmt: skip
    for delivery in result.deliveries:
        note = delivery.notification
        outcome = "sent" if delivery.ok else f"FAILED after {delivery.attempts} attempts: {delivery.error}"
        print(f"  {note.title}: {note.previous} → {note.current} via {delivery.notifier}: {outcome}")
    return 0


def list_states(args: argparse.Namespace) -> int:
    from stackledger.pipeline import alarms as pipeline

    frame = pipeline.alarm_states(settings_from(args), rule=args.rule)
    if args.state:
        frame = frame[frame["state"] == args.state]
    if frame.empty:
        print("no alarms")
        return 0
    columns = ["rule", "condition", "scope", "state", "severity", "since", "evaluated_at", "last_notified_at"]
    _print(frame[columns])
    return 0


def show_history(args: argparse.Namespace) -> int:
    from stackledger.pipeline import alarms as pipeline

    frame = pipeline.alarm_history(settings_from(args), rule=args.rule, limit=args.limit)
    if frame.empty:
        print("no history")
        return 0
    frame = frame.assign(attempts=frame["attempts"].astype("Int64"))
    columns = ["at", "rule", "condition", "scope", "event", "previous", "current", "notifier", "outcome",
               "attempts", "error", "reason"]  # fmt: skip
    _print(frame[columns])
    return 0


def _print(frame: pd.DataFrame) -> None:
    import pandas as pd

    with pd.option_context("display.max_rows", None, "display.max_columns", None, "display.width", 250,
                           "display.max_colwidth", 90):  # fmt: skip
        print(frame.astype(object).where(frame.notna(), "").to_string(index=False))
