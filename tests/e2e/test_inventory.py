"""pipeline.inventory on SQLite and PostgreSQL: project upserts, per-source resource replacement."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import select

from stackledger.errors import SchemaError
from stackledger.pipeline import store_for
from stackledger.pipeline.inventory import store_projects, store_resources
from stackledger.pipeline.rate import internal_rater, rate_pending, rate_window
from stackledger.pipeline.usage import load_inventory
from stackledger.schema import PROJECT_COLUMNS, RESOURCE_COLUMNS
from stackledger.settings import Settings
from stackledger.store import tables
from stackledger.window import Window
from tests.stored_samples import store_records

T0 = dt.datetime(2026, 10, 1)
HOUR = dt.timedelta(hours=1)


def projects(*rows: dict[str, Any]) -> pd.DataFrame:
    base = {
        "domain_id": "default", "parent_id": None, "tags": [], "team": None, "cost_center": None,
        "budget_amount": None, "budget_currency": None, "budget_period": None,
    }  # fmt: skip
    return pd.DataFrame([{**base, **row} for row in rows], columns=list(PROJECT_COLUMNS), dtype=object)


def revision(resource_id: str, valid_from: dt.datetime, valid_to: dt.datetime | None, **row: Any) -> dict[str, Any]:
    base = {
        "resource_id": resource_id, "resource_type": "instance", "project_id": "p1", "name": resource_id,
        "region": "RegionOne", "flavor_name": "m1.small", "vcpus": 1.0, "ram_mib": 2048.0, "disk_gib": 20.0,
        "volume_type": None, "size_gib": None, "started_at": T0, "ended_at": None,
        "valid_from": valid_from, "valid_to": valid_to,
    }  # fmt: skip
    return {**base, **row}


def resources(*rows: dict[str, Any]) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows), columns=list(RESOURCE_COLUMNS))
    return frame.astype(dict(RESOURCE_COLUMNS))


def stored(settings: Settings, table: Any, order: list[str]) -> pd.DataFrame:
    return store_for(settings).frame(select(table).order_by(*(table.c[name] for name in order)))


def test_store_projects_upserts_by_project_id(any_settings: Settings) -> None:
    store_projects(
        any_settings,
        projects(
            {"project_id": "p1", "name": "payments", "tags": ["team:payments"], "budget_amount": Decimal("100.50")},
            {"project_id": "p2", "name": "search"},
        ),
        source="keystone",
    )
    written = store_projects(
        any_settings,
        projects(
            {"project_id": "p1", "name": "payments-prod", "team": "payments", "budget_amount": Decimal("200")},
            {"project_id": "p3", "name": "ml", "parent_id": "p2"},
        ),
        source="keystone",
    )
    rows = stored(any_settings, tables.projects, ["project_id"])
    assert written == 2
    assert list(rows["project_id"]) == ["p1", "p2", "p3"]
    p1 = rows.iloc[0]
    assert (p1["name"], p1["team"], p1["tags"]) == ("payments-prod", "payments", [])  # the whole row replaced
    assert Decimal(str(p1["budget_amount"])) == Decimal("200")
    assert rows.iloc[2]["parent_id"] == "p2"
    assert set(rows["source"]) == {"keystone"}


def test_store_projects_takes_the_source_column(any_settings: Settings) -> None:
    frame = projects({"project_id": "p1", "name": "a", "tags": ["x", "y"]}).assign(source="synthetic")
    store_projects(any_settings, frame)
    row = stored(any_settings, tables.projects, ["project_id"]).iloc[0]
    assert (row["source"], row["tags"]) == ("synthetic", ["x", "y"])


def test_store_resources_replaces_the_sources_rows_for_the_given_ids(any_settings: Settings) -> None:
    resize = T0 + 10 * HOUR
    store_resources(
        any_settings,
        resources(
            revision("vm1", T0, resize),
            revision("vm1", resize, None, flavor_name="m1.large", vcpus=4.0),
            revision("vm2", T0, None),
        ),
        "nova",
    )
    # Another source's view of vm1 (a different revision key) is not ours to replace.
    store_resources(any_settings, resources(revision("vm1", T0 + HOUR, None, flavor_name="gnocchi")), "gnocchi")
    # Nova now reports vm1 as one revision, deleted: both old nova rows go, vm2 stays.
    ended = T0 + 20 * HOUR
    written = store_resources(any_settings, resources(revision("vm1", T0, None, ended_at=ended)), "nova")
    rows = stored(any_settings, tables.resources, ["resource_id", "source", "valid_from"])
    assert written == 1
    assert list(zip(rows["resource_id"], rows["source"], strict=True)) == [
        ("vm1", "gnocchi"), ("vm1", "nova"), ("vm2", "nova"),
    ]  # fmt: skip
    vm1 = rows[(rows["resource_id"] == "vm1") & (rows["source"] == "nova")].iloc[0]
    assert pd.Timestamp(vm1["ended_at"]) == ended
    assert pd.isna(vm1["valid_to"])


def test_overlapping_revisions_are_refused_before_anything_is_written(any_settings: Settings) -> None:
    frame = resources(revision("vm1", T0, T0 + 5 * HOUR), revision("vm1", T0 + HOUR, None))
    with pytest.raises(SchemaError, match=r"vm1.*overlaps"):
        store_resources(any_settings, frame, "nova")
    assert stored(any_settings, tables.resources, ["resource_id"]).empty


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"resource_type": "server"}, "resource_type 'server'"),
        ({"valid_from": pd.NaT}, "valid_from is missing"),
        ({"valid_to": T0}, r"valid_to .* is not after"),
        ({"ended_at": T0 - HOUR}, r"ended_at .* is before started_at"),
    ],
)
def test_bad_resource_rows_name_the_row(any_settings: Settings, change: dict[str, Any], message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        store_resources(any_settings, resources({**revision("vm1", T0, None), **change}), "nova")


def test_missing_columns_are_a_schema_error(any_settings: Settings) -> None:
    with pytest.raises(SchemaError, match="missing columns"):
        store_resources(any_settings, resources(revision("vm1", T0, None)).drop(columns=["valid_from"]), "nova")
    with pytest.raises(SchemaError, match="missing columns"):
        store_projects(any_settings, projects({"project_id": "p1", "name": "a"}).drop(columns=["tags"]))


def test_two_sources_keep_separate_revisions_of_the_same_resource(any_settings: Settings) -> None:
    """(resource_id, valid_from, source) is the key: Gnocchi's and Nova's view of vm1 from the same
    instant both stay, each source replaces only its own, and usage reads Nova's (the inventory API)."""
    store_resources(any_settings, resources(revision("vm1", T0, None, flavor_name="from-gnocchi")), "gnocchi")
    store_resources(any_settings, resources(revision("vm1", T0, None), revision("vm2", T0, None)), "nova")
    store_resources(any_settings, resources(revision("vm1", T0, None, flavor_name="m1.large")), "nova")

    rows = stored(any_settings, tables.resources, ["resource_id", "source", "valid_from"])
    assert list(zip(rows["resource_id"], rows["source"], rows["flavor_name"], strict=True)) == [
        ("vm1", "gnocchi", "from-gnocchi"), ("vm1", "nova", "m1.large"), ("vm2", "nova", "m1.small"),
    ]  # fmt: skip
    inventory = load_inventory(store_for(any_settings), Window(T0, T0 + HOUR), dt.timedelta(hours=24))
    assert sorted(zip(inventory["resource_id"], inventory["flavor_name"], strict=True)) == [
        ("vm1", "m1.large"), ("vm2", "m1.small"),
    ]  # fmt: skip


