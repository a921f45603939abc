"""`stackledger ingest` end to end on SQLite and PostgreSQL: good samples stored, every kind of bad
line dead-lettered once with its reason and line number, re-runs harmless, late data marks re-rating."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from stackledger.cli import main
from stackledger.pipeline import store_for
from stackledger.settings import Settings
from stackledger.store import Store, tables
from stackledger.store.sample_codes import message_key
from tests.stored_samples import sample_count, stored_ids, stored_samples


def counter(
    message_id: str,
    name: str = "vcpus",
    kind: str = "gauge",
    unit: str = "vcpu",
    volume: Any = 2,
    timestamp: str = "2026-10-01T10:00:00.000000+00:00",
    **extra: Any,
) -> dict[str, Any]:
    """A sample as ceilometer/publisher/utils.py::meter_message_from_counter builds it."""
    sample = {
        "source": "openstack",
        "counter_name": name,
        "counter_type": kind,
        "counter_unit": unit,
        "counter_volume": volume,
        "user_id": "u-1",
        "user_name": None,
        "project_id": "p-1",
        "project_name": None,
        "resource_id": "inst-1",
        "timestamp": timestamp,
        "resource_metadata": {"instance_type": "m1.small", "display_name": "web-1"},
        "message_id": message_id,
        "monotonic_time": None,
        "message_signature": "",
    }
    sample.update(extra)
    return sample


def envelope(samples: list[Any], event_type: str = "metering", version: str = "2.0") -> str:
    inner = {
        "message_id": "n-1",
        "publisher_id": "telemetry.publisher.ctl-1",
        "event_type": event_type,
        "priority": "SAMPLE",
        "payload": samples,
        "timestamp": "2026-10-01 10:00:01.028195",
        "_context": {},
    }
    return json.dumps({"oslo.version": version, "oslo.message": json.dumps(inner)})


# line number → (the line, a fragment of the reason it must be dead-lettered with, or None if good)
LINES: list[tuple[str, str | None]] = [
    (json.dumps(counter("good-1")), None),
    (json.dumps(counter("good-2", "memory", unit="MiB", volume=2048, timestamp="2026-10-01 10:00:00")), None),
    ("", None),  # blank: skipped, still counted
    (envelope([counter("good-3"), counter("good-4", "cpu", "cumulative", "ns", 1.5e12)]), None),
    (envelope([counter("good-3")], event_type="metering.vcpus"), None),  # per_meter_topic copy → duplicate
    (
        json.dumps(
            {
                "message_id": "good-5",
                "meter": "volume.size",
                "type": "gauge",
                "unit": "GiB",
                "volume": 10,
                "resource_id": "vol-1",
                "timestamp": "2026-10-01T11:00:00Z",
            }
        ),
        None,
    ),
    (json.dumps(counter("unknown-meter", "hardware.cpu.util", unit="%", volume=12.5)), None),
    ("this is not json", "not valid JSON"),
    ("[1, 2, 3]", "expected a JSON object, got array"),
    (json.dumps(counter(None)), "missing message_id"),  # type: ignore[arg-type]
    (json.dumps(counter("bad-type", kind="counter")), "counter_type 'counter' is not one of"),
    (json.dumps(counter("bad-nan")).replace('"counter_volume": 2', '"counter_volume": NaN'), "not a finite number"),
    (json.dumps(counter("bad-neg", volume=-2)), "negative volume -2 for gauge meter vcpus"),
    (json.dumps(counter("bad-ts", timestamp="01/10/2026 10:00")), "is not ISO 8601"),
    (json.dumps(counter("bad-unit", "memory", unit="B", volume=2**31)), "unit 'B' does not match meter memory"),
    (envelope([counter("bad-version")], version="1.0"), "unsupported oslo.version '1.0'"),
    (json.dumps({"oslo.version": "2.0", "oslo.message": "{truncated"}), "oslo.message is not valid JSON"),
    (envelope([]), "payload is an empty list"),
    (envelope([counter("bad-event")], event_type="compute.instance.exists"), "is not a metering notification"),
    (json.dumps(counter("bad-nul", resource_metadata={"display_name": "web\x00"})), "contains a NUL character"),
    (json.dumps(counter("bad-long", resource_id="r" * 300)), "resource_id longer than 255 characters"),
    (
        envelope([counter("good-6"), counter("bad-in-envelope", volume="two"), counter("good-7")]),
        "counter_volume 'two' is not a number",
    ),
]
GOOD_IDS = {"good-1", "good-2", "good-3", "good-4", "good-5", "good-6", "good-7"}
UNPRICED = 1  # "unknown-meter": counted, not stored
# (location, reason fragment) of every dead letter the file must produce
EXPECTED_DEAD = {  # the last line is an envelope whose 2nd sample alone is bad
    (f"line {n} sample 2" if n == len(LINES) else f"line {n}", fragment)
    for n, (_, fragment) in enumerate(LINES, 1)
    if fragment is not None
}
REJECTED = len(EXPECTED_DEAD)
SAMPLE_LINES = len(GOOD_IDS) + 1  # good-3 arrives twice (per_meter_topic); unknown-meter is not stored


@pytest.fixture
def cli_env(any_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Store:
    """`stackledger` as a user runs it: the database URL from the environment."""
    monkeypatch.delenv("STACKLEDGER_CONFIG", raising=False)
    monkeypatch.setenv("STACKLEDGER__DATABASE__URL", any_settings.database.url)
    return store_for(any_settings)


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def count(store: Store, table: Any) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["ingest", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_good_samples_stored_and_each_bad_line_dead_lettered_once(
    cli_env: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "samples.jsonl", [line for line, _ in LINES])

    code, out, err = run(capsys, str(path))
    assert code == 0, err
    assert out == f"ingested {len(GOOD_IDS)}, duplicates 1, rejected {REJECTED}\n"
    assert f"rejected {path} line 8: not valid JSON" in err
    assert f"rejected {path} line {len(LINES)} sample 2: counter_volume 'two' is not a number" in err
    assert "not stored, meters StackLedger does not price (ingest.keep_meters keeps them): hardware.cpu.util (1)" in err

    samples = stored_samples(cli_env)
    with cli_env.engine.connect() as conn:
        dead = list(conn.execute(select(tables.dead_letters)))
    assert stored_ids(cli_env, GOOD_IDS | {"unknown-meter"}) == GOOD_IDS
    assert samples[message_key("good-2")].timestamp == dt.datetime(2026, 10, 1, 10)
    assert samples[message_key("good-4")].volume == 1.5e12
    assert samples[message_key("good-5")].project_id is None  # no project: "unallocated"
    assert samples[message_key("good-1")].origin == str(path.resolve())

    assert {d.origin for d in dead} == {str(path.resolve())}
    found = {(d.location, d.reason) for d in dead}
    assert len(found) == REJECTED
    for location, fragment in EXPECTED_DEAD:
        assert any(loc == location and fragment in why for loc, why in found), (location, fragment, found)
    by_location = {d.location: d for d in dead}
    assert by_location["line 8"].payload == "this is not json"
    assert json.loads(by_location[f"line {len(LINES)} sample 2"].payload)["message_id"] == "bad-in-envelope"

    # The same file again: nothing new stored, everything reported as a duplicate or rejected again.
    code, out, _ = run(capsys, str(path))
    assert code == 0
    assert out == f"ingested 0, duplicates {SAMPLE_LINES}, rejected {REJECTED}\n"
    assert sample_count(cli_env) == len(GOOD_IDS)
    assert count(cli_env, tables.dead_letters) == REJECTED


def test_small_batches_and_gzip_give_the_same_result(
    cli_env: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STACKLEDGER__INGEST__BATCH_SIZE", "2")
    path = tmp_path / "samples.jsonl.gz"
    path.write_bytes(gzip.compress("\n".join(line for line, _ in LINES).encode()))
    code, out, _ = run(capsys, str(path))
    assert (code, out) == (0, f"ingested {len(GOOD_IDS)}, duplicates 1, rejected {REJECTED}\n")
    assert sample_count(cli_env) == len(GOOD_IDS)
    assert count(cli_env, tables.dead_letters) == REJECTED


def test_stdin(cli_env: Store, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    data = "\n".join([json.dumps(counter("s-1")), json.dumps(counter("s-2")), "oops"]) + "\n"
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data.encode())))
    code, out, err = run(capsys, "-")
    assert (code, out) == (0, "ingested 2, duplicates 0, rejected 1\n")
    assert "rejected <stdin> line 3: not valid JSON" in err
    with cli_env.engine.connect() as conn:
        assert conn.execute(select(tables.dead_letters.c.origin, tables.dead_letters.c.location)).all() == [
            ("<stdin>", "line 3")
        ]


def test_strict_fails_on_any_rejection_but_still_stores_the_good_samples(
    cli_env: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clean = write(tmp_path / "clean.jsonl", [json.dumps(counter("c-1"))])
    dirty = write(tmp_path / "dirty.jsonl", [json.dumps(counter("d-1")), "{"])
    assert run(capsys, "--strict", str(clean))[0] == 0
    code, out, _ = run(capsys, str(dirty), "--strict")
    assert (code, out) == (1, "ingested 1, duplicates 0, rejected 1\n")
    assert sample_count(cli_env) == 2


def test_missing_files(cli_env: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.jsonl"
    code, out, err = run(capsys, str(missing))
    assert code == 2
    assert out == "ingested 0, duplicates 0, rejected 0\n"
    assert f"stackledger: error: {missing}: cannot open: No such file or directory" in err

    good = write(tmp_path / "good.jsonl", [json.dumps(counter("g-1"))])
    code, out, err = run(capsys, str(missing), str(good))
    assert (code, out) == (0, "ingested 1, duplicates 0, rejected 0\n")  # something was read
    assert f"{missing}: cannot open" in err
    assert run(capsys, "--strict", str(missing), str(good))[0] == 1


def _rate(store: Store, day: dt.date) -> None:
    """Simulate `stackledger rate` having priced a day: one cost line."""
    start = dt.datetime.combine(day, dt.time())
    with store.transaction() as conn:
        conn.execute(
            tables.cost_lines.insert(),
            {
                "charge_period_start": start,
                "charge_period_end": start + dt.timedelta(days=1),
                "project_id": "p-1",
                "resource_id": "inst-1",
                "resource_type": "instance",
                "service": "compute.vcpu",
                "flavor_name": "m1.small",
                "consumed_quantity": 48.0,
                "consumed_unit": "vCPU-hour",
                "price_book": "internal",
                "sku": "compute.vcpu",
                "list_unit_price": 0.01,
                "pricing_quantity": 48,
                "pricing_unit": "vCPU-hour",
                "cost": 0.48,
                "currency": "EUR",
            },
        )


def rerate_days(store: Store) -> list[dt.date]:
    with store.engine.connect() as conn:
        return list(conn.execute(select(tables.rerate_days.c.day).order_by(tables.rerate_days.c.day)).scalars())


def test_late_sample_for_a_rated_day_marks_it_for_rerating(
    cli_env: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = write(tmp_path / "first.jsonl", [json.dumps(counter("early", timestamp="2026-10-01T09:00:00Z"))])
    assert run(capsys, str(first))[0] == 0
    _rate(cli_env, dt.date(2026, 10, 1))
    _rate(cli_env, dt.date(2026, 10, 4))

    late = write(
        tmp_path / "late.jsonl",
        [
            json.dumps(counter("early", timestamp="2026-10-01T09:00:00Z")),  # duplicate: marks nothing
            json.dumps(counter("late", timestamp="2026-10-01T23:30:00Z")),  # rated day → marked
            json.dumps(counter("unrated", timestamp="2026-10-02T08:00:00Z")),  # day not rated → not marked
            # A late counter reading changes the next reading's delta, which may fall on the next day.
            json.dumps(counter("late-counter", "cpu", "cumulative", "ns", 9e11, timestamp="2026-10-03T23:55:00Z")),
        ],
    )
    code, out, err = run(capsys, str(late))
    assert (code, out) == (0, "ingested 3, duplicates 1, rejected 0\n")
    assert "already-rated days marked for re-rating: 2026-10-01, 2026-10-04" in err
    assert rerate_days(cli_env) == [dt.date(2026, 10, 1), dt.date(2026, 10, 4)]

    assert run(capsys, str(late))[0] == 0  # re-running marks nothing new and fails on nothing
    assert rerate_days(cli_env) == [dt.date(2026, 10, 1), dt.date(2026, 10, 4)]


REFUSE = {
    "sqlite": [
        "CREATE TRIGGER refuse_batch BEFORE INSERT ON sample_batches WHEN NEW.locations = 'lines 11-20' "
        "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION refuse_batch() RETURNS trigger AS $$ BEGIN IF NEW.locations = 'lines 11-20' THEN "
        "RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER refuse_batch BEFORE INSERT ON sample_batches FOR EACH ROW EXECUTE FUNCTION refuse_batch()",
    ],
}
ALLOW = {"sqlite": ["DROP TRIGGER refuse_batch"], "postgresql": ["DROP TRIGGER refuse_batch ON sample_batches"]}


def test_a_batch_the_store_refuses_is_rolled_back_and_a_rerun_completes_the_file(
    cli_env: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STACKLEDGER__INGEST__BATCH_SIZE", "10")
    ids = [f"batch-{n}" for n in range(35)]
    stamps = [f"2026-10-01T{n // 6:02d}:{n % 6 * 10:02d}:00Z" for n in range(35)]
    path = write(
        tmp_path / "batches.jsonl", [json.dumps(counter(i, timestamp=t)) for i, t in zip(ids, stamps, strict=True)]
    )
    with cli_env.engine.begin() as conn:  # the database refuses the second batch (lines 11-20)
        for statement in REFUSE[cli_env.dialect]:
            conn.execute(text(statement))

    code, out, err = run(capsys, str(path))
    assert code == 3
    assert out == "ingested 10, duplicates 0, rejected 0\n"
    assert f"{path} lines 11-20 not stored (rolled back" in err and "refused by the test" in err
    assert stored_ids(cli_env, ids) == set(ids[:10])  # the first batch only: the second rolled back whole

    with cli_env.engine.begin() as conn:
        for statement in ALLOW[cli_env.dialect]:
            conn.execute(text(statement))
    code, out, _ = run(capsys, str(path))
    assert (code, out) == (0, "ingested 25, duplicates 10, rejected 0\n")
    assert stored_ids(cli_env, ids) == set(ids) and sample_count(cli_env) == 35  # nothing doubled


def test_a_message_id_reused_with_other_content_is_a_conflict_naming_both_files(
    cli_env: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = write(tmp_path / "first.jsonl", [json.dumps(counter("same-id", volume=2))])
    second = write(tmp_path / "second.jsonl", [json.dumps(counter("other")), json.dumps(counter("same-id", volume=4))])
    assert run(capsys, str(first))[:2] == (0, "ingested 1, duplicates 0, rejected 0\n")
    code, out, err = run(capsys, str(second))
    assert (code, out) == (0, "ingested 1, duplicates 0, rejected 1\n")
    assert f"rejected {second} line 2: message_id 'same-id' was stored before with other content" in err
    with cli_env.engine.connect() as conn:
        [letter] = conn.execute(select(tables.dead_letters)).all()
    assert letter.origin == str(second.resolve()) and letter.location == "line 2"
    assert f"from {first.resolve()} lines 1-1, received " in letter.reason
    assert stored_samples(cli_env)[message_key("same-id")].volume == 2.0
    assert run(capsys, str(first))[:2] == (0, "ingested 0, duplicates 1, rejected 0\n")  # identical: a duplicate
