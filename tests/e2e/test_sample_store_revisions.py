"""The revisions a batch writes (`sample_store._revise`): moving the `seen_to` of resources a
batch only confirms (`split_timely`) stores exactly the `resource_revisions` that building every
touched resource's revisions from all of them stored before (the old path), on SQLite and
PostgreSQL, for batches in time order, late ones, changes, first values and re-deliveries."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest
from sqlalchemy import delete, select

from stackledger.collectors.samples import parse_message
from stackledger.pipeline import sample_store, store_for
from stackledger.pipeline.sample_store import SampleWriter, write_records
from stackledger.settings import Settings
from stackledger.store import Connection, Store, tables
from stackledger.store.revisions import lock_resources, read_revisions, write_changes
from stackledger.transforms.usage.revisions import Statements, build_revisions
from tests.e2e.test_ingest_cli import counter


def old_revise(conn: Connection, rows: dict[str, np.ndarray], mask: np.ndarray, said: np.ndarray,
               table: dict[str, np.ndarray]) -> None:  # fmt: skip
    """The path before `split_timely`: every touched resource's revisions through the builder."""
    if not mask.any():
        return
    resources = rows["resource"][mask].astype(np.int64)
    statements = Statements(resources, rows["ts"][mask].astype(np.int64), said[mask], table)
    lock_resources(conn, resources)
    changes = build_revisions(read_revisions(conn, np.unique(resources)), statements)
    if not changes.empty:
        write_changes(conn, changes.upserts, changes.deletes)


def sample(n: int, resource: int, minute: int, **metadata: Any) -> dict[str, Any]:
    stamp = f"2026-10-{1 + minute // 1440:02d}T{minute % 1440 // 60:02d}:{minute % 60:02d}:00Z"
    name, unit = ("vcpus", "vcpu") if resource < 6 else ("volume.size", "GiB")
    raw = counter(f"m-{n}", name=name, unit=unit, resource_id=f"r-{resource}", timestamp=stamp,
                  project_id=f"p-{resource % 2}", resource_metadata=metadata, volume=1 + resource % 3)  # fmt: skip
    return parse_message(raw, "test")[0]


def batches() -> list[list[dict[str, Any]]]:
    """Ten-minute polls of 6 instances and 3 volumes over two days, in batches of two hours, and
    among them: resizes, a status first stated late, late polls (agreeing and not), re-deliveries."""
    rng = random.Random(14)
    polls = []
    n = 0
    for minute in range(0, 2 * 1440, 10):
        for resource in range(9):
            if resource < 6:
                flavor = "m1.large" if resource == 2 and minute >= 900 else "m1.small"
                metadata: dict[str, Any] = {"flavor": {"name": flavor, "vcpus": 1 + (flavor == "m1.large")}}
                if resource == 3 and minute >= 1500:
                    metadata["status"] = "active"  # first stated on day two: fills the revisions before
                if resource == 4 and 600 <= minute < 700:
                    metadata["status"] = "shutoff"
            else:
                metadata = {"volume_type": "ssd" if resource != 8 or minute < 2000 else "hdd"}
            polls.append(sample(n, resource, minute, **metadata))
            n += 1
    groups = [polls[i : i + 108] for i in range(0, len(polls), 108)]
    late = [sample(n + k, 2, 300 + k, flavor={"name": "m1.tiny"}) for k in range(3)]  # an island, after the fact
    agreeing = [sample(n + 10 + k, 0, 200 + 7 * k, flavor={"name": "m1.small"}) for k in range(3)]
    return [*groups[:10], late, *groups[10:20], agreeing, rng.sample(polls, 40), *groups[20:]]


def revisions_stored(store: Store) -> list[tuple[Any, ...]]:
    revisions = tables.resource_revisions
    with store.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(select(revisions).order_by(revisions.c.resource,
                                                                               revisions.c.valid_from))]  # fmt: skip


def forget_samples(store: Store) -> None:
    """Drop the stored samples and revisions, keeping the dictionaries: the codes stay the same."""
    with store.transaction() as conn:
        for table in (tables.resource_revisions, tables.sample_rows, tables.sample_batches, tables.dead_letters):
            conn.execute(delete(table))


def test_moving_seen_to_stores_the_revisions_the_builder_stored(any_settings: Settings,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    store = store_for(any_settings)
    delivered = batches()
    with monkeypatch.context() as patch:
        patch.setattr(sample_store, "_revise", old_revise)
        writer = SampleWriter(store)
        for number, group in enumerate(delivered):
            write_records(writer, group, f"batch {number}")
    old = revisions_stored(store)
    forget_samples(store)
    writer = SampleWriter(store)
    for number, group in enumerate(delivered):
        write_records(writer, group, f"batch {number}")
    new = revisions_stored(store)
    assert new == old
    by_resource: dict[int, list[tuple[Any, ...]]] = {}
    for revision in new:
        by_resource.setdefault(revision[0], []).append(revision)
    assert max(len(rows) for rows in by_resource.values()) >= 3  # resizes and islands were written
    assert len(by_resource) == 9
