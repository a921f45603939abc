"""The collector protocol's `Scope` (which projects a collect asks for) and the re-rating rule for
new samples: tiny inline cases."""

from __future__ import annotations

import datetime as dt

import numpy as np

from stackledger.collectors.base import EVERY_PROJECT, Scope
from stackledger.pipeline.sample_store import days_to_rerate
from stackledger.store.sample_days import day_number


def test_every_project_asks_everything_and_filters_nothing() -> None:
    assert not EVERY_PROJECT.narrowed
    assert EVERY_PROJECT.asks("p1") and EVERY_PROJECT.asks(None)


def test_listed_projects_only() -> None:
    scope = Scope(projects=("p1", "p2"))
    assert scope.narrowed
    assert scope.asks("p1") and scope.asks("p2")
    assert not scope.asks("p3") and not scope.asks(None)


def test_a_shard_asks_its_projects_and_those_nobody_knows_yet() -> None:
    scope = Scope(projects=("p1",), unknown_besides=("p1", "p2"))
    assert scope.narrowed
    assert scope.asks("p1") and scope.asks("p-new") and scope.asks(None)
    assert not scope.asks("p2")  # known, and another shard's
    # a shard owning none of the known projects still asks for the new ones
    assert Scope(projects=(), unknown_besides=("p1",)).narrowed
    # nothing known at all: every project is new
    assert not Scope(projects=(), unknown_besides=()).narrowed


def test_new_samples_mark_their_day_and_a_counter_the_next_day_too() -> None:
    day = dt.date(2026, 10, 14)
    code = day_number(day)
    assert days_to_rerate(np.array([code, code]), np.array([False, False])) == {day}
    assert days_to_rerate(np.array([code]), np.array([True])) == {day, dt.date(2026, 10, 15)}
    assert days_to_rerate(np.array([code, code + 2]), np.array([False, True])) == {
        day,
        dt.date(2026, 10, 16),
        dt.date(2026, 10, 17),
    }
    assert days_to_rerate(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool)) == set()
