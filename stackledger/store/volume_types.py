"""Cinder's volume types (`volume_types`): id -> name, as the Cinder collector listed them.

Usage carries a volume's type by name, or only by id when the samples said only the id (Cinder's
notifications); rating resolves ids through these before matching volume type prices. A type
Cinder no longer lists keeps its row: older usage may still name it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from sqlalchemy import Connection, select

from stackledger.store import Store, tables
from stackledger.store.frames import reading


def save_volume_types(store: Store, conn: Connection, types: Mapping[str, str], *, now: dt.datetime) -> int:
    """Store `types` (id -> name): a known id takes the name listed now; returns the rows written."""
    if not types:
        return 0
    table = tables.volume_types
    rows = [{"type_id": type_id, "name": name, "collected_at": now} for type_id, name in sorted(types.items())]
    return store.replace(conn, table, table.c.type_id.in_(sorted(types)), rows)


def volume_type_names(target: Store | Connection) -> dict[str, str]:
    """Every stored volume type id -> its name."""
    table = tables.volume_types
    with reading(target) as conn:
        return {str(type_id): str(name) for type_id, name in conn.execute(select(table.c.type_id, table.c.name))}


__all__ = ["save_volume_types", "volume_type_names"]
