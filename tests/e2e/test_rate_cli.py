"""`stackledger rate` end to end on SQLite and PostgreSQL: samples in, cost lines out, re-runs replace.

The cloud: one m1.small instance (1 vCPU, 2 GiB) and one 10 GiB `ssd` volume, read every hour of
2026-10-14 and 2026-10-15 — either side of the example card's price change on the 15th.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from stackledger.cli import main
from stackledger.pipeline import rate_pending, store_for
from stackledger.settings import Settings
from stackledger.store import tables
from tests.stored_samples import sample_count

DAYS = (dt.date(2026, 10, 14), dt.date(2026, 10, 15))

# Expected lines, by hand, with the example card (the price changes on 2026-10-15):
#   compute.vcpu      24 vCPU-h/day    × 0.0210 (14th) = 0.504000,  × 0.0230 (15th) = 0.552000
#   compute.ram       48 GiB-h/day     × 0.0045        = 0.216000 each day
#   compute.instance  24 instance-h/day × 0 (m1.small has no fee) = 0
#   block.volume ssd  240 GiB-h/day = 0.328767123 GiB-month × 0.12 (14th) = 0.039452054… → 0.039452
#                                                            × 0.10 (15th) = 0.032876712… → 0.032877
EXPECTED = {
    ("2026-10-14", "compute.vcpu"): Decimal("0.504"),
    ("2026-10-15", "compute.vcpu"): Decimal("0.552"),
    ("2026-10-14", "compute.ram"): Decimal("0.216"),
    ("2026-10-15", "compute.ram"): Decimal("0.216"),
    ("2026-10-14", "compute.instance"): Decimal(0),
    ("2026-10-15", "compute.instance"): Decimal(0),
    ("2026-10-14", "block.volume"): Decimal("0.039452"),
    ("2026-10-15", "block.volume"): Decimal("0.032877"),
}
TOTAL = sum(EXPECTED.values(), Decimal(0))  # 1.560329


def sample(n: int, meter: str, unit: str, volume: float, resource: str, at: dt.datetime, **metadata: Any) -> str:
    return json.dumps({
        "message_id": f"{resource}-{meter}-{n}", "meter": meter, "type": "gauge", "unit": unit, "volume": volume,
        "project_id": "p-rate", "user_id": "u1", "resource_id": resource, "timestamp": at.isoformat(),
        "metadata": metadata, "source": "openstack",
    })  # fmt: skip


def write_samples(path: Path) -> Path:
    lines = []
    for day in DAYS:
        for hour in range(24):
            at = dt.datetime.combine(day, dt.time(hour, 30))
            n = int(at.timestamp())
            flavor = {"flavor_name": "m1.small", "vcpus": 1, "memory_mb": 2048}
            lines.append(sample(n, "vcpus", "vcpu", 1, "i-small", at, **flavor))
            lines.append(sample(n, "memory", "MiB", 2048, "i-small", at, **flavor))
            lines.append(sample(n, "volume.size", "GiB", 10, "v-ssd", at, volume_type="ssd"))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def config(settings: Settings, tmp_path: Path) -> str:
    path = tmp_path / "stackledger.yaml"
    path.write_text(f"database:\n  url: {settings.database.url}\n", encoding="utf-8")
    return str(path)


def cost_lines(settings: Settings, book: str | None = None) -> list[tuple[Any, ...]]:
    """Every stored cost line (of one price book), without its id, in a fixed order."""
    c = tables.cost_lines.c
    columns = [col for col in tables.cost_lines.c if col.name != "id"]
    query = select(*columns).order_by(c.price_book, c.charge_period_start, c.resource_id, c.service, c.sku)
    if book is not None:
        query = query.where(c.price_book == book)
    with store_for(settings).engine.connect() as conn:
        return [tuple(row) for row in conn.execute(query).all()]


def test_rate_month_twice_gives_the_same_lines(any_settings: Settings, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    cfg = config(any_settings, tmp_path)
    assert main(["--config", cfg, "ingest", str(write_samples(tmp_path / "samples.jsonl"))]) == 0
    capsys.readouterr()

    assert main(["--config", cfg, "rate", "--month", "2026-10"]) == 0
    first_out = capsys.readouterr().out
    first = cost_lines(any_settings)
    assert main(["--config", cfg, "rate", "--month", "2026-10"]) == 0
    second_out = capsys.readouterr().out

    assert cost_lines(any_settings) == first  # every price book's lines replaced, never added
    assert first_out == second_out
    assert "2026-10: " in first_out and "(internal 8, " in first_out
    assert f"total EUR {TOTAL} (1.56)" in first_out

    c = tables.cost_lines.c
    internal = c.price_book == "internal"
    with store_for(any_settings).engine.connect() as conn:
        rows = conn.execute(select(c.charge_period_start, c.service, c.cost).where(internal)).all()
        got = {(start.date().isoformat(), service): Decimal(str(cost)) for start, service, cost in rows}
        total = conn.execute(select(func.sum(c.cost)).where(internal)).scalar_one()
        skus = set(conn.execute(select(c.sku).where(internal)).scalars())
        as_of = set(conn.execute(select(c.price_as_of).where(internal)).scalars())
    assert Decimal(str(total)).quantize(Decimal("0.000001")) == TOTAL  # the database agrees to the micro-euro
    assert skus == {"internal:compute.vcpu", "internal:compute.ram", "internal:compute.instance",
                    "internal:block.volume:ssd"}  # fmt: skip
    assert as_of == {dt.date(2026, 1, 1), dt.date(2026, 10, 15)}
    assert got == EXPECTED


def test_rate_window_and_pending(any_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = config(any_settings, tmp_path)
    assert main(["--config", cfg, "ingest", str(write_samples(tmp_path / "samples.jsonl"))]) == 0
    assert main(["--config", cfg, "rate", "--start", "2026-10-15T06:00", "--end", "2026-10-15T18:00"]) == 0
    out = capsys.readouterr().out
    # widened to the whole day: the 15th's four lines, from its 24 hours
    assert "2026-10-15T00:00:00/2026-10-16T00:00:00: 96 usage rows" in out and "(internal 4, " in out
    assert main(["--config", cfg, "rate", "--pending"]) == 0
    assert "no days marked for re-rating" in capsys.readouterr().out

    store = store_for(any_settings)
    with store.transaction() as conn:
        conn.execute(tables.rerate_days.insert(), [{"day": DAYS[0], "marked_at": dt.datetime(2026, 11, 1)}])
    results = rate_pending(any_settings)
    assert [r.window.label for r in results] == ["2026-10-14T00:00:00/2026-10-15T00:00:00"]
    # The example card has egress tiers, so a day's re-rating runs on to the end of its month
    # (later days' tier shares depend on it): the 14th and the 15th, 8 internal lines.
    book = results[0].books[0]
    assert (book.price_book, book.cost_lines) == ("internal", 8)
    assert book.days.label == "2026-10-14T00:00:00/2026-11-01T00:00:00"
    assert results[0].totals == {"EUR": TOTAL}
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(tables.rerate_days)).scalar_one() == 0
    assert len(cost_lines(any_settings, "internal")) == 8


def usage_ids(settings: Settings, day: dt.date) -> set[int]:
    """The ids of the day's hourly usage rows: a row written again gets a new id."""
    c = tables.usage.c
    start = dt.datetime.combine(day, dt.time())
    query = select(c.id).where(c.charge_period_start >= start, c.charge_period_start < start + dt.timedelta(days=1))
    with store_for(settings).engine.connect() as conn:
        return set(conn.execute(query).scalars())