# ---------------------------------------------------------------- re-rating what an inventory change alters

RATED = dt.date(2026, 10, 14)  # the example card: compute.vcpu 0.0210/vCPU-h, m1.large 0.0100/instance-h
RATED_DAY = Window(dt.datetime(2026, 10, 14), dt.datetime(2026, 10, 15))


def rated_cloud(settings: Settings) -> None:
    """vm1 (nova, m1.small since the 1st) read at :30 every hour of RATED, and RATED rated."""
    store_resources(settings, resources(revision("vm1", T0, None)), "nova")
    rows = []
    for hour in range(24):
        at = dt.datetime.combine(RATED, dt.time(hour, 30))
        rows.append({
            "message_id": f"vcpus-{hour}", "meter": "vcpus", "type": "gauge", "unit": "vcpu", "volume": 1.0,
            "project_id": "p1", "user_id": "u1", "resource_id": "vm1", "timestamp": at,
            "metadata": {"flavor_name": "m1.small"}, "source": "openstack",
        })  # fmt: skip
    store = store_for(settings)
    store_records(store, rows)
    rate_window(settings, RATED_DAY, [internal_rater(settings)])


def costs(settings: Settings) -> dict[str, Decimal]:
    c = tables.cost_lines.c
    with store_for(settings).engine.connect() as conn:
        rows = conn.execute(select(c.service, c.cost).where(c.charge_period_start == RATED_DAY.start)).all()
    return {service: Decimal(str(cost)).normalize() for service, cost in rows}


