"""stackledger.airflow_support and the pieces the DAGs rely on, without running a DAG: the window
rules (empty data intervals included), where settings come from, how errors are classified, the
collect plan, project shards and the completeness check."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from stackledger import airflow_support as sl
from stackledger.collectors.base import Failure
from stackledger.errors import ConfigError, PricingError, SourceError, StoreError, TransientSourceError
from stackledger.pipeline.base import store_for
from stackledger.pipeline.collect import CollectResult, Shard
from stackledger.pipeline.completeness import check_complete
from stackledger.settings import Settings, load_settings
from stackledger.store import tables
from stackledger.window import Window
from tests.stored_samples import store_records

UTC = dt.UTC
D = dt.datetime


# ---------------------------------------------------------------- the window


@pytest.mark.parametrize(
    ("period", "start", "end", "expected"),
    [
        ("hour", D(2026, 10, 14, 9, tzinfo=UTC), D(2026, 10, 14, 10, tzinfo=UTC),
         (D(2026, 10, 14, 9), D(2026, 10, 14, 10))),
        # an aware interval in another zone is the same instants in UTC
        ("hour", D(2026, 10, 14, 11, tzinfo=dt.timezone(dt.timedelta(hours=2))),
         D(2026, 10, 14, 12, tzinfo=dt.timezone(dt.timedelta(hours=2))), (D(2026, 10, 14, 9), D(2026, 10, 14, 10))),
        # a manual run's interval off the hour: the whole hours it ends
        ("hour", D(2026, 10, 14, 9, 30, tzinfo=UTC), D(2026, 10, 14, 10, 30, tzinfo=UTC),
         (D(2026, 10, 14, 9), D(2026, 10, 14, 10))),
        ("hour", D(2026, 10, 14, 10, 5, tzinfo=UTC), D(2026, 10, 14, 10, 40, tzinfo=UTC),
         (D(2026, 10, 14, 9), D(2026, 10, 14, 10))),
        # a three-day interval stays three days (collect cuts it into checkpointed windows)
        ("hour", D(2026, 10, 14, tzinfo=UTC), D(2026, 10, 17, tzinfo=UTC), (D(2026, 10, 14), D(2026, 10, 17))),
        ("day", D(2026, 10, 14, 2, tzinfo=UTC), D(2026, 10, 15, 2, tzinfo=UTC), (D(2026, 10, 14), D(2026, 10, 15))),
        ("month", D(2026, 10, 2, 6, tzinfo=UTC), D(2026, 11, 2, 6, tzinfo=UTC), (D(2026, 10, 1), D(2026, 11, 1))),
    ],
)  # fmt: skip
def test_window_from_a_data_interval(period: str, start: D, end: D, expected: tuple[D, D]) -> None:
    assert sl.window_for(period, start=start, end=end) == Window(*expected)


@pytest.mark.parametrize(
    ("period", "instant", "expected"),
    [
        ("hour", D(2026, 10, 14, 10, tzinfo=UTC), (D(2026, 10, 14, 9), D(2026, 10, 14, 10))),
        ("hour", D(2026, 10, 14, 10, 20, tzinfo=UTC), (D(2026, 10, 14, 9), D(2026, 10, 14, 10))),
        ("hour", D(2026, 11, 1, 0, 0, tzinfo=UTC), (D(2026, 10, 31, 23), D(2026, 11, 1))),
        ("day", D(2026, 10, 15, 2, tzinfo=UTC), (D(2026, 10, 14), D(2026, 10, 15))),
        ("day", D(2026, 3, 1, 2, tzinfo=UTC), (D(2026, 2, 28), D(2026, 3, 1))),
        ("month", D(2026, 11, 2, 6, tzinfo=UTC), (D(2026, 10, 1), D(2026, 11, 1))),
        ("month", D(2026, 1, 2, 6, tzinfo=UTC), (D(2025, 12, 1), D(2026, 1, 1))),
    ],
)
def test_an_empty_data_interval_takes_the_period_before_the_logical_date(period: str, instant: D,
                                                                        expected: tuple[D, D]) -> None:  # fmt: skip
    """Airflow 3: manual runs, dag.test() and CronTriggerTimetable runs without `interval`."""
    assert sl.window_for(period, start=instant, end=instant, logical_date=instant) == Window(*expected)
    assert sl.window_for(period, start=None, end=None, logical_date=instant) == Window(*expected)


def test_a_run_without_logical_date_uses_run_after() -> None:
    run_after = D(2026, 10, 14, 10, 20, tzinfo=UTC)
    window = sl.window_for("hour", start=None, end=None, logical_date=None, run_after=run_after)
    assert window == Window(D(2026, 10, 14, 9), D(2026, 10, 14, 10))


def test_params_name_the_window_of_a_manual_run() -> None:
    params = {"start": "2026-10-14T00:00:00Z", "end": "2026-10-17"}
    now = D(2026, 11, 20, tzinfo=UTC)
    assert sl.window_for("hour", start=now, end=now, params=params) == Window(D(2026, 10, 14), D(2026, 10, 17))
    with pytest.raises(ConfigError, match="both params start and end"):
        sl.window_for("hour", start=now, end=now, params={"start": "2026-10-14", "end": None})


def test_no_instant_at_all_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="no data interval, logical date or run_after"):
        sl.window_for("day", start=None, end=None)
    with pytest.raises(ConfigError, match="period 'week'"):
        sl.window_for("week", start=None, end=None, run_after=D(2026, 1, 1, tzinfo=UTC))


# ---------------------------------------------------------------- settings


def test_the_variable_may_hold_yaml_text(tmp_path: Path) -> None:
    text = f"database:\n  url: sqlite:///{tmp_path / 'a.db'}\nairflow:\n  shards: 4\n"
    settings = sl.settings_from_variable(text, {})
    assert settings.database.url.endswith("a.db") and settings.airflow.shards == 4
    assert settings.source_file == "Airflow Variable stackledger_config"
    # the environment still wins over the Variable, as it does over a file
    assert sl.settings_from_variable(text, {"STACKLEDGER__AIRFLOW__SHARDS": "2"}).airflow.shards == 2


def test_the_variable_may_name_a_file_and_without_it_stackledger_config_counts(tmp_path: Path) -> None:
    path = tmp_path / "cloud.yaml"
    path.write_text("airflow: {shards: 3}\n")
    assert sl.settings_from_variable(str(path), {}).airflow.shards == 3
    assert sl.settings_from_variable(None, {"STACKLEDGER_CONFIG": str(path)}).airflow.shards == 3
    assert sl.settings_from_variable("  ", {}).airflow.shards == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("airflow: {shards: 0}\n", r"file Airflow Variable stackledger_config, key airflow.shards"),
        ("rate_card: cards/ours.yaml\n", r"rate_card: a relative path has no file to be relative to here"),
        ("[1, 2]\n", "expected YAML sections"),
        ("a: [unclosed\n", "neither a file path nor valid YAML"),
    ],
)
def test_a_bad_variable_is_a_config_error_naming_it(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        sl.settings_from_variable(text, {})


def test_database_url_from_an_airflow_connection() -> None:
    fields: dict[str, Any] = {"host": "db.example", "login": "ledger", "password": "p@ss/word", "port": 5432,
                              "schema": "stackledger", "extra": {}}  # fmt: skip
    url = sl.database_url("postgres", **fields)
    assert url == "postgresql+psycopg://ledger:p%40ss%2Fword@db.example:5432/stackledger"
    assert load_settings(None, {"STACKLEDGER__DATABASE__URL": url}).database.url == url
    assert sl.database_url("sqlite", **{**fields, "host": "/var/lib/sl.db"}) == "sqlite:////var/lib/sl.db"
    given = {**fields, "extra": {"sqlalchemy_url": "postgresql+psycopg://x@y/z"}}
    assert sl.database_url("generic", **given) == "postgresql+psycopg://x@y/z"
    with pytest.raises(ConfigError, match="type 'mysql' is not postgres or sqlite"):
        sl.database_url("mysql", **fields)


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "error",
    [ConfigError("bad", key="rate_card"), PricingError("no price for compute.vcpu", service="compute.vcpu"),
     StoreError("not migrated"), SourceError("403 forbidden", source="gnocchi")],
)  # fmt: skip
def test_terminal_errors_fail_the_task_without_retry(airflow_home: Path, error: Exception) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    expected = f"{type(error).__name__}: .*terminal, not retried"
    with pytest.raises(AirflowFailException, match=expected) as raised, sl.terminal_errors():
        raise error
    assert raised.value.__cause__ is error


@pytest.mark.parametrize("error", [TransientSourceError("503", source="gnocchi"), ConnectionResetError("reset")])
def test_transient_and_unknown_errors_are_left_to_airflow_retries(airflow_home: Path, error: Exception) -> None:
    with pytest.raises(type(error)), sl.terminal_errors():
        raise error


def test_collected_classifies_failed_windows() -> None:
    window = Window(D(2026, 10, 14, 9), D(2026, 10, 14, 10))
    ok = CollectResult("gnocchi", window, usage_rows=5, requests=3)
    flaky = CollectResult("gnocchi", window, failures=[Failure("meter vcpus", "503", transient=True)])
    broken = CollectResult("gnocchi", window, failures=[Failure("meter memory", "404 no such metric")])
    assert sl.collected([ok]) == {
        "sources": ["gnocchi"], "shard": None, "windows": 1, "stored": 1, "skipped": 0, "open": 0, "usage_rows": 5,
        "resources": 0, "projects": 0, "requests": 3,
    }  # fmt: skip
    with pytest.raises(TransientSourceError, match="1 transient failure"):
        sl.collected([ok, flaky])
    with pytest.raises(SourceError, match="not all transient") as raised:
        sl.collected([flaky, broken])
    assert not raised.value.transient


# ---------------------------------------------------------------- the collect plan and shards


def settings_with(**env: str) -> Settings:
    return load_settings(None, {f"STACKLEDGER__{k.upper()}": v for k, v in env.items()})


def test_collect_plan_defaults_to_inventory_plus_a_collected_usage_source() -> None:
    assert sl.collect_plan(settings_with()) == {"projects": ["keystone"], "inventory": ["nova", "cinder"], "shards": []}
    plan = sl.collect_plan(settings_with(usage__source="gnocchi", airflow__shards="3"))
    assert plan["shards"] == [{"source": "gnocchi", "index": i, "count": 3} for i in range(3)]
    assert sl.collect_plan(settings_with(airflow__sources="[]")) == {"projects": [], "inventory": [], "shards": []}
    assert "synthetic" not in sl.planned_sources(settings_with(airflow__sources="[all]"))
    with pytest.raises(ConfigError, match="unknown source 'swift'"):
        sl.collect_plan(settings_with(airflow__sources="[swift]"))


@pytest.mark.parametrize("count", [1, 2, 3, 8])
def test_every_project_belongs_to_exactly_one_shard(count: int) -> None:
    ids = [f"{n:032x}" for n in range(500)] + [None]
    owners = [[k for k in range(count) if Shard(k, count).owns(p)] for p in ids]
    assert all(len(found) == 1 for found in owners)
    if count > 1:  # and they spread
        assert len({found[0] for found in owners}) == count
    assert Shard(0, count).checkpoint("gnocchi") == ("gnocchi" if count == 1 else f"gnocchi#0/{count}")
    with pytest.raises(ConfigError):
        Shard(count, count)


# ---------------------------------------------------------------- completeness


def test_completeness_counts_source_and_shard_checkpoints(sqlite_settings: Settings) -> None:
    store = store_for(sqlite_settings)
    day = Window(D(2026, 10, 14), D(2026, 10, 15))

    def mark(source: str, start: int, end: int) -> None:
        row = {"source": source, "window_start": D(2026, 10, 14, start), "window_end": D(2026, 10, 14) +
               dt.timedelta(hours=end), "rows": 1, "completed_at": D(2026, 10, 15)}  # fmt: skip
        with store.transaction() as conn:
            store.insert(conn, tables.checkpoints, [row])

    mark("gnocchi", 0, 10)  # hours 0-9 unsharded
    mark("gnocchi#0/2", 10, 24)  # hours 10-23: both shards of 2 …
    mark("gnocchi#1/2", 10, 20)  # … but shard 1 only to 20:00
    mark("gnocchi#0/3", 20, 24)  # one shard of 3 alone covers nothing
    mark("keystone", 0, 24)
    status = check_complete(sqlite_settings, day, ["gnocchi", "keystone", "nova"], rated=False)
    assert status.missing == {
        "gnocchi": (Window(D(2026, 10, 14, 20), D(2026, 10, 15)),),
        "keystone": (),
        "nova": (day,),
    }
    assert not status.complete
    assert "gnocchi not collected for 4 h" in status.describe() and "nova not collected for 24 h" in status.describe()
    mark("gnocchi#1/2", 20, 24)
    assert check_complete(sqlite_settings, day, ["gnocchi", "keystone"], rated=False).complete


def test_completeness_wants_rated_days_and_no_pending_rerate(sqlite_settings: Settings) -> None:
    store = store_for(sqlite_settings)
    month = Window.month("2026-10")
    with store.transaction() as conn:
        store.insert(conn, tables.rerate_days, [{"day": dt.date(2026, 10, 3), "marked_at": D(2026, 10, 20)}])
    store_records(store, [{
        "message_id": "m1", "meter": "vcpus", "type": "gauge", "unit": "vcpu", "volume": 1.0, "project_id": "p",
        "resource_id": "r", "timestamp": D(2026, 10, 5, 3), "metadata": {},
    }])  # fmt: skip
    status = check_complete(sqlite_settings, month, [])
    assert status.pending_rerate == (dt.date(2026, 10, 3),)
    assert status.unrated == (dt.date(2026, 10, 5),)
    assert "1 day(s) wait for re-rating (2026-10-03)" in status.describe()
    assert "1 day(s) have usage but no cost lines (2026-10-05)" in status.describe()
    assert check_complete(sqlite_settings, month, [], rated=False).complete
