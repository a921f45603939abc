"""`stackledger demo` end to end: the synthetic months through the real pipeline on SQLite and PostgreSQL.

The SQLite run goes through the CLI exactly as a user types it (its own fresh out/demo.db); the
PostgreSQL run calls `run_demo` with the test database. Both must give the same CSV byte for
byte, and the usage table must reproduce the generator's ground truth in each of the three
months (August and September 2026 before the reported October).
"""

from __future__ import annotations

import re
import subprocess
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select

from stackledger.cli import main
from stackledger.collectors import synthetic
from stackledger.pipeline import store_for
from stackledger.pipeline.demo import SAMPLES_FILE, fresh_sqlite, run_demo
from stackledger.settings import Settings
from stackledger.store import tables
from stackledger.window import Window
from tests.conftest import settings_for

MONTH = "2026-10"
WINDOW = Window.month(MONTH)


def instance_hours(settings: Settings) -> pd.Series:
    usage = tables.usage
    query = (
        select(usage.c.project_id, func.sum(usage.c.consumed_quantity).label("hours"))
        .where(usage.c.service == "compute.instance")
        .where(usage.c.charge_period_start >= WINDOW.start, usage.c.charge_period_start < WINDOW.end)
        .group_by(usage.c.project_id)
    )
    return store_for(settings).frame(query).set_index("project_id")["hours"].astype(float).sort_index()


def expected_instance_hours(truth: pd.DataFrame) -> pd.Series:
    hours = truth[truth["service"] == "compute.instance"]
    return hours.groupby("project_id")["consumed_quantity"].sum().sort_index()


def usage_by_resource(settings: Settings, window: Window) -> pd.Series:
    usage = tables.usage
    query = (
        select(usage.c.resource_id, usage.c.service, func.sum(usage.c.consumed_quantity).label("quantity"))
        .where(usage.c.charge_period_start >= window.start, usage.c.charge_period_start < window.end)
        .group_by(usage.c.resource_id, usage.c.service)
    )
    return store_for(settings).frame(query).set_index(["resource_id", "service"])["quantity"].astype(float)


def assert_usage_matches_the_truth(settings: Settings, cloud: synthetic.SyntheticCloud) -> None:
    """Every resource and service of the cloud's month equals the ground truth; resources resized
    or extended mid-month are within 1% (DESIGN's hourly mean is not time-weighted in the hour
    of the change)."""
    truth = synthetic.expected_usage(cloud)
    changed = {r.resource_id for r in cloud.resources if len(r.revisions) > 1}
    expected = truth.groupby(["resource_id", "service"])["consumed_quantity"].sum()
    measured = usage_by_resource(settings, cloud.window)
    assert sorted(measured.index) == sorted(expected.index)
    for (resource_id, service), value in expected.items():
        got = measured[(resource_id, service)]
        tolerance = 0.01 * value if resource_id in changed else 1e-9 * max(1.0, value)
        assert abs(got - value) <= tolerance, f"{cloud.window.label} {resource_id} {service}: {got}, truth {value}"


def internal_total(settings: Settings, window: Window = WINDOW) -> Decimal:
    lines = tables.cost_lines
    query = select(func.sum(lines.c.cost)).where(
        lines.c.price_book == "internal", lines.c.charge_period_start >= window.start,
        lines.c.charge_period_start < window.end,
    )  # fmt: skip
    with store_for(settings).engine.connect() as conn:
        return Decimal(str(conn.execute(query).scalar_one()))


def pdf_text(path: Path) -> str:
    return subprocess.run(["pdftotext", str(path), "-"], check=True, capture_output=True, text=True).stdout