def marked(settings: Settings) -> list[dt.date]:
    with store_for(settings).engine.connect() as conn:
        return [_day(d) for d in conn.execute(select(tables.rerate_days.c.day)).scalars()]


def _day(value: Any) -> dt.date:
    return value if type(value) is dt.date else pd.Timestamp(value).date()


def test_an_inventory_change_marks_the_rated_days_it_alters_and_rate_pending_recomputes_them(
    any_settings: Settings,
) -> None:
    rated_cloud(any_settings)
    card = [internal_rater(any_settings)]
    assert costs(any_settings) == {"compute.vcpu": Decimal("0.504"), "compute.instance": Decimal(0)}

    store_resources(any_settings, resources(revision("vm1", T0, None)), "nova")  # the same inventory again
    assert marked(any_settings) == [] and rate_pending(any_settings, card) == []

    # Nova's flavor corrected: m1.large pays 0.01 per instance-hour. Only RATED has cost lines.
    store_resources(any_settings, resources(revision("vm1", T0, None, flavor_name="m1.large")), "nova")
    assert marked(any_settings) == [RATED]
    [rerated] = rate_pending(any_settings, card)
    assert rerated.window == RATED_DAY and marked(any_settings) == []
    assert costs(any_settings) == {"compute.vcpu": Decimal("0.504"), "compute.instance": Decimal("0.24")}

    # A deletion learned later: vm1 ended at noon, so the afternoon's readings no longer count.
    noon = dt.datetime.combine(RATED, dt.time(12))
    store_resources(any_settings, resources(revision("vm1", T0, None, flavor_name="m1.large", ended_at=noon)), "nova")
    assert marked(any_settings) == [RATED]
    rate_pending(any_settings, card)
    assert costs(any_settings) == {"compute.vcpu": Decimal("0.252"), "compute.instance": Decimal("0.12")}


def test_a_deletion_learned_later_marks_the_day_of_a_trailing_sample(any_settings: Settings) -> None:
    """vm9, unknown to the inventory, reports once just after midnight of RATED (billed: no
    inventory means it existed). Nova then says it was deleted the evening before: that trailing
    sample no longer counts, so RATED must be re-rated although the lifetime ends the day before."""
    store = store_for(any_settings)
    after_midnight = dt.datetime.combine(RATED, dt.time(0, 5))
    sample = {
        "message_id": "vm9-vcpus", "meter": "vcpus", "type": "gauge", "unit": "vcpu", "volume": 2.0,
        "project_id": "p1", "user_id": "u1", "resource_id": "vm9", "timestamp": after_midnight,
        "metadata": {"flavor_name": "m1.small"}, "source": "openstack",
    }  # fmt: skip
    store_records(store, [sample])
    card = [internal_rater(any_settings)]
    rate_window(any_settings, RATED_DAY, card)
    assert costs(any_settings)["compute.vcpu"] == Decimal("0.042")  # 2 vCPU x 1 h x 0.021

    deleted = after_midnight - dt.timedelta(minutes=15)
    store_resources(any_settings, resources(revision("vm9", T0, None, vcpus=2.0, ended_at=deleted)), "nova")
    assert marked(any_settings) == [RATED]
    rate_pending(any_settings, card)
    assert costs(any_settings).get("compute.vcpu", Decimal(0)) == 0


def test_inventory_changes_outside_the_rated_days_or_usage_mark_nothing(sqlite_settings: Settings) -> None:
    rated_cloud(sqlite_settings)
    # A resize after the rated day, a name rating never reads, another resource's lifetime after it.
    later = dt.datetime.combine(RATED, dt.time()) + dt.timedelta(days=2)
    store_resources(
        sqlite_settings,
        resources(
            revision("vm1", T0, later, name="renamed"),
            revision("vm1", later, None, flavor_name="m1.large"),
            revision("vm2", later, None, started_at=later),
        ),
        "nova",
    )
    assert marked(sqlite_settings) == []

    # With `usage.source: gnocchi` the inventory feeds no usage: nothing to re-rate.
    gnocchi = sqlite_settings.model_copy(
        update={"usage": sqlite_settings.usage.model_copy(update={"source": "gnocchi"})}
    )
    store_resources(gnocchi, resources(revision("vm1", T0, None, flavor_name="m1.xlarge")), "nova")
    assert marked(gnocchi) == []
