"""File ingest: the demo's synthetic month as JSON lines → `ingest_paths` → SQLite and, when
STACKLEDGER_BENCH_PG_URL names an empty, migrated database, PostgreSQL. Prints samples/s for each store."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from benchmarks.common import emit, peak_rss_mib, timed
from stackledger.collectors import synthetic
from stackledger.pipeline.demo import write_messages
from stackledger.pipeline.ingest import ingest_paths
from stackledger.settings import load_settings


def _ingest(url: str, path: Path, store: str) -> None:
    settings = load_settings(None, {"STACKLEDGER__DATABASE__URL": url})
    with timed() as timer:
        result = ingest_paths(settings, [str(path)])
    emit("ingest", f"{store}_samples_per_s", result.ingested / timer.seconds, "samples/s",
         samples=result.ingested, seconds=round(timer.seconds, 2))  # fmt: skip


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "samples.jsonl"
        messages = write_messages([synthetic.generate_cloud("2026-10")], path)
        emit("ingest", "input_lines", messages, "lines", bytes=path.stat().st_size)
        _ingest(f"sqlite:///{Path(tmp) / 'bench.db'}", path, "sqlite")
        pg = os.environ.get("STACKLEDGER_BENCH_PG_URL")
        if pg:
            _ingest(pg, path, "postgres")
    emit("ingest", "peak_rss", peak_rss_mib(), "MiB")


if __name__ == "__main__":
    main()
