"""`stackledger.pipeline.collect` and `stackledger collect` on SQLite and PostgreSQL, with a stub
collector (the real Gnocchi one is tested against the real server in tests/integration).

A window is stored whole or not at all; checkpoints of any window size count; a window too
recent to be settled is stored but not checkpointed; a source's partial inventory is upserted by
revision; the pipeline turns a collector's hourly readings into usage; rating reads only the
usage source the settings name.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import func, select

from stackledger.cli import main
from stackledger.collectors.base import EVERY_PROJECT, Collected, Failure, Scope
from stackledger.errors import ConfigError
from stackledger.pipeline import collect as collect_step
from stackledger.pipeline.base import store_for
from stackledger.pipeline.collect import Shard, collect_window, windows
from stackledger.pipeline.inventory import store_projects
from stackledger.pipeline.rate import internal_rater, rate_pending, rate_window
from stackledger.pipeline.usage import load_usage
from stackledger.schema import PROJECT_COLUMNS, RESOURCE_COLUMNS, SAMPLE_COLUMNS, USAGE_COLUMNS
from stackledger.settings import Settings
from stackledger.store import tables
from stackledger.window import Window
from tests.stored_samples import store_records

DAY = Window(dt.datetime(2026, 10, 14), dt.datetime(2026, 10, 15))
LATER = dt.datetime(2026, 11, 1)  # "now" for the tests: every window in October is settled


def usage_frame(window: Window, source: str = "stub", quantity: float = 1.0) -> pd.DataFrame:
    hours = pd.date_range(window.start, window.end, freq="h", inclusive="left")
    frame = pd.DataFrame({
        "charge_period_start": hours, "charge_period_end": hours + pd.Timedelta(hours=1), "project_id": "p1",
        "resource_id": "vm-1", "resource_type": "instance", "service": "compute.vcpu",
        "consumed_quantity": quantity, "consumed_unit": "vCPU-hour", "flavor_name": "m1.small", "vcpus": 1.0,
        "ram_mib": 2048.0, "volume_type": None, "region": "RegionOne", "source": source,
    })  # fmt: skip
    return frame.astype(USAGE_COLUMNS)


def readings(window: Window, quantity: float = 1.0) -> pd.DataFrame:
    """A source's hourly vCPU readings of vm-1 (m1.small): one compute.vcpu and one compute.instance
    usage row per hour once the pipeline has turned them into usage."""
    hours = pd.date_range(window.start, window.end, freq="h", inclusive="left") + pd.Timedelta(minutes=30)
    frame = pd.DataFrame({
        "message_id": [f"vcpus-{hour}" for hour in hours], "meter": "vcpus", "type": "gauge", "unit": "vcpu",
        "volume": quantity, "project_id": "p1", "user_id": None, "resource_id": "vm-1", "timestamp": hours,
        "metadata": [{"flavor_name": "m1.small"}] * len(hours), "source": "openstack",
    })  # fmt: skip
    return frame.astype({"volume": "float64", "timestamp": "datetime64[ns]"})[list(SAMPLE_COLUMNS)]


def revision(valid_from: str, valid_to: str | None, flavor: str) -> dict[str, Any]:
    return {
        "resource_id": "vm-1", "resource_type": "instance", "project_id": "p1", "name": "vm", "region": None,
        "flavor_name": flavor, "vcpus": 1.0, "ram_mib": 2048.0, "disk_gib": None, "volume_type": None,
        "size_gib": None, "started_at": pd.Timestamp("2026-10-01"), "ended_at": pd.NaT,
        "valid_from": pd.Timestamp(valid_from), "valid_to": pd.Timestamp(valid_to) if valid_to else pd.NaT,
    }  # fmt: skip


class Stub:
    """Answers each window from a queue of outcomes: "ok", "fail" or a Collected."""

    name = "stub"

    def __init__(self, *outcomes: Any) -> None:
        self.outcomes = list(outcomes)
        self.calls: list[Window] = []

    def collect(self, window: Window, scope: Scope = EVERY_PROJECT) -> Collected:
        self.calls.append(window)
        outcome = self.outcomes.pop(0) if self.outcomes else "ok"
        if isinstance(outcome, Collected):
            return outcome
        if outcome == "fail":
            return Collected(readings=readings(window, quantity=9.0), requests=3,
                             failures=[Failure("meter vcpus", "gnocchi: 503", transient=True)])  # fmt: skip
        return Collected(readings=readings(window), requests=3)


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stub]:
    made = Stub()
    monkeypatch.setitem(collect_step.COLLECTORS, "stub", "tests.e2e.test_collect:_factory")
    monkeypatch.setattr(collect_step, "make_collector", lambda settings, source: made)
    yield made


def _factory(settings: Settings, history: Any) -> Stub:  # the registry's "module:factory" form
    return Stub()


def count(settings: Settings, table: Any, *where: Any) -> int:
    with store_for(settings).engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def test_windows_are_utc_days_or_hours_clipped_to_the_range() -> None:
    span = Window(dt.datetime(2026, 10, 14, 22), dt.datetime(2026, 10, 16, 3))
    assert [(w.start.hour, w.hours) for w in windows(span, "day")] == [(22, 2), (0, 24), (0, 3)]
    assert len(windows(span, "hour")) == 29
    with pytest.raises(ConfigError, match="whole hour"):
        windows(Window(dt.datetime(2026, 10, 14, 22, 30), dt.datetime(2026, 10, 15)), "day")


def vcpu_hours(settings: Settings, window: Window) -> pd.Series:
    usage = load_usage(settings, window)
    return usage[usage["service"] == "compute.vcpu"]["consumed_quantity"]


def test_a_window_is_stored_whole_or_not_at_all(any_settings: Settings, stub: Stub) -> None:
    assert collect_window(any_settings, "stub", DAY, collector=stub, now=LATER).stored
    assert count(any_settings, tables.usage) == 48 and count(any_settings, tables.checkpoints) == 1
    usage = load_usage(any_settings, DAY)  # the pipeline made usage of the readings, labelled with the source
    assert set(usage["source"]) == {"stub"} and set(usage["flavor_name"]) == {"m1.small"}

    stub.outcomes = ["fail"]  # a forced re-run that fails keeps what the last complete run stored
    result = collect_window(any_settings, "stub", DAY, force=True, collector=stub, now=LATER)
    assert not result.complete and not result.stored and result.usage_rows == 0
    assert vcpu_hours(any_settings, DAY).eq(1.0).all() and len(vcpu_hours(any_settings, DAY)) == 24

    other = Window(DAY.end, DAY.end + dt.timedelta(days=1))
    stub.outcomes = ["fail"]
    collect_window(any_settings, "stub", other, collector=stub, now=LATER)
    assert count(any_settings, tables.usage, tables.usage.c.charge_period_start >= other.start) == 0
    assert count(any_settings, tables.checkpoints) == 1  # unmoved: the failed day is collected again next run
    assert collect_window(any_settings, "stub", other, collector=stub, now=LATER).stored
    assert count(any_settings, tables.checkpoints) == 2


def test_checkpoints_of_any_size_count_and_recent_windows_stay_open(any_settings: Settings, stub: Stub) -> None:
    for hour in windows(DAY, "hour"):
        collect_window(any_settings, "stub", hour, collector=stub, now=LATER)
    assert collect_window(any_settings, "stub", DAY, collector=stub, now=LATER).skipped  # covered by 24 hours
    assert len(stub.calls) == 24

    recent = Window(dt.datetime(2026, 10, 31, 23), LATER)  # ends 0 min before "now" < settle_minutes
    result = collect_window(any_settings, "stub", recent, collector=stub, now=LATER)
    assert result.open and result.stored and result.usage_rows == 2  # its vCPU-hour and its instance-hour
    assert not collect_window(any_settings, "stub", recent, collector=stub, now=LATER).skipped  # collected again
    later = LATER + dt.timedelta(hours=1)
    assert not collect_window(any_settings, "stub", recent, collector=stub, now=later).open
    assert collect_window(any_settings, "stub", recent, collector=stub, now=later).skipped


def test_partial_inventory_is_upserted_by_revision(any_settings: Settings, stub: Stub) -> None:
    def revisions(*rows: dict[str, Any]) -> Collected:
        resources = pd.DataFrame(list(rows)).astype(RESOURCE_COLUMNS)
        return Collected(resources=resources, resources_partial=True)

    resize, grow = "2026-10-14 10:30", "2026-10-15 08:00"
    stub.outcomes = [
        revisions(revision("2026-10-01", resize, "m1.small"), revision(resize, None, "m1.large")),
        revisions(revision(resize, grow, "m1.large"), revision(grow, None, "m1.xl")),
    ]
    collect_window(any_settings, "stub", DAY, collector=stub, now=LATER)
    collect_window(any_settings, "stub", Window(DAY.end, DAY.end + dt.timedelta(days=1)), collector=stub, now=LATER)
    stored = store_for(any_settings).frame(select(tables.resources).order_by(tables.resources.c.valid_from))
    assert list(stored["flavor_name"]) == ["m1.small", "m1.large", "m1.xl"]
    assert pd.Timestamp(stored["valid_to"].iloc[1]) == pd.Timestamp("2026-10-15 08:00")  # closed by the later window


def test_collect_command_reports_failures_and_unknown_sources(
    sqlite_settings: Settings, stub: Stub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    tmp_path: Any,
) -> None:  # fmt: skip
    config = tmp_path / "stackledger.yaml"
    config.write_text(f"database: {{url: '{sqlite_settings.database.url}'}}\n")
    base = ["--config", str(config), "collect", "--start", "2026-10-14", "--end", "2026-10-16"]

    assert main([*base, "--source", "swift"]) == 2
    valid = ", ".join([*collect_step.COLLECTORS, "all"])
    assert f"unknown source 'swift'; valid: {valid}" in capsys.readouterr().err

    stub.outcomes = ["ok", "fail"]
    assert main([*base, "--source", "stub"]) == 1
    out, err = capsys.readouterr()
    assert "stub: 1 windows stored (48 usage rows" in out and "1 failed" in out
    assert "stackledger: stub 2026-10-15T00:00:00/2026-10-16T00:00:00: meter vcpus (transient): gnocchi: 503" in err

    assert main([*base, "--source", "stub"]) == 0
    assert "1 windows stored (48 usage rows, 0 resource revisions, 0 projects), 1 already stored" in (
        capsys.readouterr().out
    )
    assert [w.start.day for w in stub.calls] == [14, 15, 15]


def test_rating_reads_only_the_configured_usage_source(sqlite_settings: Settings) -> None:
    store = store_for(sqlite_settings)
    with store.transaction() as conn:  # the same hours seen twice: from samples and from Gnocchi
        for source, quantity in (("ceilometer", 1.0), ("gnocchi", 2.0)):
            rows = usage_frame(DAY, source, quantity).astype(object).where(lambda f: f.notna(), None)
            rows["charge_period_start"] = usage_frame(DAY)["charge_period_start"].dt.to_pydatetime()
            rows["charge_period_end"] = usage_frame(DAY)["charge_period_end"].dt.to_pydatetime()
            store.insert(conn, tables.usage, rows.to_dict("records"))

    usage = sqlite_settings.usage.model_copy(update={"source": "gnocchi"})
    gnocchi = sqlite_settings.model_copy(update={"usage": usage})
    result = rate_window(gnocchi, DAY, [internal_rater(gnocchi)])
    assert result.usage_rows == 24  # counted, not recomputed from (absent) samples
    assert count(gnocchi, tables.usage) == 48  # and nothing written: both sources' rows as they were
    lines = store.frame(select(tables.cost_lines))
    assert list(lines["consumed_quantity"]) == [48.0]  # Gnocchi's 2 vCPU-h × 24, Ceilometer's rows not added
    assert Decimal(str(lines["cost"].iloc[0])) == Decimal("1.008")  # 48 × 0.0210


def test_a_recollect_that_changes_rated_usage_marks_the_day_for_rerating(any_settings: Settings, stub: Stub) -> None:
    usage = any_settings.usage.model_copy(update={"source": "gnocchi"})
    settings = any_settings.model_copy(update={"usage": usage})
    card = [internal_rater(settings)]

    def recollect(quantity: float) -> set[dt.date]:
        stub.outcomes = [Collected(readings=readings(DAY, quantity))]
        result = collect_window(settings, "gnocchi", DAY, force=True, collector=stub, now=LATER)
        assert result.stored
        return result.rerate_days

    def costs() -> list[Decimal]:
        c = tables.cost_lines.c
        query = select(c.cost).where(c.service == "compute.vcpu")
        return [Decimal(str(cost)) for cost in store_for(settings).frame(query)["cost"]]

    assert recollect(1.0) == set()  # collected for the first time: nothing rated yet
    rate_window(settings, DAY, card)
    assert costs() == [Decimal("0.504")]  # 24 vCPU-h × 0.0210

    assert recollect(1.0) == set()  # the same data again: nothing to re-rate
    assert count(settings, tables.rerate_days) == 0 and rate_pending(settings, card) == []

    assert recollect(2.0) == {DAY.start.date()}  # Gnocchi's data changed after the day was rated
    assert count(settings, tables.rerate_days) == 1
    [rerated] = rate_pending(settings, card)
    assert rerated.window == DAY and costs() == [Decimal("1.008")]
    assert count(settings, tables.rerate_days) == 0


def test_a_recollect_of_a_source_rating_does_not_read_marks_nothing(sqlite_settings: Settings, stub: Stub) -> None:
    usage = sqlite_settings.usage.model_copy(update={"source": "gnocchi"})
    gnocchi = sqlite_settings.model_copy(update={"usage": usage})
    stub.outcomes = [Collected(readings=readings(DAY, 1.0))]
    collect_window(gnocchi, "gnocchi", DAY, collector=stub, now=LATER)
    rate_window(gnocchi, DAY, [internal_rater(gnocchi)])  # the day is rated (from Gnocchi's usage)

    stub.outcomes = [Collected(readings=readings(DAY, 2.0))]  # but now rating reads ceilometer
    result = collect_window(sqlite_settings, "gnocchi", DAY, force=True, collector=stub, now=LATER)
    assert result.stored and result.rerate_days == set()
    assert count(sqlite_settings, tables.rerate_days) == 0


def test_a_nova_recollect_that_changes_a_flavor_marks_the_rated_day(any_settings: Settings, stub: Stub) -> None:
    """`usage.source: ceilometer` (the default) computes usage from samples and the inventory, so a
    re-collect of Nova whose revisions differ marks the rated days they change."""
    card = [internal_rater(any_settings)]
    samples = [
        {"message_id": f"vcpus-{hour}", "meter": "vcpus", "type": "gauge", "unit": "vcpu", "volume": 1.0,
         "project_id": "p1", "user_id": "u1", "resource_id": "vm-1", "timestamp": DAY.start + dt.timedelta(hours=hour),
         "metadata": {}, "source": "openstack"}
        for hour in range(24)
    ]  # fmt: skip
    store = store_for(any_settings)
    store_records(store, samples)

    def recollect(flavor: str) -> set[dt.date]:
        stub.outcomes = [
            Collected(resources=pd.DataFrame([revision("2026-10-01", None, flavor)]).astype(RESOURCE_COLUMNS))
        ]
        result = collect_window(any_settings, "nova", DAY, force=True, collector=stub, now=LATER)
        assert result.stored
        return result.rerate_days

    def instance_cost() -> Decimal:
        c = tables.cost_lines.c
        query = select(c.cost).where(c.service == "compute.instance")
        return Decimal(str(store.frame(query)["cost"].iloc[0]))

    assert recollect("m1.small") == set()  # nothing rated yet
    rate_window(any_settings, DAY, card)
    assert instance_cost() == 0
    assert recollect("m1.small") == set() and count(any_settings, tables.rerate_days) == 0  # unchanged
    assert recollect("m1.large") == {DAY.start.date()}  # a corrected flavor: the day is marked
    [rerated] = rate_pending(any_settings, card)
    assert rerated.window == DAY and instance_cost() == Decimal("0.24")  # 24 instance-h × 0.0100


# ---------------------------------------------------------------- project shards and their scope


def two_projects(window: Window) -> pd.DataFrame:
    """vm-1's readings in p1 and vm-2's (the same, renamed) in p2."""
    one = readings(window)
    two = one.assign(message_id=one["message_id"] + "-2", resource_id="vm-2", project_id="p2")
    return pd.concat([one, two], ignore_index=True)


def test_a_shard_asks_for_its_known_projects_and_new_ones_and_keeps_only_its_own(
    any_settings: Settings, stub: Stub
) -> None:
    store_projects(any_settings, pd.DataFrame([{"project_id": p, "name": p, "tags": []} for p in ("p1", "p2")],
                                              columns=list(PROJECT_COLUMNS), dtype=object))  # fmt: skip
    store = store_for(any_settings)
    first = next(s for s in (Shard(0, 2), Shard(1, 2)) if s.owns("p1"))
    other = Shard(1 - first.index, 2)
    assert not first.owns("p2"), "p1 and p2 must fall in different shards for this test"

    scope = collect_step.source_scope(any_settings, store, "synthetic", first)
    assert scope == Scope(projects=("p1",), unknown_besides=("p1", "p2"))
    assert scope.asks("p1") and scope.asks("p-new") and not scope.asks("p2")

    seen: list[Scope] = []

    class Recording(Stub):
        def collect(self, window: Window, scope: Scope = EVERY_PROJECT) -> Collected:
            seen.append(scope)
            return Collected(readings=two_projects(window))  # a source that answers more than asked

    for shard in (first, other):
        result = collect_window(any_settings, "synthetic", DAY, collector=Recording(), now=LATER, shard=shard)
        assert result.stored and result.usage_rows == 48  # its own project's vCPU- and instance-hours only
    assert seen[0] == scope and seen[1].projects == ("p2",)
    usage = load_usage(any_settings, DAY)
    assert sorted(usage.groupby("project_id")["resource_id"].first().items()) == [("p1", "vm-1"), ("p2", "vm-2")]
    assert len(usage) == 96  # both shards together: every row once
    assert {key for key, *_ in checkpoint_rows(any_settings)} == {first.checkpoint("synthetic"),
                                                                    other.checkpoint("synthetic")}  # fmt: skip


def test_a_configured_project_filter_is_the_scope_and_the_only_ask_of_a_shard(sqlite_settings: Settings) -> None:
    section = sqlite_settings.gnocchi.model_copy(update={"projects": ["p1"]})
    settings = sqlite_settings.model_copy(update={"gnocchi": section})
    store = store_for(settings)
    assert collect_step.source_scope(settings, store, "gnocchi", None) == Scope(projects=("p1",))
    assert collect_step.source_scope(sqlite_settings, store, "gnocchi", None) == EVERY_PROJECT
    owner = next(s for s in (Shard(0, 2), Shard(1, 2)) if s.owns("p1"))
    assert collect_step.source_scope(settings, store, "gnocchi", owner) == Scope(projects=("p1",))
    assert collect_step.source_scope(settings, store, "gnocchi", Shard(1 - owner.index, 2)) is None  # nothing to ask
    with pytest.raises(ConfigError, match="source 'nova' cannot be sharded by project; shardable: gnocchi, synthetic"):
        collect_step.source_scope(settings, store, "nova", owner)


def checkpoint_rows(settings: Settings) -> list[tuple[Any, ...]]:
    with store_for(settings).engine.connect() as conn:
        return [tuple(row) for row in conn.execute(select(tables.checkpoints.c.source, tables.checkpoints.c.rows))]
