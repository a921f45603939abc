"""The storage half shared by file ingest and the Kafka consumer, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from stackledger.collectors.samples import parse_message
from stackledger.errors import InputError
from stackledger.pipeline import ingest_paths, store_for
from stackledger.pipeline.sample_store import dead_letter
from stackledger.settings import Settings
from stackledger.store import tables
from stackledger.store.sample_codes import message_key
from stackledger.store.samples import write_dead_letters
from tests.stored_samples import store_records, stored_ids, stored_samples


def row(message_id: str, **extra: Any) -> dict[str, Any]:
    sample = {
        "message_id": message_id,
        "counter_name": "volume.size",
        "counter_type": "gauge",
        "counter_unit": "GiB",
        "counter_volume": 0.1 + 0.2,
        "resource_id": "vol-1",
        "project_id": "p-1",
        "user_id": None,
        "timestamp": "2026-10-01T10:00:00.123456Z",
        "source": "openstack",
        "resource_metadata": {"display_name": "données ☁", "tags": ["a", {"b": None}], "size": 10**20},
    }
    sample.update(extra)
    return parse_message(sample, "test")[0]


def test_samples_are_stored_once_with_their_values_exactly(any_settings: Settings) -> None:
    store = store_for(any_settings)
    tricky = 'quote " backslash \\ tab \t'
    first = store_records(store, [row("m-1"), row("m-2"), row("m-1"), row(tricky)])  # m-1 twice in one batch
    assert (first.inserted, first.duplicates, first.refused) == (3, 1, [])
    again = store_records(store, [row("m-2"), row("m-3")])
    assert (again.inserted, again.duplicates) == (1, 1)
    assert store_records(store, []).inserted == 0

    assert stored_ids(store, ["m-1", "m-2", "m-3", tricky, "m-4"]) == {"m-1", "m-2", "m-3", tricky}
    sample = stored_samples(store)[message_key("m-1")]
    assert sample.volume == 0.1 + 0.2  # a float, exactly
    assert sample.timestamp == dt.datetime(2026, 10, 1, 10, 0, 0, 123456)
    assert (sample.meter, sample.resource_id, sample.project_id, sample.origin) == ("volume.size", "vol-1", "p-1",
                                                                                     "test")  # fmt: skip
    assert message_key("M-1") != message_key("m-1")  # not a UUID: hashed as spelled


def test_a_reused_message_id_is_a_conflict_naming_both_sources(any_settings: Settings) -> None:
    store = store_for(any_settings)
    store_records(store, [row("m-1")], origin="/data/first.jsonl")
    written = store_records(store, [row("m-1", counter_volume=7.0), row("m-2")], origin="/data/second.jsonl")
    assert (written.inserted, written.duplicates) == (1, 0)
    [letter] = written.refused
    assert letter.origin == "/data/second.jsonl" and letter.location == "record 1"
    assert "/data/first.jsonl records 1-1" in letter.reason
    assert stored_samples(store)[message_key("m-1")].volume == 0.1 + 0.2  # the first one stays
    repeat = store_records(store, [row("m-1")], origin="/data/third.jsonl")  # identical: a plain duplicate
    assert (repeat.inserted, repeat.duplicates, repeat.refused) == (0, 1, [])
    with store.engine.connect() as conn:
        [dead] = conn.execute(select(tables.dead_letters)).all()
    assert dead.reason == letter.reason


def test_samples_of_unrated_meters_are_counted_not_stored_unless_kept(any_settings: Settings) -> None:
    store = store_for(any_settings)
    odd = {"counter_name": "disk.device.read.bytes", "counter_type": "cumulative", "counter_unit": "B"}
    written = store_records(store, [row("d-1", **odd), row("d-2", **odd), row("v-1")])
    assert (written.inserted, dict(written.unrated)) == (1, {"disk.device.read.bytes": 2})
    kept = store_records(store, [row("d-1", **odd)], keep_meters=["disk.device.read.bytes"])
    assert (kept.inserted, dict(kept.unrated)) == (1, {})
    assert stored_ids(store, ["d-1", "d-2", "v-1"]) == {"d-1", "v-1"}


def test_dead_letters_are_stored_once_and_keep_what_is_needed_to_replay(any_settings: Settings) -> None:
    store = store_for(any_settings)
    errors: list[InputError] = []
    raw = json.dumps(
        {
            "oslo.version": "2.0",
            "oslo.message": json.dumps(
                {
                    "event_type": "metering",
                    "priority": "SAMPLE",
                    "payload": [{"message_id": "x", "counter_name": "memory"}],
                }
            ),
        }
    )
    parse_message(raw, "kafka metering.sample partition 0 offset 7", rejects=errors)
    letters = [
        dead_letter("metering.sample", "partition 0 offset 7", errors[0], raw.encode()),
        dead_letter("/data/s.jsonl", "line 3", InputError("not valid JSON"), b"\x00\xff" + b"x" * 40_000),
    ]
    now = dt.datetime(2026, 10, 2)
    with store.transaction() as conn:
        assert write_dead_letters(conn, letters + letters, now=now) == 2
    with store.transaction() as conn:
        assert write_dead_letters(conn, letters, now=now) == 0
    with store.engine.connect() as conn:
        by_location = {d.location: d for d in conn.execute(select(tables.dead_letters))}
    sample_letter = by_location["partition 0 offset 7 sample 1"]
    assert sample_letter.origin == "metering.sample"
    assert sample_letter.reason == "missing counter_type"
    assert json.loads(sample_letter.payload) == {"message_id": "x", "counter_name": "memory"}
    binary = by_location["line 3"]
    assert binary.payload.startswith("\\u0000\ufffd") and "[truncated, 40007 characters in all]" in binary.payload


def test_progress_bar_draws_on_stderr_and_clears_itself(
    any_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "many.jsonl"
    lines = [json.dumps(row_source(i)) for i in range(3000)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = ingest_paths(any_settings, [str(path)], progress=True)
    assert (result.read, result.ingested, result.rejected) == (3000, 3000, 0)
    drawn = capsys.readouterr().err.split("\r\x1b[K")  # each redraw starts by clearing the line
    assert any(f"{path} [#" in part and "% 1,024 lines" in part for part in drawn)
    assert "[#" not in drawn[-1]  # the bar is wiped once the file is done


def row_source(i: int) -> dict[str, Any]:
    return {
        "message_id": f"p-{i}",
        "meter": "vcpus",
        "type": "gauge",
        "unit": "vcpu",
        "volume": 1,
        "resource_id": "inst-1",
        "timestamp": "2026-10-01T10:00:00",
    }
