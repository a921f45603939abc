"""The plausible range is read at the caller's "now": the demo ingests a generated future month."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from stackledger.pipeline.ingest import ingest_paths
from stackledger.settings import Settings


def test_now_moves_the_range(sqlite_settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "future.jsonl"
    sample = {"message_id": "f-1", "counter_name": "vcpus", "counter_type": "gauge", "counter_unit": "vcpu",
              "counter_volume": 1, "resource_id": "r", "timestamp": "2031-03-01T00:00:00Z"}  # fmt: skip
    path.write_text(json.dumps(sample) + "\n", encoding="utf-8")
    today = ingest_paths(sqlite_settings, [str(path)])
    assert (today.ingested, today.rejected) == (0, 1)
    assert "outside the plausible range 2000-01-01 to now + 24 h" in str(today.examples[0])
    then = ingest_paths(sqlite_settings, [str(path)], now=dt.datetime(2031, 3, 31))
    assert (then.ingested, then.rejected) == (1, 0)
