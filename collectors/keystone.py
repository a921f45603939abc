"""Projects from Keystone: who owns what, and which team and cost center pay for it.

`KeystoneCollector(api, rules).collect(window, scope)` lists every project of every domain
(`GET /v3/projects`, followed page by page through `links.next`; a list Keystone truncated
without a next link is a failure, never a silent partial list) and returns them as canonical
project rows (source "keystone"). Projects have no time: every window carries all of them, and
the pipeline upserts them by id. Disabled projects are kept — their past usage still needs an owner.

Mapping (`openstack.tags`, `TagRules`):

- `team`, `cost_center`: the group of the first tag (in Keystone's sorted order) that the rule's
  regular expression matches, e.g. `team:payments` → `payments`. Several matching tags: the first
  wins and a warning names the others. With `inherit`, a project without its own takes its
  nearest ancestor's (`ml-training` under `ml-research`).
- `budget`: a tag such as `budget:1200EUR` or `budget:1200.50 EUR/month` → amount, currency,
  period (`month` when not given). A malformed budget tag is logged and ignored: one typo must
  not keep every other project out of the store.
- `parent_id`: the parent project, or None for a top-level project (Keystone gives the domain
  as parent; `domain_id` already says that).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Final

import pandas as pd

from stackledger.collectors.base import EVERY_PROJECT, Collected, Failure, History, Scope
from stackledger.collectors.openstack_api import Api, connect
from stackledger.errors import SourceError
from stackledger.schema import PROJECT_COLUMNS, validate_frame
from stackledger.settings import ProjectTagSettings, Settings
from stackledger.window import Window

log = logging.getLogger(__name__)

NAME: Final = "keystone"
_BUDGET: Final = re.compile(
    r"^\s*(?P<amount>\d+(?:\.\d+)?)\s*(?P<currency>[A-Za-z]{3})\s*(?:/\s*(?P<period>month|quarter|year))?\s*$"
)


@dataclass(frozen=True)
class TagRules:
    team: re.Pattern[str]
    cost_center: re.Pattern[str]
    budget: re.Pattern[str] | None = None
    inherit: bool = True

    @classmethod
    def from_settings(cls, settings: ProjectTagSettings) -> TagRules:
        return cls(
            team=re.compile(settings.team),
            cost_center=re.compile(settings.cost_center),
            budget=re.compile(settings.budget) if settings.budget else None,
            inherit=settings.inherit,
        )


class KeystoneCollector:
    """Every Keystone project as a canonical row (module docstring)."""

    name = NAME

    def __init__(self, api: Api, rules: TagRules) -> None:
        self.api = api
        self.rules = rules

    def collect(self, window: Window, scope: Scope = EVERY_PROJECT) -> Collected:
        """Every project (Keystone's list cannot be narrowed; the pipeline keeps `scope`'s)."""
        before = self.api.requests
        try:
            projects = self.api.collect("/projects", "projects")
        except SourceError as error:
            failure = Failure("projects", str(error), transient=error.transient)
            return Collected(failures=[failure], requests=self.api.requests - before)
        frame = projects_frame(projects, self.rules)
        log.info("keystone %s: %d projects", window.label, len(frame))
        return Collected(projects=frame, requests=self.api.requests - before)


def projects_frame(projects: Sequence[Mapping[str, Any]], rules: TagRules) -> pd.DataFrame:
    """Keystone project objects → PROJECT_COLUMNS rows plus `source`."""
    by_id = {str(p["id"]): p for p in projects}
    own = {pid: _own_values(p, rules) for pid, p in by_id.items()}
    rows = []
    for pid, project in by_id.items():
        team, cost_center = own[pid]["team"], own[pid]["cost_center"]
        if rules.inherit and (team is None or cost_center is None):
            for ancestor in _ancestors(pid, by_id):
                team = team if team is not None else own[ancestor]["team"]
                cost_center = cost_center if cost_center is not None else own[ancestor]["cost_center"]
        amount, currency, period = own[pid]["budget"]
        rows.append(
            {
                "project_id": pid,
                "name": project.get("name"),
                "domain_id": project.get("domain_id"),
                "parent_id": _parent(project),
                "tags": [str(tag) for tag in project.get("tags") or []],
                "team": team,
                "cost_center": cost_center,
                "budget_amount": amount,
                "budget_currency": currency,
                "budget_period": period,
                "source": NAME,
            }
        )
    frame = pd.DataFrame(rows, columns=[*PROJECT_COLUMNS, "source"], dtype=object)
    validate_frame(frame, PROJECT_COLUMNS, stage="keystone projects")
    return frame


def _parent(project: Mapping[str, Any]) -> str | None:
    parent = project.get("parent_id")
    return None if not parent or parent == project.get("domain_id") else str(parent)


def _ancestors(pid: str, by_id: Mapping[str, Mapping[str, Any]]) -> list[str]:
    chain: list[str] = []
    parent = _parent(by_id[pid])
    while parent is not None and parent in by_id and parent not in chain and parent != pid:
        chain.append(parent)
        parent = _parent(by_id[parent])
    return chain


def _own_values(project: Mapping[str, Any], rules: TagRules) -> dict[str, Any]:
    tags = [str(tag) for tag in project.get("tags") or []]
    where = f"project {project.get('name')} ({project.get('id')})"
    budget: tuple[Decimal | None, str | None, str | None] = (None, None, None)
    raw_budget = _match(rules.budget, tags, where, "budget") if rules.budget else None
    if raw_budget is not None:
        budget = _budget(raw_budget, where)
    return {
        "team": _match(rules.team, tags, where, "team"),
        "cost_center": _match(rules.cost_center, tags, where, "cost center"),
        "budget": budget,
    }


def _match(pattern: re.Pattern[str], tags: Sequence[str], where: str, what: str) -> str | None:
    values = [match.group(1) for tag in tags if (match := pattern.search(tag)) and match.group(1)]
    if len(set(values)) > 1:
        log.warning("keystone: %s has several %s tags %s; using %r", where, what, values, values[0])
    return values[0] if values else None


def _budget(value: str, where: str) -> tuple[Decimal | None, str | None, str | None]:
    match = _BUDGET.match(value)
    if match is None:
        log.warning("keystone: %s: budget %r is not AMOUNT CURRENCY[/month|quarter|year]; ignored", where, value)
        return None, None, None
    try:
        amount = Decimal(match.group("amount"))
    except InvalidOperation:  # the pattern admits only digits; kept for safety
        return None, None, None
    return amount, match.group("currency").upper(), match.group("period") or "month"


def from_settings(settings: Settings, history: History | None = None) -> KeystoneCollector:
    """The registry's factory (`stackledger.pipeline.collect.COLLECTORS`); projects have no history."""
    config = settings.openstack
    conn = connect(config)
    api = Api(conn.identity, page_size=config.page_size, retries=config.retries, backoff_s=config.backoff_s)
    return KeystoneCollector(api, TagRules.from_settings(config.tags))


__all__ = ["NAME", "KeystoneCollector", "TagRules", "from_settings", "projects_frame"]
