"""The storage half shared by file ingest and the Kafka consumer, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from stackledger.collectors.samples import parse_message
from stackledger.errors import InputError
from stackledger.pipeline import ingest_paths, store_for
from stackledger.pipeline.sample_store import dead_letter, store_dead_letters, store_sample_stream, store_samples
from stackledger.settings import Settings
from stackledger.store import Store, tables


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


def stored(store: Store) -> dict[str, Any]:
    with store.engine.connect() as conn:
        return {r.message_id: r for r in conn.execute(select(tables.samples))}


def test_store_samples_counts_and_round_trips_exactly(any_settings: Settings) -> None:
    store = store_for(any_settings)
    tricky = 'quote " backslash \\ tab \t'
    rows = [row("m-1"), row("m-2"), row("m-1"), row(tricky)]  # m-1 twice within one batch
    with store.transaction() as conn:
        assert store_samples(store, conn, rows) == (3, 1)
    with store.transaction() as conn:
        assert store_samples(store, conn, [row("m-2"), row("m-3")]) == (1, 1)
    with store.transaction() as conn:
        assert store_samples(store, conn, []) == (0, 0)

    samples = stored(store)
    assert set(samples) == {"m-1", "m-2", "m-3", tricky}
    first = samples["m-1"]
    assert first.volume == 0.1 + 0.2  # a float, exactly
    assert first.timestamp == dt.datetime(2026, 10, 1, 10, 0, 0, 123456)
    assert first.metadata == {"display_name": "données ☁", "tags": ["a", {"b": None}], "size": 10**20}
    assert first.user_id is None and first.source == "openstack"
    assert first.ingested_at is not None


def test_sample_stream_skips_stored_and_repeated_ids(any_settings: Settings) -> None:
    """The Kafka consumer's way in: rows made as they are written. When some are stored already
    (a batch read again), PostgreSQL's COPY fails and the rows are made again and stored with ON
    CONFLICT: counts, rows and re-rating marks are what `store_samples` gives."""
    store = store_for(any_settings)
    with store.transaction() as conn:
        assert store_samples(store, conn, [row("m-1")]) == (1, 0)
    calls = 0

    def rows() -> Iterator[dict[str, Any]]:
        nonlocal calls
        calls += 1
        yield from (row("m-2"), row("m-1"), row("m-3"), row("m-2"))

    with store.transaction() as conn:
        assert store_sample_stream(store, conn, rows) == (2, 2)
    assert calls == (2 if store.dialect == "postgresql" else 1)
    with store.transaction() as conn:
        assert store_sample_stream(store, conn, lambda: iter([row("m-4"), row("m-4")])) == (1, 1)
    assert set(stored(store)) == {"m-1", "m-2", "m-3", "m-4"}
    assert stored(store)["m-4"].metadata == {"display_name": "données ☁", "tags": ["a", {"b": None}], "size": 10**20}


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
    with store.transaction() as conn:
        assert store_dead_letters(store, conn, letters + letters) == 2
    with store.transaction() as conn:
        assert store_dead_letters(store, conn, letters) == 0
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
