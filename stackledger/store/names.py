"""Names people read, by id: what alarm output prints beside the ids it stores."""

from __future__ import annotations

from sqlalchemy import select

from stackledger.store import Store, tables


def project_names(store: Store) -> dict[str, str]:
    """Project id -> its name (projects without a name are left out)."""
    p = tables.projects.c
    with store.engine.connect() as conn:
        rows = conn.execute(select(p.project_id, p.name).where(p.name.is_not(None))).all()
    return {str(project_id): str(name) for project_id, name in rows}
