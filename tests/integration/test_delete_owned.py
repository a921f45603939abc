"""`store.bulk.delete_owned` on SQLite and PostgreSQL: a unit of work deletes the rows it owns
(all of its window, a shard's resources, or a list of projects with None for no project) and
nothing else; IN lists longer than one chunk are cut (`store.bulk.chunks`)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.sql import ColumnElement

from stackledger.pipeline import store_for
from stackledger.settings import Settings
from stackledger.store import Store, tables
from stackledger.store.bulk import IN_LIST_SIZE, chunks, delete_owned

HOUR = dt.datetime(2026, 10, 15, 10)
RESOURCES = [f"res-{n:04d}" for n in range(IN_LIST_SIZE + 30)]  # more than one IN list


def usage_row(resource: str, project: str | None, start: dt.datetime, source: str = "ceilometer") -> dict[str, object]:
    return {"charge_period_start": start, "charge_period_end": start + dt.timedelta(hours=1), "project_id": project,
            "resource_id": resource, "resource_type": "instance", "service": "compute.vcpu",
            "consumed_quantity": 1.0, "consumed_unit": "vCPU-hour", "flavor_name": "", "source": source}  # fmt: skip


def project_of(n: int) -> str | None:
    return None if n % 5 == 0 else f"proj-{n % 3}"


@pytest.fixture
def store(any_settings: Settings) -> Store:
    """Usage of every resource in one hour, plus the next hour and another source (never in the window)."""
    store = store_for(any_settings)
    rows = [usage_row(r, project_of(n), HOUR) for n, r in enumerate(RESOURCES)]
    rows += [
        usage_row("res-0001", "proj-1", HOUR + dt.timedelta(hours=1)),
        usage_row("res-0001", "proj-1", HOUR, "gnocchi"),
    ]
    with store.transaction() as conn:
        store.insert(conn, tables.usage, rows)
    return store


def in_hour() -> list[ColumnElement[bool]]:
    c = tables.usage.c
    return [
        c.charge_period_start >= HOUR,
        c.charge_period_start < HOUR + dt.timedelta(hours=1),
        c.source == "ceilometer",
    ]


def remaining(store: Store) -> set[tuple[str, dt.datetime, str]]:
    c = tables.usage.c
    with store.engine.connect() as conn:
        return {(r, s, src) for r, s, src in conn.execute(select(c.resource_id, c.charge_period_start, c.source))}


def outside() -> set[tuple[str, dt.datetime, str]]:
    return {("res-0001", HOUR + dt.timedelta(hours=1), "ceilometer"), ("res-0001", HOUR, "gnocchi")}


def test_everything_in_the_window_goes_and_nothing_else(store: Store) -> None:
    with store.transaction() as conn:
        assert delete_owned(conn, tables.usage, in_hour()) == len(RESOURCES)
    assert remaining(store) == outside()


def test_a_shard_deletes_only_the_resources_it_owns(store: Store) -> None:
    mine = {r for n, r in enumerate(RESOURCES) if n % 2 == 0}
    with store.transaction() as conn:
        assert delete_owned(conn, tables.usage, in_hour(), owns=mine.__contains__) == len(mine)
    kept = {(r, HOUR, "ceilometer") for r in RESOURCES if r not in mine}
    assert remaining(store) == kept | outside()


@pytest.mark.parametrize("projects", [["proj-1", None], ["proj-2"], [None], []])
def test_rows_of_the_listed_projects_go_none_for_no_project(store: Store, projects: list[str | None]) -> None:
    gone = {r for n, r in enumerate(RESOURCES) if project_of(n) in projects}
    with store.transaction() as conn:
        assert delete_owned(conn, tables.usage, in_hour(), projects=projects) == len(gone)
    assert remaining(store) == {(r, HOUR, "ceilometer") for r in RESOURCES if r not in gone} | outside()


def test_resources_and_projects_together_are_refused(store: Store) -> None:
    with store.transaction() as conn, pytest.raises(ValueError, match="not both"):
        delete_owned(conn, tables.usage, in_hour(), owns=lambda _: True, projects=["proj-1"])


def test_chunks_cut_in_order_without_losing_any() -> None:
    assert list(chunks([])) == []
    assert [list(c) for c in chunks([1, 2, 3, 4, 5], 2)] == [[1, 2], [3, 4], [5]]
    assert [len(c) for c in chunks(RESOURCES)] == [IN_LIST_SIZE, 30]
    with pytest.raises(ValueError, match="at least 1"):
        list(chunks([1], 0))
