"""Inventory: projects (`projects`, Keystone's view) and resource revisions (`resources`).

Resources are keyed by (resource_id, valid_from, source): each source keeps its own revisions of a
resource. Writes take plain rows (`stackledger.pipeline.inventory` validates and converts frames
first) inside the caller's transaction; wrap them in `store.refused.as_store_error("resources")` so a
constraint the database still refuses is a `StoreError`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from sqlalchemy import Connection, and_, func, or_, select, tuple_

from stackledger.schema import RESOURCE_COLUMNS
from stackledger.store import Store, tables
from stackledger.store.bulk import chunks
from stackledger.store.frames import read_frame, reading
from stackledger.window import Window

Revisions = dict[str, list[dict[str, Any]]]  # resource_id -> its stored rows


# ------------------------------------------------------------------ writes


def upsert_projects(store: Store, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
    """Write project rows, replacing stored rows with the same project_id; returns the rows written."""
    table = tables.projects
    for chunk in chunks([row["project_id"] for row in rows]):
        conn.execute(table.delete().where(table.c.project_id.in_(chunk)))
    return store.insert(conn, table, rows)


def replace_resources(
    store: Store, conn: Connection, source: str, rows: Sequence[Mapping[str, Any]], *, partial: bool = False
) -> int:
    """Write resource rows of `source`, first deleting every row `source` holds for those resource
    ids — or (`partial`) only its rows of the same revisions, (resource_id, valid_from)."""
    table = tables.resources
    if partial:
        keys = sorted({(row["resource_id"], row["valid_from"]) for row in rows})
        revision = tuple_(table.c.resource_id, table.c.valid_from)
        for chunk in chunks(keys):
            conn.execute(table.delete().where(table.c.source == source, revision.in_(chunk)))
    else:
        for chunk in chunks(sorted({row["resource_id"] for row in rows})):
            conn.execute(table.delete().where(and_(table.c.source == source, table.c.resource_id.in_(chunk))))
    return store.insert(conn, table, rows)


# ------------------------------------------------------------------ reads


def revisions_of(target: Store | Connection, ids: Sequence[str], *, source: str | None = None) -> Revisions:
    """Every stored revision of `ids` (RESOURCE_COLUMNS and `source`), of one source or all."""
    table = tables.resources
    columns = [*(table.c[name] for name in RESOURCE_COLUMNS), table.c.source]
    found: Revisions = {}
    with reading(target) as conn:
        for chunk in chunks(sorted(set(ids))):
            query = select(*columns).where(table.c.resource_id.in_(chunk))
            if source is not None:
                query = query.where(table.c.source == source)
            for row in conn.execute(query).mappings():
                found.setdefault(row["resource_id"], []).append(dict(row))
    return found


def resources_alive(target: Store | Connection, window: Window, *, ended_since: Any) -> pd.DataFrame:
    """Every revision (RESOURCE_COLUMNS and `source`) of the resources whose lifetime — earliest
    started_at, latest ended_at, over all their revisions — starts before the window ends and has
    not ended by `ended_since` (a time at or before the window's start)."""
    resources = tables.resources
    started, ended = func.min(resources.c.started_at), func.max(resources.c.ended_at)
    alive = (
        select(resources.c.resource_id)
        .group_by(resources.c.resource_id)
        .having(or_(started.is_(None), started < window.end), or_(ended.is_(None), ended > ended_since))
    )
    columns = [resources.c[name] for name in RESOURCE_COLUMNS]
    query = select(*columns, resources.c.source).where(resources.c.resource_id.in_(alive))
    with reading(target) as conn:
        return read_frame(conn, query)


def known_project_ids(target: Store | Connection) -> list[str]:
    """Every project id the store knows: Keystone's projects and the resources' owners, sorted."""
    projects, resources = tables.projects.c.project_id, tables.resources.c.project_id
    with reading(target) as conn:
        known = set(conn.execute(select(projects)).scalars())
        known |= set(conn.execute(select(resources).where(resources.is_not(None)).distinct()).scalars())
    return sorted(known)


def project_names(target: Store | Connection) -> dict[str, str]:
    """project_id -> name, for the projects that have one."""
    projects = tables.projects
    with reading(target) as conn:
        rows = conn.execute(select(projects.c.project_id, projects.c.name)).all()
    return {str(project_id): str(name) for project_id, name in rows if name}


def resource_names(target: Store | Connection, ids: Sequence[str]) -> dict[str, str]:
    """resource_id -> a name any revision of it has, for `ids` that have one."""
    resources = tables.resources
    names: dict[str, str] = {}
    with reading(target) as conn:
        for chunk in chunks(sorted({str(i) for i in ids})):
            query = select(resources.c.resource_id, resources.c.name).where(resources.c.resource_id.in_(chunk))
            names.update({str(rid): str(name) for rid, name in conn.execute(query).all() if name})
    return names


__all__ = [
    "Revisions", "known_project_ids", "project_names", "replace_resources", "resource_names", "resources_alive",
    "revisions_of", "upsert_projects",
]  # fmt: skip
