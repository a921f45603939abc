"""`stackledger ingest --jobs N` on PostgreSQL: worker processes sharing a file's blocks store
exactly what one process stores (samples, revisions, dead letters, counts, the rejections shown),
a refused batch stops them and a re-run completes the file, a damaged file is reported once."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text

from stackledger.pipeline import ingest_jobs, store_for
from stackledger.settings import Settings
from stackledger.store import Store, tables
from tests.e2e.test_ingest_cli import ALLOW, REFUSE, counter, envelope, run
from tests.stored_samples import sample_count, stored_ids, stored_samples

FLAVORS = ("m1.small", "m1.large")


def sample(n: int) -> dict[str, Any]:
    """The n-th of a day of samples of 12 resources, each resized once at noon."""
    resource = f"inst-{n % 12}"
    flavor = FLAVORS[n // 12 >= 72]
    stamp = f"2026-10-01T{n // 12 // 6:02d}:{n // 12 % 6 * 10:02d}:00Z"
    metadata = {"instance_type": flavor, "display_name": f"vm {resource}", "flavor": {"name": flavor}}
    return counter(f"m-{n}", resource_id=resource, timestamp=stamp, project_id=f"p-{n % 3}",
                   resource_metadata=metadata, volume=1 + n % 4)  # fmt: skip


def day_of_lines() -> list[str]:
    """1,728 samples as raw samples and notifications, with bad lines and repeats among them."""
    lines = []
    for n in range(0, 1728, 4):
        if n % 96 == 0:  # a notification of four samples
            lines.append(envelope([sample(n + k) for k in range(4)]))
        else:
            lines.extend(json.dumps(sample(n + k)) for k in range(4))
        if n % 200 == 0:
            lines.append("{not json")
            lines.append(json.dumps(counter(f"old-{n}", timestamp="1970-01-01T00:00:00Z")))
        if n % 300 == 0:
            lines.append(json.dumps(sample(n)))  # an identical repeat: a duplicate
    return lines


def snapshot(store: Store) -> dict[str, Any]:
    """What is stored, by names (codes depend on the order writers met the names)."""
    revisions, resources = tables.resource_revisions, tables.sample_resources
    query = select(resources.c.resource_id, *[c for c in revisions.c if c.name != "resource"]).join(
        resources, resources.c.code == revisions.c.resource
    )
    letters = tables.dead_letters
    with store.engine.connect() as conn:
        stored_revisions = sorted(tuple(row) for row in conn.execute(query))
        stored_letters = sorted(tuple(row) for row in conn.execute(select(letters.c.location, letters.c.reason)))
    samples = {
        key: (s.meter, s.resource_id, s.project_id, s.timestamp, s.volume) for key, s in stored_samples(store).items()
    }
    return {"samples": samples, "revisions": stored_revisions, "dead_letters": stored_letters}


def empty(store: Store) -> None:
    engine = create_engine(store.url)
    with engine.begin() as conn:
        conn.execute(
            text(f"TRUNCATE {', '.join(t.name for t in tables.metadata.sorted_tables)} RESTART IDENTITY CASCADE")
        )
    engine.dispose()


@pytest.fixture
def pg_cli(pg_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.delenv("STACKLEDGER_CONFIG", raising=False)
    monkeypatch.setenv("STACKLEDGER__DATABASE__URL", pg_settings.database.url)
    monkeypatch.setattr(ingest_jobs, "JOB_BYTES", 20_000)  # ~30 lines a block: many blocks (forked workers see it)
    return store_for(pg_settings)


def test_three_workers_store_exactly_what_one_process_stores(
    pg_cli: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STACKLEDGER__INGEST__BATCH_SIZE", "50")  # several batches in a block too
    path = tmp_path / "day.jsonl.gz"
    path.write_bytes(gzip.compress("".join(line + "\n" for line in day_of_lines()).encode()))

    shared_out = ingest_jobs.Workers.ingest
    files_shared: list[str] = []

    def recorded(self: ingest_jobs.Workers, source: Any, *args: Any) -> Any:
        files_shared.append(f"{source.name} by {self.jobs}")
        return shared_out(self, source, *args)

    monkeypatch.setattr(ingest_jobs.Workers, "ingest", recorded)
    alone = run(capsys, str(path), "--jobs", "1")
    by_one = snapshot(pg_cli)
    empty(pg_cli)
    shared = run(capsys, str(path), "--jobs", "3")
    by_three = snapshot(pg_cli)
    assert files_shared == [f"{path} by 3"]  # workers read it, not the command alone

    assert alone[:2] == (0, "ingested 1728, duplicates 6, rejected 18\n")
    assert shared == alone  # the same counts, and the same first rejections, in file order
    assert len(by_one["samples"]) == 1728 and len(by_one["dead_letters"]) == 18
    assert by_three == by_one
    flavors = [row[3] for row in by_one["revisions"] if row[0] == "inst-5"]  # (resource, valid_from) order
    assert flavors == ["m1.small", "m1.large"]  # the resize at noon is a second revision

    assert run(capsys, str(path), "--jobs", "3")[:2] == (0, "ingested 0, duplicates 1734, rejected 18\n")
    assert snapshot(pg_cli) == by_one  # re-running changes nothing


def test_a_refused_batch_stops_the_workers_and_a_rerun_completes_the_file(
    pg_cli: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STACKLEDGER__INGEST__BATCH_SIZE", "10")
    ids = [f"batch-{n}" for n in range(400)]
    lines = [
        json.dumps(counter(i, timestamp=f"2026-10-01T{n // 60 % 24:02d}:{n % 60:02d}:00Z")) for n, i in enumerate(ids)
    ]
    path = tmp_path / "batches.jsonl"
    path.write_text("".join(line + "\n" for line in lines))
    with pg_cli.engine.begin() as conn:  # the database refuses the batch of lines 11-20 (block 0)
        for statement in REFUSE["postgresql"]:
            conn.execute(text(statement))

    code, out, err = run(capsys, str(path), "--jobs", "2")
    assert code == 3
    assert f"{path} lines 11-20 not stored (rolled back" in err and "refused by the test" in err
    stored = stored_ids(pg_cli, ids)
    assert not stored & set(ids[10:20]) and set(ids[:10]) <= stored
    assert out == f"ingested {len(stored)}, duplicates 0, rejected 0\n"

    with pg_cli.engine.begin() as conn:
        for statement in ALLOW["postgresql"]:
            conn.execute(text(statement))
    code, out, _ = run(capsys, str(path), "--jobs", "2")
    assert (code, out) == (0, f"ingested {400 - len(stored)}, duplicates {len(stored)}, rejected 0\n")
    assert stored_ids(pg_cli, ids) == set(ids) and sample_count(pg_cli) == 400  # nothing doubled


def test_a_truncated_file_is_reported_once_after_storing_what_came_before(
    pg_cli: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [json.dumps(sample(n)) for n in range(1728)]
    data = gzip.compress("".join(line + "\n" for line in lines).encode())
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) * 2 // 3])

    code, out, err = run(capsys, str(path), "--jobs", "2")
    by_two = snapshot(pg_cli)
    empty(pg_cli)
    assert run(capsys, str(path), "--jobs", "1") == (code, out, err)
    assert snapshot(pg_cli) == by_two
    assert err.count("cannot read after line") == 1 and "Compressed file ended" in err
    last = int(err.split("cannot read after line ")[1].split(":")[0])
    assert out == f"ingested {last}, duplicates 0, rejected 0\n" and last > 100