def test_a_late_sample_re_rates_only_its_day(any_settings: Settings, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    cfg = config(any_settings, tmp_path)
    assert main(["--config", cfg, "ingest", str(write_samples(tmp_path / "samples.jsonl"))]) == 0
    assert main(["--config", cfg, "rate", "--month", "2026-10"]) == 0
    fourteenth, fifteenth = usage_ids(any_settings, DAYS[0]), usage_ids(any_settings, DAYS[1])
    before = {line for line in cost_lines(any_settings, "internal") if line[0].date() == DAYS[1]}
    capsys.readouterr()

    late = tmp_path / "late.jsonl"  # a second instance, seen once, at 12:30 on the 14th
    at = dt.datetime(2026, 10, 14, 12, 30)
    late.write_text(sample(1, "vcpus", "vcpu", 1, "i-late", at, flavor_name="m1.small", vcpus=1, memory_mb=2048) + "\n",
                    encoding="utf-8")  # fmt: skip
    assert main(["--config", cfg, "ingest", str(late)]) == 0
    assert "already-rated days marked for re-rating: 2026-10-14" in capsys.readouterr().err

    assert main(["--config", cfg, "rate", "--pending"]) == 0
    out = capsys.readouterr().out
    assert "2026-10-14T00:00:00/2026-10-15T00:00:00: " in out and "2026-10-15T00:00:00/" not in out
    assert usage_ids(any_settings, DAYS[1]) == fifteenth  # the 15th's usage was not computed again
    again = usage_ids(any_settings, DAYS[0])
    assert again and not again & fourteenth  # the 14th's was, whole
    with store_for(any_settings).engine.connect() as conn:
        c = tables.usage.c
        late_rows = conn.execute(select(c.service, c.consumed_quantity).where(c.resource_id == "i-late")).all()
        assert conn.execute(select(func.count()).select_from(tables.rerate_days)).scalar_one() == 0
    assert ("compute.vcpu", 1.0) in [(service, round(quantity, 9)) for service, quantity in late_rows]
    lines = cost_lines(any_settings, "internal")
    assert {line for line in lines if line[0].date() == DAYS[1]} == before  # the 15th's lines are the same
    assert any(line[0].date() == DAYS[0] and line[3] == "i-late" for line in lines)


def test_jobs_and_shards_give_the_lines_of_one_process(any_settings: Settings, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    cfg = config(any_settings, tmp_path)
    assert main(["--config", cfg, "ingest", str(write_samples(tmp_path / "samples.jsonl"))]) == 0
    assert main(["--config", cfg, "rate", "--month", "2026-10"]) == 0
    single = cost_lines(any_settings)
    assert main(["--config", cfg, "rate", "--month", "2026-10", "--jobs", "2"]) == 0
    assert cost_lines(any_settings) == single
    with store_for(any_settings).transaction() as conn:
        conn.execute(tables.cost_lines.delete())
    for stage in ("usage", "month"):
        for k in range(3):
            assert main(["--config", cfg, "rate", "--month", "2026-10", "--shard", f"{k}/3", "--stage", stage]) == 0
    assert cost_lines(any_settings) == single
    capsys.readouterr()
    assert main(["--config", cfg, "rate", "--month", "2026-10", "--shard", "3/3", "--stage", "usage"]) == 2
    assert "shard 3 of 3 does not exist" in capsys.readouterr().err
    assert main(["--config", cfg, "rate", "--month", "2026-10", "--shard", "0/3"]) == 2
    assert "--shard needs --stage" in capsys.readouterr().err


def test_retention_drops_rated_days_raw_samples_and_refuses_later_ones(
    any_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from stackledger.pipeline.retention import apply_retention

    cfg = config(any_settings, tmp_path)
    samples = write_samples(tmp_path / "samples.jsonl")
    assert main(["--config", cfg, "ingest", str(samples)]) == 0
    assert main(["--config", cfg, "rate", "--start", "2026-10-14", "--end", "2026-10-15"]) == 0  # the 14th only
    lines = cost_lines(any_settings)
    store = store_for(any_settings)
    before = sample_count(store)

    result = apply_retention(any_settings, now=dt.datetime(2026, 12, 17))  # 62 days after the 16th
    assert set(result.dropped) == {DAYS[0]} and DAYS[1] in result.kept  # the 15th is not rated: kept
    assert sample_count(store) == before // 2
    assert cost_lines(any_settings) == lines  # usage and cost lines are kept
    again = apply_retention(any_settings, now=dt.datetime(2026, 12, 17))
    assert again.dropped == {} and again.kept == result.kept  # a re-run changes nothing

    capsys.readouterr()
    assert main(["--config", cfg, "ingest", str(samples)]) == 0  # the 14th's samples again: refused
    out, err = capsys.readouterr()
    assert out == f"ingested 0, duplicates {before // 2}, rejected {before // 2}\n"
    assert "day 2026-10-14 was rated and its raw samples dropped: not re-rated" in err
    assert sample_count(store) == before // 2 and costs_rerate(any_settings) == []


def costs_rerate(settings: Settings) -> list[dt.date]:
    with store_for(settings).engine.connect() as conn:
        return list(conn.execute(select(tables.rerate_days.c.day)).scalars())


def test_bad_arguments_are_errors(sqlite_settings: Settings, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    cfg = config(sqlite_settings, tmp_path)
    assert main(["--config", cfg, "rate", "--month", "2026-13"]) == 2
    assert "--month" in capsys.readouterr().err
    assert main(["--config", cfg, "rate", "--start", "2026-10-01"]) == 2
    assert "--start needs --end" in capsys.readouterr().err
    bad_card = tmp_path / "card.yaml"
    bad_card.write_text("currency: EUR\nvalid_from: 2026-01-01\nrates: {compute.vcpus: 1}\n", encoding="utf-8")
    Path(cfg).write_text(f"database:\n  url: {sqlite_settings.database.url}\nrate_card: card.yaml\n", encoding="utf-8")
    assert main(["--config", cfg, "rate", "--month", "2026-10"]) == 2
    err = capsys.readouterr().err
    assert "card.yaml" in err and "rates.compute.vcpus" in err and "expected one of" in err


def test_windows_widen_to_whole_days_and_pending_days_group_into_runs() -> None:
    from stackledger.pipeline.rate import pending_windows, whole_days
    from stackledger.window import Window

    at = dt.datetime
    assert whole_days(Window(at(2026, 10, 15, 6), at(2026, 10, 15, 18))) == Window(at(2026, 10, 15), at(2026, 10, 16))
    assert whole_days(Window.month("2026-10")) == Window.month("2026-10")
    days = [dt.date(2026, 10, d) for d in (3, 4, 5, 9)] + [dt.date(2026, 11, 1)]
    assert pending_windows(days) == [Window(at(2026, 10, 3), at(2026, 10, 6)),
                                     Window(at(2026, 10, 9), at(2026, 10, 10)),
                                     Window(at(2026, 11, 1), at(2026, 11, 2))]  # fmt: skip
