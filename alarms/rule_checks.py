"""A rules file against the settings it will run with: every rule must be able to run as written.

`unconfigured(rules, settings)` lists, as (rule, field, message) problems like `RuleError`'s,
what the file itself cannot show:

- a notifier a rule sends to (its `notify`, `ok_notify`, `insufficient_data_notify`, or the
  defaults standing in for them) that `alarms.notifiers` does not configure;
- a `metric_threshold` rule with `source: gnocchi` when the `gnocchi` section names no server
  (basic auth without `gnocchi.url`);
- a budget or cost anomaly on a price book that rating does not produce (`baselines.providers`).

`check_configured` raises them as one `RuleError`: `stackledger alarms check-rules` reports them,
and `evaluate_alarms` refuses to start with them, naming each rule, before anything is read.
"""

from __future__ import annotations

from collections.abc import Sequence

from stackledger.alarms.rule_models import BudgetRule, CostAnomalyRule, MetricThresholdRule, Rule, RuleSet
from stackledger.alarms.rules import RuleError
from stackledger.errors import ConfigError
from stackledger.schema import INTERNAL_BOOK
from stackledger.settings import Settings

Problem = tuple[str, str, str]
_FIELDS = (("notify", "alarm"), ("ok_notify", "ok"), ("insufficient_data_notify", "insufficient_data"))


def check_configured(rules: RuleSet, settings: Settings) -> None:
    """Raise RuleError listing every rule that cannot run with `settings`."""
    problems = unconfigured(rules, settings)
    if problems:
        raise RuleError(rules.file, problems)


def unconfigured(rules: RuleSet, settings: Settings) -> list[Problem]:
    """(rule, field, message) for each notifier, source or price book a rule uses that `settings` lacks."""
    missing = _missing_notifiers(rules, settings)
    books = {INTERNAL_BOOK, *settings.baselines.providers}
    problems: list[Problem] = []
    for rule in rules.rules:
        problems += _notifier_problems(rule, settings.alarms.default_notify, missing)
        problems += _source_problems(rule, settings, books)
    return problems


def _missing_notifiers(rules: RuleSet, settings: Settings) -> dict[str, str]:
    """Notifier name -> why it cannot be built, for every notifier the rules name."""
    from stackledger.alarms.notifiers import build_notifiers, close_all  # late: notifiers import their clients

    missing = {}
    for name in sorted(rules.notifier_names(settings.alarms.default_notify)):
        try:
            close_all(build_notifiers(settings.alarms.notifiers, [name]))
        except ConfigError as error:
            missing[name] = _reason(str(error), name)
    return missing


def _notifier_problems(rule: Rule, default: Sequence[str], missing: dict[str, str]) -> list[Problem]:
    problems = []
    for field, state in _FIELDS:
        for name in rule.actions(state, default):
            if name in missing:
                where = field if getattr(rule, field) is not None else "notify (alarms.default_notify)"
                problems.append((rule.name, where, f"notifier {name!r}: {missing[name]}"))
    return problems


def _source_problems(rule: Rule, settings: Settings, books: set[str]) -> list[Problem]:
    if isinstance(rule, MetricThresholdRule) and rule.source == "gnocchi":
        gnocchi = settings.gnocchi
        if gnocchi.auth_mode == "basic" and not gnocchi.url:
            return [(rule.name, "source", "source gnocchi is not configured: set gnocchi.url (and gnocchi.user, "
                                          "gnocchi.password), or use source: store")]  # fmt: skip
    if isinstance(rule, BudgetRule | CostAnomalyRule) and rule.price_book not in books:
        rated = ", ".join(sorted(books))
        return [(rule.name, "price_book", f"price book {rule.price_book!r} is not rated (rated: {rated}); "
                                          "add it to baselines.providers")]  # fmt: skip
    return []


def _reason(message: str, name: str) -> str:
    """build_notifiers' message without its 'key …: the rules use notifier …' preamble."""
    detail = message.split(f"the rules use notifier {name!r} but ", 1)[-1]
    return detail if detail != message else f"set alarms.notifiers.{name}"
