"""Tests' view of the compact sample store: samples written from parsed rows, and read back with
their codes turned into names (meter, resource id, project id, the batch's origin)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from stackledger.pipeline.sample_store import SampleWriter, Written, write_records
from stackledger.store import Store, tables
from stackledger.store.sample_codes import message_key


@dataclass(frozen=True)
class StoredSample:
    meter: str
    resource_id: str
    project_id: str | None
    timestamp: dt.datetime
    volume: float
    origin: str  # the origin of the batch that stored it


def store_records(store: Store, records: Iterable[Mapping[str, Any]], origin: str = "test",
                  keep_meters: Iterable[str] = ()) -> Written:  # fmt: skip
    """Parsed sample rows (`parse_message`'s dicts) stored as one ingest batch of `origin`."""
    return write_records(SampleWriter(store, keep_meters), records, origin)


def stored_samples(store: Store) -> dict[uuid.UUID, StoredSample]:
    """Every stored sample by its message key (`message_key(message_id)`)."""
    rows, meters = tables.sample_rows, tables.sample_meters
    resources, projects, batches = tables.sample_resources, tables.sample_projects, tables.sample_batches
    query = (
        select(
            rows.c.message,
            meters.c.name,
            resources.c.resource_id,
            projects.c.project_id,
            rows.c.ts,
            rows.c.volume,
            batches.c.origin,
        )
        .join(meters, meters.c.code == rows.c.meter)
        .join(resources, resources.c.code == rows.c.resource)
        .outerjoin(projects, projects.c.code == rows.c.project)
        .join(batches, batches.c.code == rows.c.batch)
    )
    with store.engine.connect() as conn:
        return {message: StoredSample(*rest) for message, *rest in conn.execute(query)}


def stored_ids(store: Store, message_ids: Iterable[str]) -> set[str]:
    """Which of `message_ids` are stored."""
    keys = stored_samples(store)
    return {message_id for message_id in message_ids if message_key(message_id) in keys}


def sample_count(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(tables.sample_rows)).scalar_one())