def test_demo_on_sqlite_via_the_cli_and_on_postgres_agree_with_the_truth(
    pg_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # ---- SQLite, as a user runs it: no config, no database URL → its own out/demo.db
    monkeypatch.delenv("STACKLEDGER_CONFIG", raising=False)
    monkeypatch.delenv("STACKLEDGER__DATABASE__URL", raising=False)
    sqlite_out = tmp_path / "sqlite-out"
    assert main(["demo", "--out", str(sqlite_out), "--month", MONTH]) == 0
    printed = capsys.readouterr().out
    assert "SYNTHETIC" in printed
    sqlite_settings = settings_for(f"sqlite:///{(sqlite_out / 'demo.db').resolve()}", tmp_path)
    sqlite_paths = [Path(line.split()[1]) for line in printed.splitlines() if line.startswith("wrote ")]
    names = [SAMPLES_FILE, f"stackledger-{MONTH}-summary.pdf", f"stackledger-{MONTH}.csv"]
    assert [p.name for p in sqlite_paths] == names
    assert all(p.is_file() and p.stat().st_size > 0 for p in sqlite_paths)

    # ---- PostgreSQL, through the pipeline function
    pg_out = tmp_path / "pg-out"
    pg_paths = run_demo(pg_settings, pg_out, month=MONTH)
    assert [p.name for p in pg_paths] == [p.name for p in sqlite_paths]

    # ---- the same bytes on both databases
    assert sqlite_paths[2].read_bytes() == pg_paths[2].read_bytes()
    assert sqlite_paths[1].read_bytes() == pg_paths[1].read_bytes()  # fixed PDF metadata (DESIGN §8)
    assert sqlite_paths[0].read_bytes() == pg_paths[0].read_bytes()  # the generator is deterministic

    # ---- instance-hours per project equal the generator's ground truth, and so does the rest,
    # in October exactly as when it was simulated alone, and in the two months before it
    clouds = synthetic.generate_months(MONTH, count=3)
    assert [cloud.window for cloud in clouds] == [WINDOW.previous_month().previous_month(), WINDOW.previous_month(),
                                                  WINDOW]  # fmt: skip
    hours = expected_instance_hours(synthetic.expected_usage(synthetic.generate_cloud(MONTH)))
    for settings in (sqlite_settings, pg_settings):
        measured = instance_hours(settings)
        assert list(measured.index) == list(hours.index)
        assert (measured - hours).abs().max() <= 1e-9, (measured - hours).abs().sort_values().tail()
        for cloud in clouds:
            assert_usage_matches_the_truth(settings, cloud)

    # ---- the grand total printed is the database's, to the cent; the PDF says it is synthetic
    match = re.search(r"grand total \S+ \(internal rate card\): (\w{3}) ([\d,]+\.\d\d)", printed)
    assert match, printed
    total = internal_total(sqlite_settings)
    assert Decimal(match.group(2).replace(",", "")) == total.quantize(Decimal("0.01"))
    assert internal_total(pg_settings) == total
    assert f"{total.quantize(Decimal('0.01')):,}" == "2,848.41"  # October alone, as before the months before it
    for cloud in clouds[:-1]:
        earlier = internal_total(sqlite_settings, cloud.window)
        assert earlier > 0 and internal_total(pg_settings, cloud.window) == earlier
        assert (
            f"earlier month {cloud.window.label} (internal rate card): EUR {earlier.quantize(Decimal('0.01')):,}"
            in printed
        )
    assert "synthetic" in pdf_text(sqlite_paths[1]).lower()
    assert "synthetic" in pdf_text(pg_paths[1]).lower()


def test_fresh_sqlite_starts_the_demo_database_empty_even_when_already_open(tmp_path: Path) -> None:
    settings = settings_for(f"sqlite:///{tmp_path / 'demo.db'}", tmp_path)
    store = store_for(settings)  # this process holds a pooled connection to the old file
    with store.transaction() as conn:
        store.insert(conn, tables.rerate_days, [{"day": WINDOW.start.date(), "marked_at": WINDOW.start}])
    fresh_sqlite(settings)
    with store_for(settings).engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(tables.rerate_days)).scalar_one() == 0
